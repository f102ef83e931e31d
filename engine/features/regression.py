"""Rolling least-squares line through the last `window` values: slope per bar and R².

OLS of x on 0..window-1. Each window is shifted by its last value before the sums, so the
sums stay small (prices near 400 would otherwise cancel away most digits) and a flat
window is exactly flat. R² is 0 for a flat window (there is no move to explain).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.features.inputs import ArrayLike, as_array, check_period, nan_array
from engine.features.window import RollingWindow

_CHUNK = 1 << 15  # windows per block, so the shifted copy stays a few MB


@dataclass(frozen=True)
class RegressionResult:
    slope: np.ndarray
    r2: np.ndarray


def _kernel(windows: np.ndarray, centred_index: np.ndarray, sxx: float) -> tuple[np.ndarray, np.ndarray]:
    """Slope and R² of each row of `windows` (shape rows x window)."""
    z = windows - windows[:, -1:]
    n = windows.shape[1]
    sz = z.sum(axis=1)
    syy = np.einsum("ij,ij->i", z, z) - sz * sz / n
    sxy = z @ centred_index
    slope = sxy / sxx
    r2 = np.zeros(len(z))
    flat = syy <= 0.0
    r2[~flat] = np.minimum(sxy[~flat] ** 2 / (sxx * syy[~flat]), 1.0)
    return slope, r2


def _design(window: int) -> tuple[np.ndarray, float]:
    centred = np.arange(window, dtype=np.float64) - (window - 1) / 2.0
    return centred, float(centred @ centred)


def rolling_regression(x: ArrayLike, window: int) -> RegressionResult:
    """Slope (per bar) and R² of OLS of x on 0..window-1 over each trailing window."""
    values, window = as_array(x, "x"), check_period(window, "window")
    centred, sxx = _design(window)
    slope, r2 = nan_array(len(values)), nan_array(len(values))
    if len(values) >= window:
        view = sliding_window_view(values, window)
        for start in range(0, len(view), _CHUNK):
            s, r = _kernel(view[start:start + _CHUNK], centred, sxx)
            slope[window - 1 + start:window - 1 + start + len(s)] = s
            r2[window - 1 + start:window - 1 + start + len(r)] = r
    return RegressionResult(slope, r2)


@dataclass(frozen=True, slots=True)
class RegressionValue:
    slope: float
    r2: float


class RegressionStream:
    """Streaming `rolling_regression`: the same kernel on the one current window."""

    __slots__ = ("_window", "_centred", "_sxx")

    def __init__(self, window: int) -> None:
        self._window = RollingWindow(check_period(window, "window"))
        self._centred, self._sxx = _design(window)

    def update(self, x: float) -> RegressionValue:
        self._window.push(x)
        if not self._window.full:
            return RegressionValue(float("nan"), float("nan"))
        slope, r2 = _kernel(self._window.values[None, :], self._centred, self._sxx)
        return RegressionValue(float(slope[0]), float(r2[0]))
