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

A backtest asks for a whole series at once through `columns`, which by default feeds every
row to `on_bar`. A plugin may override `columns` with array code for speed; it must then
return exactly what `on_bar` would, bit for bit (the built-ins show how, using
`IntentColumns.build` and `check_regimes`). An agent whose intents never depend on the
regime sets `reads_regime = False`; a backtest may then skip the regime engine (`regimes=False`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from engine.features.frame import FeatureFrame, FeatureRow
from engine.regime.regime import Regime

_REGIME_BY_CODE: dict[int, Regime] = {int(r): r for r in Regime}


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


@dataclass(frozen=True)
class IntentColumns:
    """An agent's intents over a whole series, one element per bar."""

    spoke: np.ndarray       # bool: on_bar returned an Intent on this bar
    direction: np.ndarray   # int8 -1/0/+1 (0 where it did not speak)
    strength: np.ndarray    # float64 (0.0 where it did not speak)
    confidence: np.ndarray  # float64 (0.0 where it did not speak)

    def __post_init__(self) -> None:
        expected = {"spoke": np.bool_, "direction": np.int8, "strength": np.float64, "confidence": np.float64}
        for name, dtype in expected.items():
            column = getattr(self, name)
            if not (isinstance(column, np.ndarray) and column.ndim == 1 and column.dtype == dtype):
                got = f"{column.dtype} shape {column.shape}" if isinstance(column, np.ndarray) else type(column).__name__
                raise ValueError(f"IntentColumns.{name} is {got}; expected a 1-D {np.dtype(dtype)} array")
        if len({len(self.spoke), len(self.direction), len(self.strength), len(self.confidence)}) > 1:
            raise ValueError(f"IntentColumns columns differ in length: spoke {len(self.spoke)}, direction "
                             f"{len(self.direction)}, strength {len(self.strength)}, confidence {len(self.confidence)}")

    @classmethod
    def build(cls, spoke: np.ndarray, direction: np.ndarray, strength: np.ndarray | float,
              confidence: np.ndarray | float) -> IntentColumns:
        """Columns from what `Agent.long/short/flat` would be given on each bar.

        `direction` must already follow on_bar's branch order; strength and confidence are the
        unclipped arguments, clipped here as `long`/`short`/`flat` clip them (a flat intent has
        strength 0.0). Values on bars where the agent does not speak are ignored.
        """
        spoke = np.asarray(spoke, dtype=np.bool_)
        direction = np.where(spoke, direction, 0).astype(np.int8)
        return cls(spoke, direction,
                   np.where(direction != 0, unit_array(strength), 0.0),
                   np.where(spoke, unit_array(confidence), 0.0))


class Agent(ABC):
    """Base class for agents. Subclasses implement `on_bar`; `name` is set on registration."""

    name: ClassVar[str] = "agent"
    reads_regime: ClassVar[bool] = True  # False only if on_bar never looks at its regime argument

    @abstractmethod
    def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
        """Return an intent, or None when the agent has no opinion on this bar."""

    def long(self, strength: float, confidence: float, reason: str) -> Intent:
        return Intent(self.name, 1, _unit(strength), _unit(confidence), reason)

    def short(self, strength: float, confidence: float, reason: str) -> Intent:
        return Intent(self.name, -1, _unit(strength), _unit(confidence), reason)

    def flat(self, confidence: float, reason: str) -> Intent:
        return Intent(self.name, 0, 0.0, _unit(confidence), reason)

    def columns(self, frame: FeatureFrame, regimes: np.ndarray) -> IntentColumns:
        """What `on_bar` returns on every bar of `frame`, for an agent never fed a bar before.

        `regimes` holds the Regime code of each bar. This default really calls `on_bar` row by
        row, so it moves the agent's streaming state on: call it on a fresh agent (or a copy).
        """
        codes = check_regimes(frame, regimes)
        bars: list[int] = []
        direction: list[int] = []
        strength: list[float] = []
        confidence: list[float] = []
        for i, (row, regime) in enumerate(zip(frame.rows(), map(_REGIME_BY_CODE.__getitem__, codes.tolist()))):
            intent = self.on_bar(row, regime)
            if intent is not None:
                bars.append(i)
                direction.append(intent.direction)
                strength.append(intent.strength)
                confidence.append(intent.confidence)
        return IntentColumns(_scatter(bars, True, len(codes), np.bool_), _scatter(bars, direction, len(codes), np.int8),
                             _scatter(bars, strength, len(codes), np.float64),
                             _scatter(bars, confidence, len(codes), np.float64))


def _scatter(at: list[int], values: list[float] | list[int] | bool, n: int, dtype: type) -> np.ndarray:
    out = np.zeros(n, dtype=dtype)
    out[np.array(at, dtype=np.intp)] = values
    return out


def _unit(x: float) -> float:
    # NaN compares False both ways, so it ends up 0.0: a warm-up feature never sizes a trade.
    return 1.0 if x > 1.0 else x if x > 0.0 else 0.0


def unit_array(x: np.ndarray | float) -> np.ndarray:
    """`_unit` of every element, with the same comparisons (so NaN and -0.0 become 0.0)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 1.0, 1.0, np.where(x > 0.0, x, 0.0))


def check_regimes(frame: FeatureFrame, regimes: np.ndarray) -> np.ndarray:
    """`regimes` as int8 Regime codes, one per bar of `frame`; a clear error otherwise."""
    codes = np.asarray(regimes)
    if codes.ndim != 1 or len(codes) != len(frame):
        raise ValueError(f"regimes has shape {codes.shape}; expected one code per bar ({len(frame)},)")
    if len(codes) and not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"regimes has dtype {codes.dtype}; expected integer Regime codes")
    bad = ~np.isin(codes, list(_REGIME_BY_CODE))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"regimes[{i}] = {codes[i]!r}; expected a Regime code in {sorted(_REGIME_BY_CODE)}")
    return codes.astype(np.int8, copy=False)
