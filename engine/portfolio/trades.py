"""A closed trade: the part of a position that one fill reduced, closed or flipped away."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PositionSide(StrEnum):
    LONG = "long"
    SHORT = "short"


@dataclass(frozen=True, slots=True)
class Trade:
    """`pnl` is net of `fees`: the entry commission share of the closed shares plus the exit's.

    Slippage is already in `entry_price` (the position's average fill price) and `exit_price`.
    `agent` and `regime` are those of the fill that opened the position; `bars_held` counts the
    portfolio's marks of the symbol between the opening fill and this exit.
    """

    symbol: str
    side: PositionSide
    qty: float
    entry_ts: int
    entry_price: float
    exit_ts: int
    exit_price: float
    pnl: float
    fees: float
    agent: str
    regime: str
    bars_held: int

    @property
    def entry_notional(self) -> float:
        return self.qty * self.entry_price

    @property
    def return_pct(self) -> float:
        """Net pnl as a fraction of the entry notional."""
        return self.pnl / self.entry_notional
