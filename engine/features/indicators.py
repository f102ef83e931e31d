"""Classic indicators, computed exactly as TA-Lib computes them, plus session VWAP.

Every function takes numpy arrays or pandas Series and returns float64 arrays aligned to
the input, NaN during warm-up. Lookbacks match TA-Lib: SMA/EMA first value at n-1, RSI,
ATR, +DI and -DI at n, ADX at 2n-1.

- EMA: seeded with the SMA of the first n values, then alpha = 2/(n+1).
- RSI, ATR: Wilder smoothing (alpha = 1/n) seeded with the simple average of the first n
  price changes / true ranges.
- +DI/-DI: as TA-Lib, the DM and TR Wilder *sums* are seeded with the plain sum of the first
  n-1 values and the first DI is written after one Wilder step, at bar n. ADX is the mean of
  the first n DX values (bars n..2n-1), then Wilder-smoothed.
- TA-Lib treats |v| < 1e-8 as zero: RSI is 0 when average gain + loss is "zero", a DI is 0
  when the TR sum is "zero", and ADX keeps its previous value when DX is undefined.

Each has a streaming twin (`update(...)` advances one bar) that repeats the same arithmetic,
so streaming and vectorised results agree to rounding.
"""
from __future__ import annotations

import math
import operator
from collections import deque
from dataclasses import dataclass
from functools import reduce

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from engine.features.inputs import ArrayLike, as_array, check_period, check_same_length, nan_array

TA_ZERO = 1e-8  # TA-Lib's TA_IS_ZERO threshold
_NAN = float("nan")


# -- shared recursions ------------------------------------------------------------------
def recurse(drive: np.ndarray, coef: float, initial: float) -> np.ndarray:
    """y[k] = drive[k] + coef * y[k-1], with y[-1] = initial (a first-order IIR filter)."""
    if len(drive) == 0:
        return np.empty(0)
    y, _ = lfilter(np.ones(1), np.array([1.0, -coef]), drive, zi=np.array([coef * initial]))
    return y


