"""What the backtest dialog runs, and running it off the GUI thread.

A `RunRequest` is everything one run needs: the data source, the date range, the settings
the form built, and the series when the form already loaded it (`open_source`: synthetic data
and files are loaded while the form validates them; a cached symbol only has its coverage
read there, and its bars of the range are read by the run).
`BacktestRunner` runs one request at a time in a plain Python thread; progress and the
outcome reach the GUI by Qt signals, which are queued because the runner lives in the GUI
thread. Cancel sets the event the Backtester checks every 256 bars.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from PySide6.QtCore import QObject, Signal

from app import theme
from engine.backtest.setup import backtest_settings
from engine.backtest.backtester import Backtester, BacktestResult
from engine.config import Settings
from engine.data.bar import BarSeries
from engine.data.cache import BarCache
from engine.data.files import load_bars
from engine.data.synthetic import generate_bars

log = logging.getLogger(__name__)

PROGRESS_EVERY = 256          # bars between progress callbacks (the cancel check's rhythm too)
PROGRESS_INTERVAL = 0.05      # seconds between progress signals: ~20 a second at most
MIN_BARS = 2                  # returns, and so the stats, need two bars
MINUTE_NS = 60 * 10**9


@dataclass(frozen=True, slots=True)
class SyntheticSource:
    symbol: str
    days: int
    seed: int

    def describe(self) -> str:
        return f"{self.symbol} {self.days}d seed {self.seed}"


@dataclass(frozen=True, slots=True)
class FileSource:
    path: Path
    symbol: str | None = None     # selects rows of a multi-symbol file

    def describe(self) -> str:
        return self.path.name if self.symbol is None else f"{self.symbol} {self.path.name}"


@dataclass(frozen=True, slots=True)
class CacheSource:
    path: Path
    symbol: str
    timeframe: str = "1min"

    def describe(self) -> str:
        return f"{self.symbol} {self.timeframe} cache"


DataSource = SyntheticSource | FileSource | CacheSource


@dataclass(frozen=True, slots=True)
class RunOptions:
    """The form's choices that change the settings of one run."""

    agents: tuple[str, ...]
    risk_off: bool = False
    adaptation_off: bool = False
    cash: float = 100_000.0
    commission_per_share: float = 0.005
    slippage_bps: float = 1.0
    fill: str = "next_open"


@dataclass(frozen=True)
class RunRequest:
    label: str
    source: DataSource
    settings: Settings
    start_ns: int | None = None       # first bar kept: ts >= start_ns
    end_ns: int | None = None         # bars kept: ts < end_ns
    series: BarSeries | None = None   # loaded already (synthetic, file); None: read the cache


@dataclass(frozen=True, slots=True)
class RunProgress:
    done: int
    total: int
    seconds_left: float | None        # None until the rate is known


@dataclass(frozen=True)
class RunOutcome:
    request: RunRequest
    status: Literal["finished", "cancelled", "failed"]
    message: str                      # plain words for the dialog's status line
    result: BacktestResult | None = None


def build_settings(base: Settings, options: RunOptions) -> Settings:
    """`base` with the form's choices applied, validated by the same rules as a YAML file."""
    if not options.agents:
        raise ValueError("agents = (): tick at least one agent to run")
    return backtest_settings(
        base, agents=options.agents, adaptation=not options.adaptation_off, risk=not options.risk_off,
        cash=float(options.cash), commission_per_share=float(options.commission_per_share),
        slippage_bps=float(options.slippage_bps), fill=options.fill,
    )


def run_label(source: DataSource, options: RunOptions, config_name: str | None = None) -> str:
    """A short name for the runs list, e.g. "QQQ 20d seed 7 · trend,fvg · risk off"."""
    parts = [source.describe(), ",".join(options.agents)]
    if config_name:
        parts.append(config_name)
    if options.risk_off:
        parts.append("risk off")
    if options.adaptation_off:
        parts.append("no adapt")
    return " · ".join(parts)


