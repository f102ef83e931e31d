"""The risk manager's answers: its trading state, what it approved, and why it acted."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class TradingState(str, Enum):
    """How much the risk manager lets the position move.

    ACTIVE: any target within the limits. REDUCING: only toward zero, never past it.
    HALTED: nothing; the approved target is the current position (orders may only be cancelled).
    """

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@dataclass(frozen=True, slots=True)
class RiskAction:
    """One rule that changed the target on this bar, and why in plain words and numbers.

    The reason is kept as a `str.format` template and its values and only written out when
    read: a rule may act on every bar of a long backtest, where nobody reads most reasons.
    Without values the template is the reason verbatim (braces and all).
    """

    rule: str
    template: str
    values: tuple[object, ...] = ()

    @property
    def reason(self) -> str:
        return self.template.format(*self.values) if self.values else self.template


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """`approved` is the signed target position in shares the broker may work toward."""

    approved: float
    state: TradingState
    actions: tuple[RiskAction, ...]


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """A change worth logging: a state change, a limit hit or released, a kill or re-arm.

    `ts` is the time (ns UTC) of the bar last seen by `on_bar` when it happened.
    """

    rule: str
    what: str
    reason: str
    ts: int
