"""The agent plugin API.

An agent reads one bar's features and the current regime and says what it would like to
hold: an `Intent`. Writing one takes a few lines::

    from engine.agents import Agent, register_agent

    @register_agent("rsi_fade")
    class RsiFade(Agent):
        def __init__(self, low: float = 30.0, high: float = 70.0) -> None:
            self.low, self.high = low, high

        def on_bar(self, row, regime):
            if row.rsi < self.low:
                return self.long(1.0, 0.7, f"RSI {row.rsi:.0f} < {self.low:.0f}")
            if row.rsi > self.high:
                return self.short(1.0, 0.7, f"RSI {row.rsi:.0f} > {self.high:.0f}")
            return None  # no opinion

Agents are called on every bar in order, so they may keep their own streaming state.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from engine.features.frame import FeatureRow
from engine.regime.regime import Regime


@dataclass(frozen=True, slots=True)
class Intent:
    """What one agent wants: +1 long, -1 short, 0 flat; strength and confidence in [0, 1]."""

    agent: str
    direction: int
    strength: float
    confidence: float
    reason: str

    @property
    def signal(self) -> float:
        """Signed desired exposure as a share of the maximum position."""
        return self.direction * self.strength


class Agent(ABC):
    """Base class for agents. Subclasses implement `on_bar`; `name` is set on registration."""

    name: ClassVar[str] = "agent"

    @abstractmethod
    def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
        """Return an intent, or None when the agent has no opinion on this bar."""

    def long(self, strength: float, confidence: float, reason: str) -> Intent:
        return Intent(self.name, 1, _unit(strength), _unit(confidence), reason)

    def short(self, strength: float, confidence: float, reason: str) -> Intent:
        return Intent(self.name, -1, _unit(strength), _unit(confidence), reason)

    def flat(self, confidence: float, reason: str) -> Intent:
        return Intent(self.name, 0, 0.0, _unit(confidence), reason)


def _unit(x: float) -> float:
    # NaN compares False both ways, so it ends up 0.0: a warm-up feature never sizes a trade.
    return 1.0 if x > 1.0 else x if x > 0.0 else 0.0
