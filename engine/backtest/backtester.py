"""Backtester: drives the Engine over a bar series, with progress and cancellation.

The only shortcuts it takes are computing the features and regime scores of the whole
series at once (vectorised) and handing each precomputed row and regime state to
`Engine.advance`, the same method `Engine.step` uses; tests prove the two give identical
decisions.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.agents.base import Agent
from engine.backtest.stats import Stats, TradeStats, breakdown, compute_stats
from engine.config import Settings
from engine.data.bar import BarSeries
from engine.engine import BARS_PER_YEAR, Engine
from engine.features.pipeline import compute_features
from engine.observability.events import EventLogger
from engine.portfolio.trades import Trade

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BacktestResult:
    symbol: str
    ts: np.ndarray               # int64 ns UTC per bar stepped
    close: np.ndarray
    equity: np.ndarray
    drawdown: np.ndarray
    position: np.ndarray
    regime: np.ndarray           # int8 Regime code per bar
    trades: tuple[Trade, ...]
    stats: Stats
    by_regime: dict[str, TradeStats]
    by_agent: dict[str, TradeStats]
    weights: dict[str, dict[str, float]]    # final: regime -> agent -> weight
    fitness: dict[str, dict[str, float]]    # final: agent -> regime -> fitness
    events: int
    seconds: float
    cancelled: bool = False
    settings: Settings = field(default_factory=Settings, repr=False)

    @property
    def bars(self) -> int:
        return len(self.ts)


class Backtester:
    def __init__(self, settings: Settings, *, agents: Sequence[Agent] | None = None,
                 events: EventLogger | None = None, bars_per_year: float = BARS_PER_YEAR) -> None:
        self.settings = settings
        self.agents = agents
        self.events = events
        self.bars_per_year = bars_per_year

    def run(self, series: BarSeries, *, progress: Progress | None = None,
            cancel: threading.Event | None = None, progress_every: int = 10_000) -> BacktestResult:
        started = time.perf_counter()
        n = len(series)
        engine = Engine(self.settings, symbol=series.symbol, agents=self.agents,
                        events=self.events or EventLogger(keep=1_000), bars_per_year=self.bars_per_year)
        frame = compute_features(series, self.settings)
        equity = np.empty(n)
        drawdown = np.empty(n)
        position = np.empty(n)
        regime = np.empty(n, dtype=np.int8)
        trades: list[Trade] = []
        turnover = 0.0
        events = 0
        done = 0
        cancelled = False
        for i, bar, row, state in zip(range(n), series, frame.rows(), engine.regime.replay(frame)):
            if cancel is not None and i % 256 == 0 and cancel.is_set():
                cancelled = True
                break
            r = engine.advance(bar, row, state)
            equity[i] = r.equity
            drawdown[i] = r.drawdown
            position[i] = r.position
            regime[i] = r.regime.regime
            if r.trades:
                trades.extend(r.trades)
            for f in r.fills:
                turnover += f.qty * f.price
            events += len(engine.events.drain())
            done = i + 1
            if progress is not None and done % progress_every == 0:
                progress(done, n)
        if progress is not None:
            progress(done, n)
        sl = slice(0, done)
        stats = compute_stats(
            equity[sl], series.ts[sl], trades, exposure=position[sl] != 0.0, turnover=turnover,
            fees=engine.portfolio.fees, periods_per_year=self.bars_per_year,
        )
        return BacktestResult(
            series.symbol, series.ts[sl].copy(), series.close[sl].copy(), equity[sl], drawdown[sl],
            position[sl], regime[sl], tuple(trades), stats, breakdown(trades, "regime"),
            breakdown(trades, "agent"), engine.adaptor.table(), engine.rewards.table(), events,
            time.perf_counter() - started, cancelled, self.settings,
        )
