"""What the regime rules read: four trend features of the bar and three measures of activity.

Trend features, straight from the FeatureRow: ADX, Hurst, |RSI - 50| and the regression
slope per bar in ATRs. Activity, over trailing windows the regime engine keeps itself:
- vol_ratio: ATR/close as a multiple of its median over the last `vol_baseline_bars`
  (a median, so expansion spikes do not drag the baseline up);
- displacement: the share of the last `activity_window_bars` bars that were displacement
  candles (body at least `displacement_body` of the range, the candles that leave gaps);
- gaps: the share of those bars that completed a new fair value gap.

`evidence_columns` computes them for a whole frame, `EvidenceStream` bar by bar. Both paths
are bit-identical by construction: window counts are integers, the median is an order
statistic (or the mean of two, computed the same way), and everything else is one IEEE
operation on the same inputs, which numpy and Python round alike.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, fields
from typing import Union

import numpy as np
import pandas as pd

from engine.config import RegimeSettings
from engine.features.frame import FeatureFrame, FeatureRow

# A session: the volatility baseline needs this many values (or the whole window if shorter)
# before it counts; a baseline from a single phase would call that phase normal.
BASELINE_MIN_BARS = 390

Value = Union[float, np.ndarray]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One bar's inputs (floats) or a whole frame's (aligned float64 columns)."""

    adx: Value
    hurst: Value
    rsi_tilt: Value       # |RSI - 50|
    slope_atr: Value      # |regression slope| per bar, in ATRs
    vol_ratio: Value      # ATR/close over its trailing median
    displacement: Value   # share of the activity window's bars that were displacement candles
    gaps: Value           # share of the activity window's bars that completed a fair value gap


EVIDENCE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Evidence))


def baseline_min_bars(s: RegimeSettings) -> int:
    return min(s.vol_baseline_bars, BASELINE_MIN_BARS)


def missing(ev: Evidence) -> tuple[str, ...]:
    """Names of the evidence values still NaN on this bar (features warming up)."""
    return tuple(name for name in EVIDENCE_FIELDS if getattr(ev, name) != getattr(ev, name))


def evidence_columns(frame: FeatureFrame, s: RegimeSettings) -> Evidence:
    """Evidence for every bar of a frame, vectorised."""
    o, h, l, c, atr = (frame[name] for name in ("open", "high", "low", "close", "atr"))
    with np.errstate(invalid="ignore", divide="ignore"):
        vol = atr / c
        baseline = pd.Series(vol).rolling(s.vol_baseline_bars, min_periods=baseline_min_bars(s)).median().to_numpy()
        span = h - l
        displacement = (span > 0.0) & (np.abs(c - o) >= s.displacement_body * span)
        w = s.activity_window_bars
        return Evidence(
            adx=frame["adx"],
            hurst=frame["hurst"],
            rsi_tilt=np.abs(frame["rsi"] - 50.0),
            slope_atr=np.abs(frame["reg_slope"]) / atr,
            vol_ratio=vol / baseline,
            displacement=_window_counts(displacement, w) / w,
            gaps=_window_counts(frame["fvg_new"] != 0.0, w) / w,
        )


def _window_counts(flags: np.ndarray, window: int) -> np.ndarray:
    """How many of the last `window` flags (fewer at the start) are set, per bar."""
    total = np.concatenate(([0], np.cumsum(flags, dtype=np.int64)))
    return total[1:] - total[np.maximum(np.arange(1, len(flags) + 1) - window, 0)]


class EvidenceStream:
    """`update(row) -> Evidence`: the same values as `evidence_columns`, one bar at a time."""

    def __init__(self, s: RegimeSettings) -> None:
        self.s = s
        self._baseline = _RollingMedian(s.vol_baseline_bars, baseline_min_bars(s))
        self._displacement = _RollingCount(s.activity_window_bars)
        self._gaps = _RollingCount(s.activity_window_bars)

    def update(self, row: FeatureRow) -> Evidence:
        s = self.s
        vol = row.atr / row.close
        baseline = self._baseline.push(vol)
        span = row.high - row.low
        w = s.activity_window_bars
        displacement = self._displacement.push(span > 0.0 and abs(row.close - row.open) >= s.displacement_body * span)
        gaps = self._gaps.push(row.fvg_new != 0.0)
        return Evidence(
            adx=row.adx,
            hurst=row.hurst,
            rsi_tilt=abs(row.rsi - 50.0),
            slope_atr=_divide(abs(row.reg_slope), row.atr),
            vol_ratio=_divide(vol, baseline),
            displacement=displacement / w,
            gaps=gaps / w,
        )


def _divide(a: float, b: float) -> float:
    """a / b with numpy's answers where Python would raise (b == 0)."""
    if b != 0.0:
        return a / b
    return float("nan") if a == 0.0 or a != a else float("inf")


class _RollingCount:
    """How many of the last `size` pushed flags are set."""

    def __init__(self, size: int) -> None:
        self._flags: deque[bool] = deque(maxlen=size)
        self._count = 0

    def push(self, flag: bool) -> int:
        if len(self._flags) == self._flags.maxlen and self._flags[0]:
            self._count -= 1
        self._flags.append(flag)
        self._count += flag
        return self._count


class _RollingMedian:
    """Median of the finite values among the last `size` pushed, as pandas' rolling median.

    NaN until at least `min_count` finite values are in the window; an even count takes the
    mean of the middle two as (low + high) / 2, pandas' own arithmetic.
    """

    def __init__(self, size: int, min_count: int) -> None:
        self._window: deque[float] = deque(maxlen=size)
        self._sorted: list[float] = []
        self._min_count = min_count

    def push(self, x: float) -> float:
        if len(self._window) == self._window.maxlen:
            old = self._window[0]
            if old == old:
                del self._sorted[bisect_left(self._sorted, old)]
        self._window.append(x)
        if x == x:
            insort(self._sorted, x)
        n = len(self._sorted)
        if n < self._min_count:
            return float("nan")
        mid = n // 2
        return self._sorted[mid] if n % 2 else (self._sorted[mid - 1] + self._sorted[mid]) / 2
