"""Where today's value sits among the trailing window: a percentile in [0, 1].

rank[t] = (#{j : x[j] < x[t]} + 0.5 * #{j != t : x[j] == x[t]}) / (window - 1) over the
`window` values ending at t: 0 for the window's lowest value, 1 for its highest, ties at
their mid-rank. NaN until a full window of non-NaN values is available. The regime engine
feeds it atr/close, so "volatility is at its 90th percentile" reads directly.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.features.inputs import ArrayLike, as_array, check_period, nan_array
from engine.features.window import RollingWindow

_CHUNK = 1 << 13  # windows per block: keeps the comparison masks small and in cache


def _rank(below: np.ndarray, ties: np.ndarray, window: int) -> np.ndarray:
    """Mid-rank percentile from the count below x[t] and the count of *other* values equal to it."""
    return (2 * below + ties) / (2.0 * (window - 1))


def volatility_rank(x: ArrayLike, window: int) -> np.ndarray:
    """Percentile of x[t] within the trailing `window` values (NaN where any is NaN)."""
    values, window = as_array(x, "x", allow_nan=True), check_period(window, "window")
    out = nan_array(len(values))
    if len(values) < window:
        return out
    view = sliding_window_view(values, window)
    current = values[window - 1:]
    below = np.empty(len(view), dtype=np.int64)
    for start in range(0, len(view), _CHUNK):
        stop = start + _CHUNK
        below[start:stop] = np.count_nonzero(view[start:stop] < current[start:stop, None], axis=1)
    # Counting ties costs a second pass; only rows whose value occurs twice in the series can tie.
    ties = np.zeros(len(view), dtype=np.int64)
    ordered = np.sort(values[~np.isnan(values)])
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    rows = np.flatnonzero(np.isin(current, repeated))
    for start in range(0, len(rows), _CHUNK):
        block = rows[start:start + _CHUNK]
        ties[block] = np.count_nonzero(view[block] == current[block, None], axis=1) - 1
    out[window - 1:] = _rank(below, ties, window)
    nans = np.concatenate(([0], np.cumsum(np.isnan(values))))
    out[window - 1:][(nans[window:] - nans[:-window]) > 0] = np.nan
    return out


class VolatilityRankStream:
    __slots__ = ("_window",)

    def __init__(self, window: int) -> None:
        self._window = RollingWindow(check_period(window, "window"))

    def update(self, x: float) -> float:
        self._window.push(x)
        if not self._window.full:
            return float("nan")
        values = self._window.values
        if np.isnan(values).any():
            return float("nan")
        below = int(np.count_nonzero(values < x))
        ties = int(np.count_nonzero(values == x)) - 1
        return float(_rank(np.array(below), np.array(ties), self._window.size))
