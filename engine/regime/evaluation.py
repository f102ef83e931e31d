"""Scoring a regime classification against known true regimes (synthetic data).

Features look back over windows, so every classifier lags a true phase change by some bars;
`accuracy(..., settle_bars=N)` leaves out the first N bars of each true phase to show how
much of the error is that lag and how much is wrong verdicts inside phases.
"""
from __future__ import annotations

import numpy as np


def _codes(name: str, values: np.ndarray) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of regime codes, got shape {a.shape}")
    return a


def bars_since_change(true: np.ndarray) -> np.ndarray:
    """Per bar, how many bars ago its true phase began (0 on the first bar of a phase)."""
    t = _codes("true", true)
    index = np.arange(len(t))
    starts = np.ones(len(t), dtype=bool)
    starts[1:] = t[1:] != t[:-1]
    return index - np.maximum.accumulate(np.where(starts, index, 0))


def accuracy(true: np.ndarray, predicted: np.ndarray, settle_bars: int = 0) -> float:
    """Share of bars classified right, leaving out the first `settle_bars` of each true phase."""
    t, p = _codes("true", true), _codes("predicted", predicted)
    if t.shape != p.shape:
        raise ValueError(f"true and predicted differ in length: {len(t)} and {len(p)}")
    if settle_bars < 0:
        raise ValueError(f"settle_bars = {settle_bars!r}; expected a count >= 0")
    kept = bars_since_change(t) >= settle_bars
    if not kept.any():
        raise ValueError(f"no bar is {settle_bars} or more bars into its phase; nothing to score")
    return float(np.mean(t[kept] == p[kept]))


def changes_per_day(codes: np.ndarray, bars_per_day: int = 390) -> float:
    """Regime changes per trading day (390 one-minute bars by default)."""
    c = _codes("codes", codes)
    if bars_per_day < 1:
        raise ValueError(f"bars_per_day = {bars_per_day!r}; expected a positive count")
    if len(c) == 0:
        raise ValueError("codes is empty; expected at least one bar")
    return float(np.count_nonzero(c[1:] != c[:-1])) * bars_per_day / len(c)
