"""What the engine thread sends to the GUI: frozen values, never engine objects.

The EngineWorker turns engine step results into one `SnapshotBatch` at most ~30 times a
second. Bar-aligned data travels as numpy columns (one row per bar in the batch); the rest is
the latest state. Widgets append the columns to their ring buffers and redraw.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class TradeMark:
    ts: int                 # ns UTC
    price: float
    side: str               # "buy" | "sell"
    kind: str               # "entry" | "exit"
    pnl: float              # realised pnl for exits, 0.0 for entries
    agent: str


@dataclass(frozen=True, slots=True)
class GapZone:
    kind: str               # "bullish" | "bearish"
    top: float
    bottom: float
    start_ts: int           # ns UTC of the bar that completed the gap
    state: str              # "open" | "partially_filled"


@dataclass(frozen=True, slots=True)
class EventRow:
    ts: int
    type: str               # e.g. regime_flip, risk_event, order, fill, kill_switch, weight_change
    text: str
    rule: str = ""          # for risk events: the rule (daily_loss_limit, circuit_breaker, ...)
    what: str = ""          # ... and what happened (hit, tripped, halted, killed, ...)


@dataclass(frozen=True, slots=True)
class Status:
    mode: str               # "replay" | "paper live" | "ibkr"
    broker: str             # "paper" | "ibkr"
    connected: bool
    trading_state: str      # "ACTIVE" | "REDUCING" | "HALTED"
    equity: float
    cash: float
    day_pnl: float          # money
    day_pnl_pct: float      # fraction
    drawdown: float         # fraction <= 0
    ts: int                 # ns UTC of the last bar
    symbol: str
    running: bool
    speed: float            # bars per second; 0 means as fast as possible
    stream: str = ""        # which bar stream this is ("replay/QQQ"); a new one starts fresh charts


@dataclass(frozen=True)
class SnapshotBatch:
    # One row per bar stepped since the previous batch.
    ts: np.ndarray          # int64 ns UTC
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    regime: np.ndarray      # int8 Regime code
    equity: np.ndarray
    drawdown: np.ndarray    # fraction <= 0
    # Latest state.
    status: Status
    trades: tuple[TradeMark, ...] = ()                       # new marks in this batch
    gaps: tuple[GapZone, ...] = ()                           # all currently open gaps
    weights: dict[str, float] = field(default_factory=dict)  # agent -> weight in the current regime
    fitness: dict[str, dict[str, float]] = field(default_factory=dict)  # agent -> regime -> fitness
    regime_share: dict[str, float] = field(default_factory=dict)        # regime -> share of bars so far
    regime_pnl: dict[str, float] = field(default_factory=dict)          # regime -> realised pnl so far
    positions: tuple[tuple[str, float, float, float], ...] = ()         # symbol, qty, avg price, unrealised
    orders: tuple[tuple[str, str, str, float, str], ...] = ()           # id, side, type, qty, status
    fills: tuple[tuple[int, str, str, float, float, float], ...] = ()   # new: ts, symbol, side, qty, price, fee
    events: tuple[EventRow, ...] = ()                                   # new events in this batch
    soft_drawdown: float = 0.10
    hard_drawdown: float = 0.15

    def __len__(self) -> int:
        return len(self.ts)
