"""Checking bars before anything uses them: bad rows are dropped and reported, never used.

Each bad row is counted once, under the first problem found in this order: missing
timestamp, non-finite price, non-positive price, high below low, open outside [low, high],
close outside [low, high], bad volume, duplicate timestamp, out-of-order timestamp.
Duplicates keep their first row; for disorder, the fewest rows are dropped that leave the
timestamps strictly increasing (a longest increasing subsequence is kept).

Missing bars are reported but neither invented nor dropped: for intraday data, holes
inside one exchange-local day relative to the series' most common bar spacing (overnight,
weekend and holiday breaks are not holes; bars missing at the very start or end of a
session cannot be seen); for daily data, trading days of the US calendar with no bar.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from engine.data.bar import BarSeries
from engine.data.calendar import trading_days_between
from engine.data.sessions import session_days
from engine.data.timestamps import NAT, NS_PER_DAY, check_timezone, exchange_timezone, format_ts

LISTED = 5   # rows or holes quoted per problem


@dataclass(frozen=True, slots=True)
class Issue:
    """One kind of bad row: how many, and the first few (input positions and times)."""

    reason: str
    count: int
    rows: tuple[int, ...]       # 0-based positions in the input
    first_ts: tuple[int, ...]   # their timestamps, ns UTC (NAT when missing)


@dataclass(frozen=True, slots=True)
class Hole:
    """Bars missing between two consecutive bars of the same session (or trading days)."""

    after_ts: int    # the bar before the hole, ns UTC
    before_ts: int   # the bar after it
    missing: int     # bars expected in between


@dataclass(frozen=True)
class ValidationReport:
    symbol: str
    rows_in: int
    rows_out: int
    issues: tuple[Issue, ...]
    frequency_ns: int | None        # the most common spacing between bars
    holes: tuple[Hole, ...]         # the first few
    hole_count: int
    missing_bars: int
    tz: str                         # the exchange zone used for sessions and display

    @property
    def ok(self) -> bool:
        """True when no row had to be dropped (holes alone do not make data wrong)."""
        return not self.issues

    @property
    def dropped(self) -> int:
        return self.rows_in - self.rows_out

    def summary(self) -> str:
        lines = [f"{self.symbol}: {self.rows_in} rows read, {self.rows_out} kept, {self.dropped} dropped"]
        for issue in self.issues:
            where = ", ".join(
                f"row {row + 1} ({format_ts(ts, self.tz)})" for row, ts in zip(issue.rows, issue.first_ts)
            )
            more = " ..." if issue.count > len(issue.rows) else ""
            lines.append(f"  dropped {issue.count} x {issue.reason}: {where}{more}")
        if self.frequency_ns is not None:
            lines.append(f"  bar spacing: {_describe_spacing(self.frequency_ns)}")
        if self.hole_count:
            lines.append(f"  {self.hole_count} holes, {self.missing_bars} bars missing (reported, not filled in):")
            for hole in self.holes:
                lines.append(
                    f"    {hole.missing} missing between {format_ts(hole.after_ts, self.tz)} "
                    f"and {format_ts(hole.before_ts, self.tz)}"
                )
            if self.hole_count > len(self.holes):
                lines.append("    ...")
        lines.append("OK" if self.ok and not self.hole_count else ("OK, with holes" if self.ok else "PROBLEMS FOUND"))
        return "\n".join(lines)


def validate_bars(
    data: BarSeries | pd.DataFrame,
    *,
    symbol: str | None = None,
    on_error: Literal["drop", "raise"] = "drop",
    tz: str | None = None,
) -> tuple[BarSeries, ValidationReport]:
    """Check bars; return the clean series and a report of everything found.

    `data` is a BarSeries or a frame with a tz-aware DatetimeIndex and open/high/low/close/
    volume columns (an optional `phase`). `symbol` defaults to the series' own. With
    on_error="raise", any bad row raises a ValueError naming the counts. `tz` is the
    exchange zone that defines sessions (default: settings `data.timezone`).
    """
    if on_error not in ("drop", "raise"):
        raise ValueError(f"validate_bars on_error must be 'drop' or 'raise', got {on_error!r}")
    tz = check_timezone(tz or exchange_timezone())
    series = _as_series(data, symbol)
    bad_reason = _row_problems(series)
    issues = _issues(series.ts, bad_reason)
    if issues and on_error == "raise":
        counts = ", ".join(f"{issue.count} {issue.reason}" for issue in issues)
        raise ValueError(f"{series.symbol}: {sum(i.count for i in issues)} bad rows: {counts}")
    keep = np.flatnonzero(bad_reason == 0)
    clean = _take(series, keep)
    frequency = _frequency(clean.ts)
    holes = _holes(clean.ts, frequency, tz) if frequency is not None else []
    report = ValidationReport(
        symbol=series.symbol,
        rows_in=len(series),
        rows_out=len(clean),
        issues=tuple(issues),
        frequency_ns=frequency,
        holes=tuple(holes[:LISTED]),
        hole_count=len(holes),
        missing_bars=sum(h.missing for h in holes),
        tz=tz,
    )
    return clean, report


_REASONS = (
    "missing timestamp",
    "non-finite price (NaN or inf)",
    "non-positive price",
    "high below low",
    "open outside [low, high]",
    "close outside [low, high]",
    "negative, NaN or infinite volume",
    "duplicate timestamp",
    "out-of-order timestamp",
)


def _row_problems(series: BarSeries) -> np.ndarray:
    """Per row: 0 if good, else 1 + the index of its first problem in _REASONS."""
    o, h, l, c, v = (np.asarray(x, dtype=np.float64) for x in (series.open, series.high, series.low, series.close, series.volume))
    prices = np.stack([o, h, l, c])
    with np.errstate(invalid="ignore"):
        checks = [
            series.ts == NAT,
            ~np.isfinite(prices).all(axis=0),
            (prices <= 0.0).any(axis=0),
            h < l,
            (o < l) | (o > h),
            (c < l) | (c > h),
            ~np.isfinite(v) | (v < 0.0),
        ]
    reason = np.zeros(len(series), dtype=np.int8)
    for code, failed in enumerate(checks, start=1):
        reason[(reason == 0) & failed] = code
    _order_problems(series.ts, reason)
    return reason


def _order_problems(ts: np.ndarray, reason: np.ndarray) -> None:
    """Mark duplicate and out-of-order timestamps among rows still good (in place)."""
    good = np.flatnonzero(reason == 0)
    if len(good) < 2 or np.all(np.diff(ts[good]) > 0):
        return
    _, first = np.unique(ts[good], return_index=True)
    duplicate = np.ones(len(good), dtype=bool)
    duplicate[first] = False
    reason[good[duplicate]] = _REASONS.index("duplicate timestamp") + 1
    unique = good[~duplicate]
    reason[unique[~_longest_increasing(ts[unique])]] = _REASONS.index("out-of-order timestamp") + 1


def _longest_increasing(values: np.ndarray) -> np.ndarray:
    """Mask of one longest strictly increasing subsequence (patience sorting, O(n log n))."""
    tails: list[int] = []        # smallest tail value of an increasing run of each length
    tail_index: list[int] = []
    parent = np.full(len(values), -1, dtype=np.int64)
    for i, value in enumerate(values.tolist()):
        k = bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tail_index.append(i)
        else:
            tails[k] = value
            tail_index[k] = i
        parent[i] = tail_index[k - 1] if k > 0 else -1
    keep = np.zeros(len(values), dtype=bool)
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        keep[i] = True
        i = int(parent[i])
    return keep


def _issues(ts: np.ndarray, reason: np.ndarray) -> list[Issue]:
    issues = []
    for code, text in enumerate(_REASONS, start=1):
        rows = np.flatnonzero(reason == code)
        if len(rows):
            first = rows[:LISTED]
            issues.append(Issue(text, len(rows), tuple(int(r) for r in first), tuple(int(t) for t in ts[first])))
    return issues


def _frequency(ts: np.ndarray) -> int | None:
    if len(ts) < 2:
        return None
    spacings, counts = np.unique(np.diff(ts), return_counts=True)
    return int(spacings[np.argmax(counts)])


def _holes(ts: np.ndarray, frequency: int, tz: str) -> list[Hole]:
    local_day = session_days(ts, tz)
    if frequency < NS_PER_DAY:
        step = np.diff(ts)
        at = np.flatnonzero((local_day[1:] == local_day[:-1]) & (step > frequency))
        missing = -(-step[at] // frequency) - 1   # ceil(step / frequency) - 1
        return [Hole(int(ts[i]), int(ts[i + 1]), int(m)) for i, m in zip(at, missing)]
    if frequency <= 4 * NS_PER_DAY:   # daily bars: a weekend spacing can be the most common on short series
        holes = []
        for i in np.flatnonzero(np.diff(local_day) > 1):
            first, last = date.fromordinal(int(local_day[i])), date.fromordinal(int(local_day[i + 1]))
            missing = len(trading_days_between(first, last))
            if missing:
                holes.append(Hole(int(ts[i]), int(ts[i + 1]), missing))
        return holes
    return []   # weekly or slower: no calendar of expected bars


def _describe_spacing(ns: int) -> str:
    for unit, size in (("day", NS_PER_DAY), ("hour", 3_600_000_000_000), ("minute", 60_000_000_000), ("second", 1_000_000_000)):
        if ns % size == 0:
            count = ns // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{ns} ns"


def _as_series(data: BarSeries | pd.DataFrame, symbol: str | None) -> BarSeries:
    if isinstance(data, BarSeries):
        if symbol is None or symbol == data.symbol:
            return data
        return BarSeries(symbol, data.ts, data.open, data.high, data.low, data.close, data.volume, data.phase)
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"validate_bars needs a BarSeries or a pandas DataFrame, got {type(data).__name__}")
    if symbol is None:
        raise ValueError("validate_bars needs symbol= when given a DataFrame")
    index = data.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError(f"validate_bars: the frame for {symbol} needs a tz-aware DatetimeIndex, got {type(index).__name__}")
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in data.columns]
    if missing:
        raise ValueError(f"validate_bars: the frame for {symbol} lacks columns {missing}; it has {list(data.columns)}")
    return BarSeries(
        symbol,
        index.tz_convert("UTC").as_unit("ns").asi8.astype(np.int64),
        *(pd.to_numeric(data[c], errors="coerce").to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")),
        phase=data["phase"].to_numpy(np.int8) if "phase" in data.columns else None,
    )


def _take(series: BarSeries, rows: np.ndarray) -> BarSeries:
    if len(rows) == len(series):
        return series
    phase = None if series.phase is None else series.phase[rows]
    return BarSeries(
        series.symbol, series.ts[rows], series.open[rows], series.high[rows], series.low[rows],
        series.close[rows], series.volume[rows], phase,
    )