def select_range(series: BarSeries, start_ns: int | None, end_ns: int | None) -> BarSeries:
    """The bars with start_ns <= ts < end_ns (either bound may be None)."""
    lo = 0 if start_ns is None else int(np.searchsorted(series.ts, start_ns, side="left"))
    hi = len(series) if end_ns is None else int(np.searchsorted(series.ts, end_ns, side="left"))
    return series.slice(lo, max(lo, hi))


def load_synthetic(source: SyntheticSource) -> BarSeries:
    return generate_bars(source.symbol, days=source.days, seed=source.seed)


@dataclass(frozen=True, slots=True)
class Span:
    """Where the data lies: the first bar's start and the last bar's end, on whole minutes."""

    start_ns: int
    end_ns: int
    bars: int


def span_of(first_ts: int, last_ts: int, bar_ns: int, bars: int) -> Span:
    start = first_ts // MINUTE_NS * MINUTE_NS
    end = -(-(last_ts + bar_ns) // MINUTE_NS) * MINUTE_NS
    return Span(start, end, bars)


def bar_spacing(ts: np.ndarray) -> int:
    """The bar size: the smallest step between bars (a minute when there is no step)."""
    steps = np.diff(ts)
    steps = steps[steps > 0]
    return int(steps.min()) if len(steps) else MINUTE_NS


def format_et_minute(ns: int) -> str:
    """'2024-01-02 09:30 ET'."""
    return theme.exchange_time(ns).strftime("%Y-%m-%d %H:%M") + f" {theme.EXCHANGE_TZ_LABEL}"


@dataclass(frozen=True)
class OpenedSource:
    """What the form learns from a chosen source, before any run."""

    span: Span
    series: BarSeries | None      # None for the cache: each run reads its range
    note: str                     # one line for the form
    details: str = ""             # the file's validation report


def open_source(source: DataSource, tz: str) -> OpenedSource:
    """Load synthetic bars or a file, or read a cached symbol's coverage. Errors are the loader's."""
    note = ""
    details = ""
    if isinstance(source, CacheSource):
        if not source.path.is_file():
            raise ValueError(f"{source.path}: no such cache file")
        with BarCache(source.path, tz=tz) as cache:
            coverage = cache.coverage(source.symbol, source.timeframe)
        if coverage is None:
            raise ValueError(f"{source.path}: no {source.timeframe} bars for {source.symbol!r}")
        span = span_of(coverage.first_ts, coverage.last_ts, int(pd.Timedelta(source.timeframe).value),
                       coverage.count)
        series = None
    else:
        if isinstance(source, SyntheticSource):
            series = load_synthetic(source)
        else:
            series, report = load_bars(source.path, symbol=source.symbol, tz=tz)
            note = f"{report.rows_in:,} rows read, {report.dropped:,} dropped"
            if report.hole_count:
                note += f", {report.missing_bars:,} bars missing in {report.hole_count:,} holes"
            details = report.summary()
        if len(series) == 0:
            raise ValueError(f"{source.describe()}: no bars left to backtest")
        span = span_of(int(series.ts[0]), int(series.ts[-1]), bar_spacing(series.ts), len(series))
    head = f"{span.bars:,} bars, {format_et_minute(span.start_ns)} → {format_et_minute(span.end_ns)}"
    return OpenedSource(span, series, f"{head} · {note}" if note else head, details)


def range_problem(span: Span, ts: np.ndarray | None, start_ns: int, end_ns: int) -> str:
    """Why [start, end) cannot be backtested on this data ('' when it can); `ts` counts the bars."""
    start, end = format_et_minute(start_ns), format_et_minute(end_ns)
    if start_ns >= end_ns:
        return f"from {start} must be before to {end}"
    if start_ns < span.start_ns:
        return f"from {start} is before the first bar ({format_et_minute(span.start_ns)})"
    if end_ns > span.end_ns:
        return f"to {end} is after the end of the data ({format_et_minute(span.end_ns)})"
    if ts is not None:
        inside = int(np.searchsorted(ts, end_ns) - np.searchsorted(ts, start_ns))
        if inside < MIN_BARS:
            return f"{inside} bar(s) between {start} and {end}; a backtest needs at least {MIN_BARS}"
    return ""


def series_for(request: RunRequest) -> BarSeries:
    """The bars to backtest: the form's series cut to the range, or the cache's bars of the range."""
    source = request.source
    if request.series is None and isinstance(source, CacheSource):
        with BarCache(source.path, tz=request.settings.data.timezone) as cache:
            series = cache.load(source.symbol, request.start_ns, request.end_ns, source.timeframe)
    else:
        loaded = request.series
        if loaded is None:
            loaded = open_source(source, request.settings.data.timezone).series
            assert loaded is not None   # open_source loads every source but the cache
        series = select_range(loaded, request.start_ns, request.end_ns)
    if len(series) < MIN_BARS:
        raise ValueError(f"{source.describe()}: {len(series)} bar(s) in the chosen range; "
                         f"a backtest needs at least {MIN_BARS}")
    return series


def seconds_left(first_time: float, first_done: int, now: float, done: int, total: int) -> float | None:
    """Time left at the rate measured since the first report (feature set-up excluded)."""
    if done <= first_done or now <= first_time:
        return None
    return (now - first_time) / (done - first_done) * (total - done)


def _plain_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: {text}"


class BacktestRunner(QObject):
    """Runs one backtest at a time in a worker thread; `cancel()` stops it within ~256 bars."""

    progressed = Signal(object)   # RunProgress
    finished = Signal(object)     # RunOutcome
    _done = Signal(object)        # worker -> GUI thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._done.connect(self._on_done)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, request: RunRequest) -> None:
        if self._thread is not None:
            raise RuntimeError("a backtest is already running; cancel it or wait for it to finish")
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(request, self._cancel),
                                        name="backtest", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float) -> bool:
        """Block until the worker thread ends (for closing); True if it did."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _work(self, request: RunRequest, cancel: threading.Event) -> None:
        try:
            outcome = self._run(request, cancel)
        except Exception as exc:  # noqa: BLE001 - any failure must reach the dialog, not kill the thread
            if cancel.is_set():
                outcome = RunOutcome(request, "cancelled", "Cancelled before the first bar.")
            else:
                log.exception("backtest %r failed", request.label)
                outcome = RunOutcome(request, "failed", f"The backtest failed: {_plain_error(exc)}")
        self._done.emit(outcome)

    def _run(self, request: RunRequest, cancel: threading.Event) -> RunOutcome:
        series = series_for(request)
        total = len(series)
        self.progressed.emit(RunProgress(0, total, None))
        first_time, first_done, last_emit = 0.0, -1, 0.0

        def report(done: int, n: int) -> None:
            nonlocal first_time, first_done, last_emit
            now = time.perf_counter()
            if first_done < 0:
                first_time, first_done = now, done
            if now - last_emit >= PROGRESS_INTERVAL or done == n:
                last_emit = now
                self.progressed.emit(RunProgress(done, n, seconds_left(first_time, first_done, now, done, n)))

        result = Backtester(request.settings).run(series, progress=report, cancel=cancel,
                                                  progress_every=PROGRESS_EVERY)
        if result.cancelled:
            return RunOutcome(request, "cancelled", f"Cancelled after {result.bars:,} of {total:,} bars.", result)
        return RunOutcome(request, "finished",
                          f"Finished: {result.bars:,} bars in {result.seconds:.1f} s, {result.stats.trades:,} trades.",
                          result)

    def _on_done(self, outcome: RunOutcome) -> None:
        if self._thread is not None:
            self._thread.join()
        self._thread = None
        self.finished.emit(outcome)
