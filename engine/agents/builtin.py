"""The four built-in agents: trend, mean reversion, volatility and FVG.

Each is a small rule over the feature row; its confidence rises in the regime it was made
for, so the meta-policy listens to the right specialist without hard switching.
"""
from __future__ import annotations

from engine.agents.base import Agent, Intent
from engine.agents.registry import register_agent
from engine.features.frame import FeatureRow
from engine.regime.regime import Regime


@register_agent("trend")
class TrendAgent(Agent):
    """Follow the EMA crossover when ADX says the move has strength and the DIs agree."""

    def __init__(self, adx_floor: float = 20.0, adx_full: float = 40.0) -> None:
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


@register_agent("mean_reversion")
class MeanReversionAgent(Agent):
    """Fade RSI extremes stretched away from VWAP; stand aside once price is back at VWAP."""

    def __init__(self, rsi_low: float = 30.0, rsi_high: float = 70.0, stretch_atr: float = 1.0) -> None:
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
