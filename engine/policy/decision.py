"""The meta-policy's answer for one bar."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class NoTrade(str, Enum):
    """Why a bar ended without changing the position."""

    LOW_CONFIDENCE = "low_confidence"
    CONFLICT = "conflict"
    RISK = "risk"
    HALTED = "halted"
    BELOW_THRESHOLD = "below_threshold"


@dataclass(frozen=True, slots=True)
class Decision:
    """`target` is the wanted exposure in [-1, 1] as a share of the maximum position.

    When `hold` is true the policy keeps the current position and `no_trade` says why.
    `lead` is the agent that contributed most to the target's direction; `shares` are the
    agents' shares of that push, used later to attribute the trade's result.
    """

    target: float
    confidence: float
    hold: bool
    no_trade: NoTrade | None
    reason: str
    lead: str
    shares: tuple[tuple[str, float], ...]
