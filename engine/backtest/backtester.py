"""Backtester: runs the FutBot pipeline over a bar series, with progress and cancellation.

Two ways to the same numbers. The fast path (`engine.backtest.fast`) computes features,
regimes and agent intents for the whole series at once and runs the rest of
`Engine.advance` in a compiled loop. Stepping hands each precomputed feature row and regime
state to `Engine.advance`, the method `Engine.step` uses. Tests prove both make the decisions
`Engine.step` makes bar by bar. Stepping is used when the run keeps an event log (the fast
path only counts events) and whenever the fast path meets a bar it cannot judge exactly,
so an error is always the engine's own.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.agents.base import Agent
from engine.agents.registry import create_agents
from engine.backtest.fast import regime_free_problems, run_fast
from engine.backtest.stats import Stats, TradeStats, breakdown, compute_stats
from engine.config import Settings
from engine.data.bar import BarSeries
from engine.data.synthetic import generate_bars
from engine.engine import BARS_PER_YEAR, Engine
from engine.features.frame import FeatureFrame
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
    regimes: bool = True         # False: the regime engine was skipped (no labels, regime -1)

    @property
    def bars(self) -> int:
        return len(self.ts)


_prepared = threading.Event()


def prepare() -> None:
    """Load the compiled loop now, or compile it (about 10 s, once after install, then cached
    by numba), so the first backtest a trader starts does not wait for it: a one-day run.
    Safe from any thread, any number of times."""
    if _prepared.is_set():
        return
    settings = Settings()
    Backtester(settings).run(generate_bars(settings.data.symbol, days=1, seed=1))
    _prepared.set()


class Backtester:
    def __init__(self, settings: Settings, *, agents: Sequence[Agent] | None = None,
                 events: EventLogger | None = None, bars_per_year: float = BARS_PER_YEAR,
                 fast: bool = True, regimes: bool = True) -> None:
        """`fast=False` always steps the engine. `regimes=False` skips the regime engine, for
        runs whose decisions do not read the regime (`sma_cross` with fixed weights and equal
        regime caps): the same trades, without regime labels, several times faster."""
        if not regimes and not (fast and events is None):
            raise ValueError("regimes=False runs only on the fast path: no event log, fast=True")
        self.settings = settings
        self.agents = agents
        self.events = events
        self.bars_per_year = bars_per_year
        self.fast = fast and events is None
        self.regimes = regimes

    def run(self, series: BarSeries, *, progress: Progress | None = None,
            cancel: threading.Event | None = None, progress_every: int = 10_000) -> BacktestResult:
        started = time.perf_counter()
        frame = compute_features(series, self.settings)
        if self.fast:
            agents = self.agents if self.agents is not None else create_agents(
                self.settings.agents.enabled, self.settings.agents.params)
            problems = [] if self.regimes else regime_free_problems(self.settings, agents)
            if problems:
                raise ValueError("a backtest without regimes needs decisions that do not depend on the "
                                 "regime, but " + "; ".join(problems))
            run = run_fast(series, frame, self.settings, agents, self.bars_per_year, progress=progress,
                           cancel=cancel, progress_every=progress_every, regimes=self.regimes)
            if run is not None:
                return self._result(series, run.done, run.equity, run.drawdown, run.position, run.regime,
                                    list(run.trades), run.turnover, run.fees, run.weights, run.fitness,
                                    run.events, started, run.cancelled, progress)
        return self._step(series, frame, started, progress, cancel, progress_every)

    def _step(self, series: BarSeries, frame: FeatureFrame, started: float, progress: Progress | None,
              cancel: threading.Event | None, progress_every: int) -> BacktestResult:
        n = len(series)
        engine = Engine(self.settings, symbol=series.symbol, agents=self.agents,
                        events=self.events or EventLogger(keep=1_000), bars_per_year=self.bars_per_year)
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
        return self._result(series, done, equity[:done], drawdown[:done], position[:done], regime[:done],
                            trades, turnover, engine.portfolio.fees, engine.adaptor.table(),
                            engine.rewards.table(), events, started, cancelled, progress)

    def _result(self, series: BarSeries, done: int, equity: np.ndarray, drawdown: np.ndarray,
                position: np.ndarray, regime: np.ndarray, trades: list[Trade], turnover: float, fees: float,
                weights: dict[str, dict[str, float]], fitness: dict[str, dict[str, float]], events: int,
                started: float, cancelled: bool, progress: Progress | None = None) -> BacktestResult:
        if progress is not None:
            progress(done, len(series))
        stats = compute_stats(
            equity, series.ts[:done], trades, exposure=position != 0.0, turnover=turnover,
            fees=fees, periods_per_year=self.bars_per_year,
        )
        return BacktestResult(
            series.symbol, series.ts[:done].copy(), series.close[:done].copy(), equity, drawdown,
            position, regime, tuple(trades), stats, breakdown(trades, "regime") if self.regimes else {},
            breakdown(trades, "agent"), weights, fitness, events,
            time.perf_counter() - started, cancelled, self.settings, self.regimes,
        )