def _seeded_average(x: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """Exponential average seeded with the mean of the first n values (first output at n-1)."""
    out = nan_array(len(x))
    if len(x) >= n:
        seed = math.fsum(x[:n].tolist()) / n
        out[n - 1] = seed
        out[n:] = recurse(alpha * x[n:], 1.0 - alpha, seed)
    return out


class _SeededAverage:
    """Streaming `_seeded_average`: NaN until n values are seen."""

    __slots__ = ("n", "alpha", "coef", "_seed", "value")

    def __init__(self, n: int, alpha: float) -> None:
        self.n = n
        self.alpha = alpha
        self.coef = 1.0 - alpha
        self._seed: list[float] | None = []
        self.value = _NAN

    def update(self, x: float) -> float:
        if self._seed is None:
            self.value = self.alpha * x + self.coef * self.value
        else:
            self._seed.append(x)
            if len(self._seed) == self.n:
                self.value = math.fsum(self._seed) / self.n
                self._seed = None
        return self.value


def _ratio_or_zero(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """100 * num / den, 0 where den is TA-Lib "zero"; NaN stays NaN."""
    out = np.where(np.abs(den) < TA_ZERO, 0.0, np.nan)
    ok = ~(np.abs(den) < TA_ZERO) & ~np.isnan(den)
    out[ok] = 100.0 * (num[ok] / den[ok])
    return out


# -- moving averages --------------------------------------------------------------------
def sma(x: ArrayLike, n: int) -> np.ndarray:
    """Simple moving average of the last n values (first value at index n-1).

    Each window is summed strictly oldest to newest, ((x0 + x1) + x2) + ..., then divided by
    n: the very additions `SMAStream` makes, so the two agree bit for bit. (numpy's `mean`
    sums pairwise in an order that depends on its internals.)
    """
    values, n = as_array(x, "x"), check_period(n, "n", 1)
    out = nan_array(len(values))
    if len(values) >= n:
        m = len(values) - n + 1
        total = values[:m].copy()
        for k in range(1, n):  # n passes over the series, not one per bar
            total += values[k:k + m]
        out[n - 1:] = total / n
    return out


def ema(x: ArrayLike, n: int) -> np.ndarray:
    """Exponential moving average, alpha = 2/(n+1), seeded with the SMA of the first n values."""
    n = check_period(n, "n", 1)
    return _seeded_average(as_array(x, "x"), n, 2.0 / (n + 1))


class SMAStream:
    """Streaming `sma`: the window is summed oldest to newest, exactly as `sma` sums it."""

    __slots__ = ("n", "_window")

    def __init__(self, n: int) -> None:
        self.n = check_period(n, "n", 1)
        self._window: deque[float] = deque(maxlen=self.n)

    def update(self, x: float) -> float:
        self._window.append(float(x))
        return reduce(operator.add, self._window) / self.n if len(self._window) == self.n else _NAN


class EMAStream:
    __slots__ = ("_avg",)

    def __init__(self, n: int) -> None:
        n = check_period(n, "n", 1)
        self._avg = _SeededAverage(n, 2.0 / (n + 1))

    def update(self, x: float) -> float:
        return self._avg.update(x)


# -- RSI ----------------------------------------------------------------------------------
def rsi(close: ArrayLike, n: int = 14) -> np.ndarray:
    """Wilder's RSI; 0 where average gain + loss is zero (as TA-Lib)."""
    c, n = as_array(close, "close"), check_period(n, "n")
    out = nan_array(len(c))
    d = np.diff(c)
    gain = _seeded_average(np.where(d > 0, d, 0.0), n, 1.0 / n)
    loss = _seeded_average(np.where(d < 0, -d, 0.0), n, 1.0 / n)
    out[1:] = _ratio_or_zero(gain, gain + loss)
    return out


class RSIStream:
    __slots__ = ("_prev", "_gain", "_loss")

    def __init__(self, n: int = 14) -> None:
        n = check_period(n, "n")
        self._prev = _NAN
        self._gain = _SeededAverage(n, 1.0 / n)
        self._loss = _SeededAverage(n, 1.0 / n)

    def update(self, close: float) -> float:
        prev, self._prev = self._prev, close
        if prev != prev:
            return _NAN
        d = close - prev
        g = self._gain.update(d if d > 0 else 0.0)
        l = self._loss.update(-d if d < 0 else 0.0)
        s = g + l
        if s != s:
            return _NAN
        return 0.0 if abs(s) < TA_ZERO else 100.0 * (g / s)


# -- true range and ATR -----------------------------------------------------------------
def true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> np.ndarray:
    """max(high-low, |high-prev close|, |low-prev close|); NaN on the first bar."""
    h, l, c = as_array(high, "high"), as_array(low, "low"), as_array(close, "close")
    check_same_length(high=h, low=l, close=c)
    out = nan_array(len(h))
    pc = c[:-1]
    out[1:] = np.maximum(np.maximum(h[1:] - l[1:], np.abs(h[1:] - pc)), np.abs(l[1:] - pc))
    return out


def _tr(high: float, low: float, prev_close: float) -> float:
    return max(max(high - low, abs(high - prev_close)), abs(low - prev_close))


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> np.ndarray:
    """Wilder's average true range; first value at index n (mean of TR[1..n])."""
    n = check_period(n, "n")
    tr = true_range(high, low, close)
    out = nan_array(len(tr))
    out[1:] = _seeded_average(tr[1:], n, 1.0 / n)
    return out


class ATRStream:
    __slots__ = ("_prev_close", "_avg")

    def __init__(self, n: int = 14) -> None:
        n = check_period(n, "n")
        self._prev_close = _NAN
        self._avg = _SeededAverage(n, 1.0 / n)

    def update(self, high: float, low: float, close: float) -> float:
        pc, self._prev_close = self._prev_close, close
        if pc != pc:
            return _NAN
        return self._avg.update(_tr(high, low, pc))


# -- directional movement -----------------------------------------------------------------
@dataclass(frozen=True)
class ADXResult:
    adx: np.ndarray
    plus_di: np.ndarray
    minus_di: np.ndarray


@dataclass(frozen=True, slots=True)
class ADXValue:
    adx: float
    plus_di: float
    minus_di: float


def adx(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> ADXResult:
    """Wilder's ADX with +DI and -DI, as TA-Lib (DI from index n, ADX from 2n-1)."""
    n = check_period(n, "n")
    h, l = as_array(high, "high"), as_array(low, "low")
    tr = true_range(h, l, close)[1:]
    size = len(h)
    plus_di, minus_di, adx_out = nan_array(size), nan_array(size), nan_array(size)
    if size <= n:
        return ADXResult(adx_out, plus_di, minus_di)
    up, down = h[1:] - h[:-1], l[:-1] - l[1:]
    pdm = np.where((up > 0) & (up > down), up, 0.0)
    mdm = np.where((down > 0) & (down > up), down, 0.0)
    coef = 1.0 - 1.0 / n
    # Wilder sums, seeded with the plain sum of the first n-1 values (bars 1..n-1).
    sp = recurse(pdm[n - 1:], coef, math.fsum(pdm[:n - 1].tolist()))
    sm = recurse(mdm[n - 1:], coef, math.fsum(mdm[:n - 1].tolist()))
    st = recurse(tr[n - 1:], coef, math.fsum(tr[:n - 1].tolist()))
    plus_di[n:] = _ratio_or_zero(sp, st)
    minus_di[n:] = _ratio_or_zero(sm, st)
    di_sum = plus_di[n:] + minus_di[n:]
    valid = ~(np.abs(st) < TA_ZERO) & ~(np.abs(di_sum) < TA_ZERO)
    dx = np.zeros(len(di_sum))
    dx[valid] = 100.0 * (np.abs(plus_di[n:] - minus_di[n:])[valid] / di_sum[valid])
    if size >= 2 * n:
        seed = math.fsum(dx[:n].tolist()) / n
        adx_out[2 * n - 1] = seed
        # Where DX is undefined TA-Lib keeps the previous ADX: run the recursion over the
        # defined values only, then carry each result forward.
        ok = valid[n:]
        smoothed = np.concatenate(([seed], recurse(dx[n:][ok] / n, coef, seed)))
        adx_out[2 * n:] = smoothed[np.cumsum(ok)]
    return ADXResult(adx_out, plus_di, minus_di)


class ADXStream:
    __slots__ = ("n", "_coef", "_bars", "_prev", "_seeds", "_sp", "_sm", "_st", "_dx_seed", "_adx")

    def __init__(self, n: int = 14) -> None:
        self.n = check_period(n, "n")
        self._coef = 1.0 - 1.0 / self.n
        self._bars = 0
        self._prev: tuple[float, float, float] | None = None
        self._seeds: tuple[list[float], list[float], list[float]] = ([], [], [])
        self._sp = self._sm = self._st = _NAN
        self._dx_seed: list[float] = []
        self._adx = _NAN

    def update(self, high: float, low: float, close: float) -> ADXValue:
        n, bar, prev = self.n, self._bars, self._prev
        self._bars += 1
        self._prev = (high, low, close)
        if prev is None:
            return ADXValue(_NAN, _NAN, _NAN)
        up, down = high - prev[0], prev[1] - low
        pdm = up if (up > 0 and up > down) else 0.0
        mdm = down if (down > 0 and down > up) else 0.0
        tr = _tr(high, low, prev[2])
        if bar < n:
            for seed, v in zip(self._seeds, (pdm, mdm, tr)):
                seed.append(v)
            return ADXValue(_NAN, _NAN, _NAN)
        if bar == n:
            self._sp, self._sm, self._st = (math.fsum(s) for s in self._seeds)
        c = self._coef
        self._sp = pdm + c * self._sp
        self._sm = mdm + c * self._sm
        self._st = st = tr + c * self._st
        st_zero = abs(st) < TA_ZERO
        plus_di = 0.0 if st_zero else 100.0 * (self._sp / st)
        minus_di = 0.0 if st_zero else 100.0 * (self._sm / st)
        di_sum = plus_di + minus_di
        valid = not st_zero and not abs(di_sum) < TA_ZERO
        dx = 100.0 * (abs(plus_di - minus_di) / di_sum) if valid else 0.0
        if bar < 2 * n:
            self._dx_seed.append(dx)
            if bar == 2 * n - 1:
                self._adx = math.fsum(self._dx_seed) / n
        elif valid:
            self._adx = dx / n + c * self._adx
        return ADXValue(self._adx, plus_di, minus_di)


# -- VWAP ---------------------------------------------------------------------------------
def vwap(high: ArrayLike, low: ArrayLike, close: ArrayLike, volume: ArrayLike, session: ArrayLike) -> np.ndarray:
    """Session VWAP of the typical price (h+l+c)/3; restarts whenever `session` changes.

    NaN until the session has traded some volume.
    """
    h, l, c = as_array(high, "high"), as_array(low, "low"), as_array(close, "close")
    v = as_array(volume, "volume")
    keys = np.asarray(session)
    check_same_length(high=h, low=l, close=c, volume=v, session=keys)
    if len(h) == 0:
        return np.empty(0)
    group = np.cumsum(np.concatenate(([True], keys[1:] != keys[:-1])))
    pv = (h + l + c) / 3.0 * v
    cum_pv = pd.Series(pv).groupby(group).cumsum().to_numpy()
    cum_v = pd.Series(v).groupby(group).cumsum().to_numpy()
    out = nan_array(len(h))
    np.divide(cum_pv, cum_v, out=out, where=cum_v > 0)
    return out


class VWAPStream:
    __slots__ = ("_session", "_pv", "_v")

    def __init__(self) -> None:
        self._session: object = None
        self._pv = 0.0
        self._v = 0.0

    def update(self, high: float, low: float, close: float, volume: float, session: object) -> float:
        if session != self._session:
            self._session, self._pv, self._v = session, 0.0, 0.0
        self._pv += (high + low + close) / 3.0 * volume
        self._v += volume
        return self._pv / self._v if self._v > 0 else _NAN
