"""The four built-in agents: trend, mean reversion, volatility and FVG.

Each is a small rule over the feature row; its confidence rises in the regime it was made
for, so the meta-policy listens to the right specialist without hard switching.

Each also computes its intents for a whole frame at once (`columns`) with the same float
operations in the same order as `on_bar`, branch for branch, so both give identical bits.
"""
from __future__ import annotations

import numpy as np

from engine.agents.base import Agent, Intent, IntentColumns, check_regimes
from engine.agents.registry import register_agent
from engine.features.frame import FeatureFrame, FeatureRow
from engine.regime.regime import Regime


def _floats(frame: FeatureFrame, name: str) -> np.ndarray:
    # A row holds Python floats, so the array maths must run in float64 too.
    return np.asarray(frame[name], dtype=np.float64)


def _sided(up: np.ndarray, down: np.ndarray) -> np.ndarray:
    """+1 where `up`, else -1 where `down`, else 0: on_bar tests the long branch first."""
    return np.where(up, 1, np.where(down, -1, 0))


@register_agent("trend")
class TrendAgent(Agent):
    """Follow the EMA crossover when ADX says the move has strength and the DIs agree."""

    def __init__(self, adx_floor: float = 20.0, adx_full: float = 40.0) -> None:
        if not adx_full > adx_floor:
            raise ValueError(f"trend needs adx_full > adx_floor, got adx_floor={adx_floor!r}, adx_full={adx_full!r}")
        self.adx_floor = adx_floor
        self.adx_full = adx_full

    def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
        adx = row.adx
        if not adx >= self.adx_floor:  # also false while ADX is NaN in warm-up
            return None
        up = row.ema_fast > row.ema_slow and row.plus_di > row.minus_di
        down = row.ema_fast < row.ema_slow and row.plus_di < row.minus_di
        if not (up or down):
            return None
        strength = (adx - self.adx_floor) / (self.adx_full - self.adx_floor)
        confidence = 0.8 if regime is Regime.TREND else 0.45
        side = "up" if up else "down"
        reason = f"EMA {side}, ADX {adx:.0f}"
        return self.long(strength, confidence, reason) if up else self.short(strength, confidence, reason)

    def columns(self, frame: FeatureFrame, regimes: np.ndarray) -> IntentColumns:
        codes = check_regimes(frame, regimes)
        adx = _floats(frame, "adx")
        ema_fast, ema_slow = _floats(frame, "ema_fast"), _floats(frame, "ema_slow")
        plus_di, minus_di = _floats(frame, "plus_di"), _floats(frame, "minus_di")
        up = (ema_fast > ema_slow) & (plus_di > minus_di)
        down = (ema_fast < ema_slow) & (plus_di < minus_di)
        spoke = (adx >= self.adx_floor) & (up | down)
        strength = (adx - self.adx_floor) / (self.adx_full - self.adx_floor)
        confidence = np.where(codes == Regime.TREND, 0.8, 0.45)
        return IntentColumns.build(spoke, _sided(up, down), strength, confidence)


@register_agent("mean_reversion")
class MeanReversionAgent(Agent):
    """Fade RSI extremes stretched away from VWAP; stand aside once price is back at VWAP."""

    def __init__(self, rsi_low: float = 30.0, rsi_high: float = 70.0, stretch_atr: float = 1.0) -> None:
        if not stretch_atr > 0.0:
            raise ValueError(f"mean_reversion needs stretch_atr > 0, got {stretch_atr!r}")
        self.rsi_low = rsi_low
        self.rsi_high = rsi_high
        self.stretch_atr = stretch_atr

    def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
        if not row.atr > 0.0:
            return None
        stretch = (row.close - row.vwap) / row.atr
        confidence = 0.8 if regime is Regime.MEAN_REVERSION else 0.4
        if row.rsi < self.rsi_low and stretch < -self.stretch_atr:
            strength = min(1.0, -stretch / (3.0 * self.stretch_atr))
            return self.long(strength, confidence, f"RSI {row.rsi:.0f}, {stretch:.1f} ATR below VWAP")
        if row.rsi > self.rsi_high and stretch > self.stretch_atr:
            strength = min(1.0, stretch / (3.0 * self.stretch_atr))
            return self.short(strength, confidence, f"RSI {row.rsi:.0f}, {stretch:.1f} ATR above VWAP")
        return None

    def columns(self, frame: FeatureFrame, regimes: np.ndarray) -> IntentColumns:
        codes = check_regimes(frame, regimes)
        atr, rsi = _floats(frame, "atr"), _floats(frame, "rsi")
        with np.errstate(divide="ignore", invalid="ignore"):  # bars with atr <= 0 are masked out
            stretch = (_floats(frame, "close") - _floats(frame, "vwap")) / atr
            up = (atr > 0.0) & (rsi < self.rsi_low) & (stretch < -self.stretch_atr)
            down = (atr > 0.0) & (rsi > self.rsi_high) & (stretch > self.stretch_atr)
            # min(1.0, v) returns 1.0 unless v < 1.0; np.minimum would differ on NaN.
            scale = 3.0 * self.stretch_atr
            fade = np.where(up, -stretch / scale, stretch / scale)
        strength = np.where(fade < 1.0, fade, 1.0)
        confidence = np.where(codes == Regime.MEAN_REVERSION, 0.8, 0.4)
        return IntentColumns.build(up | down, _sided(up, down), strength, confidence)


