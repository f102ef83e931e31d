"""A score in [0, 1] per regime from the evidence; the highest score names the regime.

Every feature contributes through `unit(x, none, full)`: 0 at or beyond the `none` level,
1 at or beyond `full`, linear between (the thresholds in RegimeSettings come in such pairs).

- calm = unit(vol_ratio, compressed, normal): 0 when volatility has shrunk well below its
  baseline, 1 when it is normal or higher.
- trend strength = weighted mean of the ADX, Hurst, |RSI - 50| and slope units.
- TREND = calm x strength; MEAN_REVERSION = calm x (1 - strength); COMPRESSION = 1 - calm:
  trend and range split whatever volatility leaves to them.
- EXPANSION = weighted mean of the displacement-candle, new-gap and high-volatility units:
  expansion is violent movement, and trends can be volatile too, so it needs more than size.

The weights are part of the rule's shape, tuned with the thresholds (bench/bench_regime.py
reports the held-out accuracy). The functions take floats (one bar) or arrays (a frame) and
do the same IEEE operations in the same order on both, so both give identical scores.
"""
from __future__ import annotations

import numpy as np

from engine.config import RegimeSettings
from engine.regime.evidence import Evidence, Value

# Trend strength: ADX and Hurst are the steadiest witnesses; the regression slope the noisiest.
W_ADX, W_HURST, W_RSI, W_SLOPE = 2.0, 2.0, 1.0, 0.5
# Expansion: displacement candles decide most, volatility confirms, new gaps add a little.
W_DISPLACEMENT, W_GAPS, W_VOLATILITY = 2.0, 0.5, 1.0


def unit(x: Value, none: float, full: float) -> Value:
    """0 at `none`, 1 at `full` (either may be the larger), linear between, clipped."""
    t = (x - none) / (full - none)
    if isinstance(t, np.ndarray):
        return np.clip(t, 0.0, 1.0)
    return 0.0 if t < 0.0 else 1.0 if t > 1.0 else t


def calm(ev: Evidence, s: RegimeSettings) -> Value:
    """1 where volatility is normal or higher, 0 where it is compressed."""
    return unit(ev.vol_ratio, s.vol_ratio_compressed, s.vol_ratio_normal)


def trend_strength(ev: Evidence, s: RegimeSettings) -> Value:
    """0 looks like a range, 1 like a trend."""
    total = (W_ADX * unit(ev.adx, s.adx_range, s.adx_trend)
             + W_HURST * unit(ev.hurst, s.hurst_mean_reversion, s.hurst_trend)
             + W_RSI * unit(ev.rsi_tilt, s.rsi_range, s.rsi_trend)
             + W_SLOPE * unit(ev.slope_atr, s.slope_range, s.slope_trend))
    return total / (W_ADX + W_HURST + W_RSI + W_SLOPE)


def expansion(ev: Evidence, s: RegimeSettings) -> Value:
    total = (W_DISPLACEMENT * unit(ev.displacement, s.displacement_quiet, s.displacement_busy)
             + W_GAPS * unit(ev.gaps, s.gaps_quiet, s.gaps_busy)
             + W_VOLATILITY * unit(ev.vol_ratio, s.vol_ratio_expanding, s.vol_ratio_expanded))
    return total / (W_DISPLACEMENT + W_GAPS + W_VOLATILITY)


def regime_scores(ev: Evidence, s: RegimeSettings) -> tuple[Value, Value, Value, Value]:
    """Scores in Regime code order: trend, mean reversion, compression, expansion."""
    c = calm(ev, s)
    strength = trend_strength(ev, s)
    return c * strength, c * (1.0 - strength), 1.0 - c, expansion(ev, s)
