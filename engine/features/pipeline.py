"""The feature pipeline: every column of `FeatureFrame`, for a whole series or bar by bar.

`compute_features` is the vectorised path a backtest uses; `FeatureStream` is the path
live trading uses. They run the same arithmetic (tests prove every column equal), so a
backtest sees exactly the features live trading would have seen.

Inputs for each column (periods from `settings.features`):
- atr, adx/plus_di/minus_di, rsi, ema_fast/ema_slow: on OHLC / close;
- vwap: sessions are exchange-local days in `settings.data.timezone`;
- hurst, reg_slope/reg_r2: on close;
- garch_vol: on one-bar log returns log(c[t]/c[t-1]), NaN on the first bar;
- vol_rank: on atr/close;
- fvg_*: gaps with `settings.fvg`, sized against the ATR.
"""
from __future__ import annotations


import numpy as np

from engine.config import Settings
from engine.data.bar import Bar, BarSeries
from engine.data.sessions import SessionClock, session_days
from engine.features import indicators as ind
from engine.features.frame import FeatureFrame, FeatureRow, LazyColumns, Producer
from engine.features.fvg import GAP_COLUMNS, FVGTracker, Gap, track_gaps
from engine.features.garch import GarchStream, garch_volatility
from engine.features.hurst import HurstStream, hurst
from engine.features.inputs import as_array
from engine.features.regression import RegressionStream, rolling_regression
from engine.features.volatility_rank import VolatilityRankStream, volatility_rank

_NAN = float("nan")


def _check_bars(series: BarSeries) -> None:
    prices = {name: as_array(getattr(series, name), f"{series.symbol} {name}") for name in ("open", "high", "low", "close")}
    for name, values in prices.items():
        if (values <= 0).any():
            i = int(np.argmax(values <= 0))
            raise ValueError(f"{series.symbol} {name}[{i}] = {float(values[i])!r}; expected a positive price")
    inverted = prices["high"] < prices["low"]
    if inverted.any():
        i = int(np.argmax(inverted))
        raise ValueError(
            f"{series.symbol} bar {i}: high {float(prices['high'][i])!r} < low {float(prices['low'][i])!r}; expected high >= low"
        )
    volume = as_array(series.volume, f"{series.symbol} volume")
    if (volume < 0).any():
        i = int(np.argmax(volume < 0))
        raise ValueError(f"{series.symbol} volume[{i}] = {float(volume[i])!r}; expected volume >= 0")


def compute_features(series: BarSeries, settings: Settings) -> FeatureFrame:
    """Every feature column for a whole series, vectorised; each computed when first read.

    The bars are checked at once; a column costs nothing until someone reads it (see
    `LazyColumns`), and then the same as computing it eagerly.
    """
    _check_bars(series)
    f = settings.features
    h, l, c = (np.asarray(getattr(series, name), dtype=np.float64) for name in ("high", "low", "close"))
    volume = np.asarray(series.volume, dtype=np.float64)
    ts = np.asarray(series.ts, dtype=np.int64)
    columns: LazyColumns

    def directional() -> dict[str, np.ndarray]:
        d = ind.adx(h, l, c, f.adx_period)
        return {"adx": d.adx, "plus_di": d.plus_di, "minus_di": d.minus_di}

    def regression() -> dict[str, np.ndarray]:
        r = rolling_regression(c, f.regression_window)
        return {"reg_slope": r.slope, "reg_r2": r.r2}

    def garch() -> dict[str, np.ndarray]:
        returns = np.log(c[1:] / c[:-1])
        return {"garch_vol": np.concatenate(([_NAN], garch_volatility(returns, f.garch_window, f.garch_refit_every)))}

    def gaps() -> dict[str, np.ndarray]:
        return track_gaps(series.ts, h, l, columns["atr"], settings.fvg.min_size_atr, settings.fvg.max_age_bars).columns

    lazy: dict[str, Producer] = {
        "atr": lambda: {"atr": ind.atr(h, l, c, f.atr_period)},
        "adx": directional, "plus_di": directional, "minus_di": directional,
        "rsi": lambda: {"rsi": ind.rsi(c, f.rsi_period)},
        "ema_fast": lambda: {"ema_fast": ind.ema(c, f.ema_fast)},
        "ema_slow": lambda: {"ema_slow": ind.ema(c, f.ema_slow)},
        "vwap": lambda: {"vwap": ind.vwap(h, l, c, volume, session_days(series.ts, settings.data.timezone))},
        "hurst": lambda: {"hurst": hurst(c, f.hurst_window)},
        "garch_vol": garch,
        "vol_rank": lambda: {"vol_rank": volatility_rank(columns["atr"] / c, f.volatility_rank_window)},
        "reg_slope": regression, "reg_r2": regression,
        **{name: gaps for name in GAP_COLUMNS},
    }
    columns = LazyColumns(
        {"ts": ts, "open": np.asarray(series.open, dtype=np.float64), "high": h, "low": l, "close": c,
         "volume": volume}, lazy)
    return FeatureFrame(columns)


class FeatureStream:
    """`update(bar) -> FeatureRow`: the same features as `compute_features`, one bar at a time."""

    def __init__(self, settings: Settings) -> None:
        f = settings.features
        self._clock = SessionClock(settings.data.timezone)
        self._atr = ind.ATRStream(f.atr_period)
        self._adx = ind.ADXStream(f.adx_period)
        self._rsi = ind.RSIStream(f.rsi_period)
        self._ema_fast = ind.EMAStream(f.ema_fast)
        self._ema_slow = ind.EMAStream(f.ema_slow)
        self._vwap = ind.VWAPStream()
        self._hurst = HurstStream(f.hurst_window)
        self._garch = GarchStream(f.garch_window, f.garch_refit_every)
        self._vol_rank = VolatilityRankStream(f.volatility_rank_window)
        self._regression = RegressionStream(f.regression_window)
        self._gaps = FVGTracker(settings.fvg.min_size_atr, settings.fvg.max_age_bars)
        self._prev_close = _NAN

    def update(self, bar: Bar) -> FeatureRow:
        o, h, l, c, v = bar.open, bar.high, bar.low, bar.close, bar.volume
        if not (0 < l <= h and o > 0 and c > 0 and v >= 0):
            raise ValueError(
                f"{bar.symbol} bar at {bar.time.isoformat()}: open {o!r} high {h!r} low {l!r} close {c!r} volume {v!r}; "
                "expected positive prices, high >= low and volume >= 0"
            )
        ts = bar.ts
        atr = self._atr.update(h, l, c)
        directional = self._adx.update(h, l, c)
        regression = self._regression.update(c)
        prev, self._prev_close = self._prev_close, c
        # np.log, not math.log: the same kernel as the vectorised path, so GARCH refits see
        # bit-identical returns (math.log can differ in the last bit).
        garch = _NAN if prev != prev else self._garch.update(float(np.log(c / prev)))
        self._gaps.update(ts, h, l, atr)
        return FeatureRow(
            ts, o, h, l, c, v,
            atr, directional.adx, directional.plus_di, directional.minus_di,
            self._rsi.update(c), self._ema_fast.update(c), self._ema_slow.update(c),
            self._vwap.update(h, l, c, v, self._clock.day(ts)),
            self._hurst.update(c), garch, self._vol_rank.update(atr / c),
            regression.slope, regression.r2,
            **dict(zip(GAP_COLUMNS, self._gaps.summary())),
        )

    def open_gaps(self) -> tuple[Gap, ...]:
        """The live (open or partially filled) fair value gaps, oldest first."""
        return self._gaps.open_gaps()