@register_agent("volatility")
class VolatilityAgent(Agent):
    """Ride clean directional moves when volatility expands; go flat when the market compresses."""

    def __init__(self, rank_high: float = 0.8, min_r2: float = 0.5) -> None:
        self.rank_high = rank_high
        self.min_r2 = min_r2

    def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
        if regime is Regime.COMPRESSION:
            return self.flat(0.6, "compression: no edge in a quiet market")
        if not (row.vol_rank >= self.rank_high and row.reg_r2 >= self.min_r2):
            return None
        confidence = 0.75 if regime is Regime.EXPANSION else 0.45
        strength = row.reg_r2
        reason = f"vol rank {row.vol_rank:.2f}, R² {row.reg_r2:.2f}"
        if row.reg_slope > 0.0:
            return self.long(strength, confidence, "expansion up: " + reason)
        if row.reg_slope < 0.0:
            return self.short(strength, confidence, "expansion down: " + reason)
        return None

    def columns(self, frame: FeatureFrame, regimes: np.ndarray) -> IntentColumns:
        codes = check_regimes(frame, regimes)
        r2, slope = _floats(frame, "reg_r2"), _floats(frame, "reg_slope")
        compression = codes == Regime.COMPRESSION
        active = ~compression & (_floats(frame, "vol_rank") >= self.rank_high) & (r2 >= self.min_r2)
        direction = _sided(active & (slope > 0.0), active & (slope < 0.0))
        spoke = compression | (direction != 0)
        confidence = np.where(compression, 0.6, np.where(codes == Regime.EXPANSION, 0.75, 0.45))
        return IntentColumns.build(spoke, direction, r2, confidence)


@register_agent("fvg")
class FVGAgent(Agent):
    """Buy a pull-back into an open bullish gap, sell a rally into an open bearish gap."""

    def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
        confidence = 0.7 if regime in (Regime.TREND, Regime.EXPANSION) else 0.45
        if row.low <= row.fvg_bull_top and row.close >= row.fvg_bull_bottom:
            return self.long(0.8, confidence, f"retest of bullish gap {row.fvg_bull_bottom:.2f}-{row.fvg_bull_top:.2f}")
        if row.high >= row.fvg_bear_bottom and row.close <= row.fvg_bear_top:
            return self.short(0.8, confidence, f"retest of bearish gap {row.fvg_bear_bottom:.2f}-{row.fvg_bear_top:.2f}")
        return None

    def columns(self, frame: FeatureFrame, regimes: np.ndarray) -> IntentColumns:
        codes = check_regimes(frame, regimes)
        close = _floats(frame, "close")
        up = (_floats(frame, "low") <= _floats(frame, "fvg_bull_top")) & (close >= _floats(frame, "fvg_bull_bottom"))
        down = (_floats(frame, "high") >= _floats(frame, "fvg_bear_bottom")) & (close <= _floats(frame, "fvg_bear_top"))
        confidence = np.where((codes == Regime.TREND) | (codes == Regime.EXPANSION), 0.7, 0.45)
        return IntentColumns.build(up | down, _sided(up, down), 0.8, confidence)
