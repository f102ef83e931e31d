"""Backtest statistics from an equity curve and the closed trades.

Conventions (each chosen once, here):
- Returns are per-bar simple returns r_i = e_i / e_(i-1) - 1 of the equity curve, rf = 0.
- Volatility = sample std (ddof = 1) of r x sqrt(periods_per_year); Sharpe = mean(r) / std(r)
  x sqrt(periods_per_year). Sortino uses the downside deviation sqrt(mean(min(r, 0)^2)) over all
  bars. With fewer than two returns these are NaN.
- A ratio whose denominator is zero (flat equity, no drawdown, no losing bar) is 0.0 when its
  numerator is zero too, else +/-inf: flat equity has Sharpe 0, not NaN.
- CAGR uses the calendar time between the first and last ts (365.25-day years); NaN if none.
- Max drawdown is the deepest fall below the running peak (a fraction <= 0). Its duration runs
  from the last bar at that peak to the first bar back at or above it, or to the end of the
  curve if equity never recovered (`max_drawdown_recovered` says which).
- A trade with pnl > 0 is a win; a zero-pnl trade counts in the win-rate denominator only.
  Profit factor = gross profit / gross loss: inf with no losing trade, NaN with no trades or
  only zero-pnl trades. Trade figures are NaN when there are no trades.
- Turnover = traded notional / mean equity.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Sequence

import numpy as np

from engine.portfolio.trades import Trade

NS_PER_YEAR = 365.25 * 86_400 * 1e9
NAN = float("nan")


@dataclass(frozen=True, slots=True)
class TradeStats:
    count: int
    win_rate: float
    total_pnl: float
    profit_factor: float
    expectancy: float     # mean pnl per trade, money


@dataclass(frozen=True, slots=True)
class Stats:
    bars: int
    start_equity: float
    end_equity: float
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_bars: int
    max_drawdown_seconds: float   # wall-clock duration (plain number: JSON-friendly)
    max_drawdown_recovered: bool
    trades: int
    win_rate: float
    profit_factor: float
    expectancy: float         # mean trade pnl, money
    avg_trade_return: float   # mean of pnl / entry notional
    best_trade: float
    worst_trade: float
    avg_bars_held: float
    exposure: float           # share of bars with a position
    turnover: float
    fees: float

    def as_rows(self) -> list[tuple[str, str]]:
        """(label, formatted value) pairs for a readable table."""
        duration = f"{self.max_drawdown_bars:,} bars ({timedelta(seconds=self.max_drawdown_seconds)})"
        if not self.max_drawdown_recovered:
            duration += ", not recovered"
        return [
            ("Bars", f"{self.bars:,}"),
            ("Start equity", _money(self.start_equity)),
            ("End equity", _money(self.end_equity)),
            ("Total return", _signed_pct(self.total_return)),
            ("CAGR", _signed_pct(self.cagr)),
            ("Volatility (annual)", _pct(self.volatility)),
            ("Sharpe", _number(self.sharpe)),
            ("Sortino", _number(self.sortino)),
            ("Calmar", _number(self.calmar)),
            ("Max drawdown", _signed_pct(self.max_drawdown)),
            ("Max drawdown duration", duration),
            ("Trades", f"{self.trades:,}"),
            ("Win rate", _pct(self.win_rate)),
            ("Profit factor", _number(self.profit_factor)),
            ("Expectancy", _money(self.expectancy)),
            ("Average trade return", _signed_pct(self.avg_trade_return)),
            ("Best trade", _money(self.best_trade)),
            ("Worst trade", _money(self.worst_trade)),
            ("Average bars held", _number(self.avg_bars_held, 1)),
            ("Exposure", _pct(self.exposure)),
            ("Turnover", _number(self.turnover) + "x"),
            ("Fees", _money(self.fees)),
        ]


def compute_stats(
    equity: np.ndarray,
    ts: np.ndarray,
    trades: Sequence[Trade],
    *,
    exposure: np.ndarray,
    turnover: float,
    fees: float,
    periods_per_year: float = 252 * 390,
) -> Stats:
    """Statistics of one run. `equity[0]` is the base all returns start from.

    `exposure` is True per bar with a position; `turnover` is the traded notional in money
    (Stats.turnover divides it by the mean equity); `fees` is the total commission.
    """
    eq, stamps, exposed = _checked_inputs(equity, ts, exposure, turnover, fees, periods_per_year)
    returns = eq[1:] / eq[:-1] - 1.0
    annualiser = math.sqrt(periods_per_year)
    if len(returns) >= 2:
        mean = float(returns.mean())
        std = float(returns.std(ddof=1))
        downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
        volatility = std * annualiser
        sharpe = _ratio(mean, std) * annualiser
        sortino = _ratio(mean, downside) * annualiser
    else:
        volatility = sharpe = sortino = NAN
    cagr = _cagr(float(eq[0]), float(eq[-1]), int(stamps[-1] - stamps[0]))
    max_dd, dd_start, dd_end, recovered = _max_drawdown(eq)
    summary = trade_stats(trades)
    has_trades = summary.count > 0
    pnl = [t.pnl for t in trades]
    return Stats(
        bars=len(eq),
        start_equity=float(eq[0]),
        end_equity=float(eq[-1]),
        total_return=float(eq[-1] / eq[0] - 1.0),
        cagr=cagr,
        volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        calmar=_ratio(cagr, abs(max_dd)),
        max_drawdown=max_dd,
        max_drawdown_bars=dd_end - dd_start,
        max_drawdown_seconds=int(stamps[dd_end] - stamps[dd_start]) / 1e9,
        max_drawdown_recovered=recovered,
        trades=summary.count,
        win_rate=summary.win_rate,
        profit_factor=summary.profit_factor,
        expectancy=summary.expectancy,
        avg_trade_return=float(np.mean([t.return_pct for t in trades])) if has_trades else NAN,
        best_trade=max(pnl) if has_trades else NAN,
        worst_trade=min(pnl) if has_trades else NAN,
        avg_bars_held=float(np.mean([t.bars_held for t in trades])) if has_trades else NAN,
        exposure=float(exposed.mean()),
        turnover=turnover / float(eq.mean()),
        fees=float(fees),
    )


def trade_stats(trades: Sequence[Trade]) -> TradeStats:
    if not trades:
        return TradeStats(0, NAN, 0.0, NAN, NAN)
    pnl = np.array([t.pnl for t in trades], dtype=np.float64)
    gross_profit = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    if gross_loss > 0:
        profit_factor = gross_profit / gross_loss
    else:
        profit_factor = math.inf if gross_profit > 0 else NAN
    return TradeStats(
        count=len(pnl),
        win_rate=float(np.count_nonzero(pnl > 0)) / len(pnl),
        total_pnl=float(pnl.sum()),
        profit_factor=profit_factor,
        expectancy=float(pnl.mean()),
    )


def breakdown(trades: Sequence[Trade], key: Literal["regime", "agent"]) -> dict[str, TradeStats]:
    """Trade statistics per regime or per agent (of the trade's entry), keys sorted."""
    if key not in ("regime", "agent"):
        raise ValueError(f"breakdown key = {key!r}: expected 'regime' or 'agent'")
    groups: dict[str, list[Trade]] = defaultdict(list)
    for trade in trades:
        groups[getattr(trade, key)].append(trade)
    return {name: trade_stats(groups[name]) for name in sorted(groups)}


def _checked_inputs(
    equity: np.ndarray, ts: np.ndarray, exposure: np.ndarray, turnover: float, fees: float,
    periods_per_year: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    eq = np.asarray(equity, dtype=np.float64)
    stamps = np.asarray(ts)
    exposed = np.asarray(exposure)
    if eq.ndim != 1 or len(eq) == 0:
        raise ValueError(f"equity has shape {eq.shape}: expected a 1-D array with at least one bar")
    if not np.all(np.isfinite(eq)) or not np.all(eq > 0):
        bad = int(np.flatnonzero(~(np.isfinite(eq) & (eq > 0)))[0])
        raise ValueError(f"equity[{bad}] = {eq[bad]!r}: expected finite equity > 0 (returns need it)")
    for name, column in (("ts", stamps), ("exposure", exposed)):
        if column.shape != eq.shape:
            raise ValueError(f"{name} has shape {column.shape}: expected {eq.shape}, like equity")
    if not np.issubdtype(stamps.dtype, np.integer):
        raise ValueError(f"ts has dtype {stamps.dtype}: expected int64 nanoseconds since the epoch")
    if len(stamps) > 1 and np.any(np.diff(stamps) < 0):
        bad = int(np.flatnonzero(np.diff(stamps) < 0)[0]) + 1
        raise ValueError(f"ts[{bad}] = {stamps[bad]} is before ts[{bad - 1}] = {stamps[bad - 1]}: expected ascending ts")
    for name, value in (("turnover (traded notional)", turnover), ("fees", fees)):
        if not 0.0 <= value < math.inf:
            raise ValueError(f"{name} = {value!r}: expected a finite amount >= 0")
    if not 0.0 < periods_per_year < math.inf:
        raise ValueError(f"periods_per_year = {periods_per_year!r}: expected a finite number > 0")
    return eq, stamps.astype(np.int64), exposed.astype(bool)


def _ratio(numerator: float, denominator: float) -> float:
    if math.isnan(numerator) or math.isnan(denominator):
        return NAN
    if denominator == 0.0:
        return 0.0 if numerator == 0.0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def _cagr(start: float, end: float, elapsed_ns: int) -> float:
    if elapsed_ns <= 0:
        return NAN
    try:
        return math.exp(math.log(end / start) * NS_PER_YEAR / elapsed_ns) - 1.0
    except OverflowError:
        return math.inf


def _max_drawdown(eq: np.ndarray) -> tuple[float, int, int, bool]:
    """(max drawdown <= 0, index of its peak, index of recovery or the last bar, recovered)."""
    peaks = np.maximum.accumulate(eq)
    drawdowns = eq / peaks - 1.0
    trough = int(np.argmin(drawdowns))
    deepest = float(drawdowns[trough])
    if deepest == 0.0:
        return 0.0, 0, 0, True
    peak = peaks[trough]
    start = int(np.flatnonzero(eq[: trough + 1] == peak)[-1])
    back = np.flatnonzero(eq[trough:] >= peak)
    if len(back):
        return deepest, start, trough + int(back[0]), True
    return deepest, start, len(eq) - 1, False


def _money(value: float) -> str:
    return f"{value:,.2f}" if math.isfinite(value) else _number(value)


def _pct(value: float) -> str:
    return f"{value:.2%}" if math.isfinite(value) else _number(value)


def _signed_pct(value: float) -> str:
    return f"{value:+.2%}" if math.isfinite(value) else _number(value)


def _number(value: float, decimals: int = 2) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:,.{decimals}f}"
