"""Rolling Hurst exponent of log prices.

Estimator: the scaling of lagged differences. For lags tau = 1, 2, 4, ... up to window/4,
take the root mean square of p[t] - p[t-tau] over the pairs inside the window (p = log
price) and fit log RMS against log tau by least squares; the slope is H. For a random walk
the RMS grows as tau^0.5 (H = 0.5); persistent, trending moves grow faster (H > 0.5) and
mean reversion slower (H < 0.5).

The raw mean square (not the variance about the window mean) is used on purpose: with few
pairs per long lag, removing the mean biases long-lag spreads down and H with them (by about
0.05 on a 128-bar window), and a drift is a trend a trader wants H to see. Only log-spaced
lags are used, so each carries equal weight in the fit and there are only a handful of them.

H is NaN in warm-up (fewer than `window` prices) and where some lag has no price change in
the whole window (flat prices have no scaling to measure).
"""
from __future__ import annotations

from collections import deque

import numpy as np

from engine.features.inputs import ArrayLike, as_array, check_period, nan_array

MIN_WINDOW = 8


def hurst_lags(window: int) -> np.ndarray:
    """The lags used for a window: powers of two from 1 up to window // 4."""
    window = check_period(window, "window", MIN_WINDOW)
    return 2 ** np.arange(int(np.log2(window // 4)) + 1)


def _fit_weights(lags: np.ndarray) -> np.ndarray:
    """w with H = sum(w * log(mean square)): half the OLS slope weights over log(lag)."""
    x = np.log(lags.astype(np.float64))
    x = x - x.mean()
    return 0.5 * x / (x @ x)


def hurst(close: ArrayLike, window: int) -> np.ndarray:
    """Rolling Hurst exponent of log(close) over the last `window` bars (first at window-1)."""
    prices = as_array(close, "close")
    if (prices <= 0).any():
        i = int(np.argmax(prices <= 0))
        raise ValueError(f"close[{i}] = {float(prices[i])!r}; expected positive prices (Hurst uses log prices)")
    lags = hurst_lags(window)
    weights = _fit_weights(lags)
    size = len(prices)
    out = nan_array(size)
    if size < window:
        return out
    p = np.log(prices)
    total = np.zeros(size - window + 1)
    defined = np.ones(size - window + 1, dtype=bool)
    for lag, w in zip(lags.tolist(), weights):
        d = p[lag:] - p[:-lag]          # d[j] ends at bar j + lag
        pairs = window - lag            # differences inside one window
        # Rolling sums by cumulative sums: all terms are >= 0, so nothing cancels badly.
        sq = np.concatenate(([0.0], np.cumsum(d * d)))
        moves = np.concatenate(([0], np.cumsum(d != 0)))
        ends = np.arange(window - lag, len(d) + 1)   # exclusive end of each window's run
        mean_sq = (sq[ends] - sq[ends - pairs]) / pairs
        defined &= (moves[ends] - moves[ends - pairs]) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            total += w * np.log(mean_sq)
    out[window - 1:] = np.where(defined, total, np.nan)
    return out


class _LagSums:
    """Running sums of one lag's squared differences, kept like `np.cumsum` keeps them."""

    __slots__ = ("lag", "pairs", "sq", "moves")

    def __init__(self, lag: int, window: int) -> None:
        self.lag, self.pairs = lag, window - lag
        # Cumulative sums at the last `pairs` + 1 differences, oldest first; 0 before any.
        self.sq: deque[float] = deque([0.0], maxlen=self.pairs + 1)
        self.moves: deque[int] = deque([0], maxlen=self.pairs + 1)

    def push(self, d: float) -> None:
        self.sq.append(self.sq[-1] + d * d)
        self.moves.append(self.moves[-1] + (d != 0.0))


class HurstStream:
    """Streaming `hurst`, O(number of lags) per bar.

    It keeps the same running cumulative sums the vectorised form takes with `np.cumsum`,
    so both see the same window sums to the last bit.
    """

    __slots__ = ("_window", "_bars", "_prices", "_lags", "_weights")

    def __init__(self, window: int) -> None:
        lags = hurst_lags(window)
        self._window = window
        self._bars = 0
        self._weights = _fit_weights(lags).tolist()
        self._lags = [_LagSums(lag, window) for lag in lags.tolist()]
        self._prices: deque[float] = deque(maxlen=int(lags[-1]) + 1)   # log prices, newest last

    def update(self, close: float) -> float:
        if not close > 0:
            raise ValueError(f"close = {close!r}; expected a positive price (Hurst uses log prices)")
        p = float(np.log(close))   # np.log like the vectorised path (math.log may differ in the last bit)
        self._prices.append(p)
        self._bars += 1
        for lag in self._lags:
            if len(self._prices) > lag.lag:
                lag.push(p - self._prices[-1 - lag.lag])
        if self._bars < self._window:
            return float("nan")
        total = 0.0
        for lag, w in zip(self._lags, self._weights):
            if lag.moves[-1] - lag.moves[0] == 0:
                return float("nan")
            total += w * float(np.log((lag.sq[-1] - lag.sq[0]) / lag.pairs))
        return total
