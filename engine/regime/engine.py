"""RegimeEngine: deterministic rules that name the market's regime on every bar.

Order of the rules (the first that holds decides):
1. volatility percentile >= vol_high_pct, or above the median with a fresh fair value gap
   -> EXPANSION
2. volatility percentile <= vol_low_pct -> COMPRESSION
3. ADX >= adx_trend, or Hurst >= hurst_trend with a clean regression fit (R² >= 0.5)
   -> TREND
4. otherwise -> MEAN_REVERSION (most confident when Hurst <= hurst_mean_reversion)
A raw verdict must hold for `min_dwell_bars` consecutive bars before the engine adopts
it, so the regime does not flip-flop on noise. Until the features are warm the engine
reports COMPRESSION with zero confidence (no edge is claimed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import RegimeSettings
from engine.features.frame import FeatureFrame, FeatureRow
from engine.regime.regime import Regime

_EXP, _COMP, _TREND, _MR = int(Regime.EXPANSION), int(Regime.COMPRESSION), int(Regime.TREND), int(Regime.MEAN_REVERSION)


@dataclass(frozen=True, slots=True)
class RegimeState:
    regime: Regime
    confidence: float
    reasons: tuple[str, ...]
    flipped: bool           # the regime changed on this bar


def _clip01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


class RegimeEngine:
    def __init__(self, settings: RegimeSettings) -> None:
        self.s = settings
        self.current = Regime.COMPRESSION
        self._candidate = -1
        self._run = 0

    # -- one bar ------------------------------------------------------------------------
    def raw(self, row: FeatureRow) -> tuple[int, float, tuple[str, ...]]:
        """The rule verdict for one bar, before hysteresis: (code, confidence, reasons)."""
        s = self.s
        vr, adx, hurst, r2 = row.vol_rank, row.adx, row.hurst, row.reg_r2
        if vr != vr or adx != adx or hurst != hurst:
            return _COMP, 0.0, ("features warming up",)
        if vr >= s.vol_high_pct or (vr >= 0.5 and row.fvg_new != 0.0):
            conf = 0.5 + 0.5 * _clip01((vr - 0.5) / (1.0 - 0.5))
            why = f"volatility percentile {vr:.2f}" + (", new fair value gap" if row.fvg_new != 0.0 else "")
            return _EXP, conf, (why,)
        if vr <= s.vol_low_pct:
            return _COMP, 0.5 + 0.5 * _clip01((s.vol_low_pct - vr) / s.vol_low_pct), (f"volatility percentile {vr:.2f}",)
        if adx >= s.adx_trend or (hurst >= s.hurst_trend and r2 >= 0.5):
            conf = 0.5 + 0.25 * _clip01((adx - s.adx_trend) / s.adx_trend) + 0.25 * _clip01((hurst - 0.5) / 0.2)
            return _TREND, conf, (f"ADX {adx:.1f}", f"Hurst {hurst:.2f}")
        conf = 0.5 + 0.5 * _clip01((s.hurst_trend - hurst) / (s.hurst_trend - s.hurst_mean_reversion) / 2.0)
        return _MR, conf, (f"ADX {adx:.1f}", f"Hurst {hurst:.2f}")

    def update(self, row: FeatureRow) -> RegimeState:
        code, conf, reasons = self.raw(row)
        flipped = self._dwell(code)
        return RegimeState(self.current, conf if code == self.current else 1.0 - conf, reasons, flipped)

    def _dwell(self, code: int) -> bool:
        if code == self.current:
            self._candidate, self._run = -1, 0
            return False
        if code == self._candidate:
            self._run += 1
        else:
            self._candidate, self._run = code, 1
        if self._run >= self.s.min_dwell_bars:
            self.current = Regime(code)
            self._candidate, self._run = -1, 0
            return True
        return False

    # -- a whole series -----------------------------------------------------------------
    def classify_frame(self, frame: FeatureFrame) -> np.ndarray:
        """Regime codes (int8) for every bar, identical to calling `update` bar by bar."""
        raw = raw_codes(frame, self.s)
        out = np.empty(len(raw), dtype=np.int8)
        for i, code in enumerate(raw.tolist()):
            self._dwell(code)
            out[i] = self.current
        return out


def raw_codes(frame: FeatureFrame, s: RegimeSettings) -> np.ndarray:
    """Vectorised form of `RegimeEngine.raw` (codes only)."""
    vr, adx, hurst, r2, fvg_new = frame["vol_rank"], frame["adx"], frame["hurst"], frame["reg_r2"], frame["fvg_new"]
    with np.errstate(invalid="ignore"):
        warm = np.isnan(vr) | np.isnan(adx) | np.isnan(hurst)
        expansion = (vr >= s.vol_high_pct) | ((vr >= 0.5) & (fvg_new != 0.0))
        compression = vr <= s.vol_low_pct
        trend = (adx >= s.adx_trend) | ((hurst >= s.hurst_trend) & (r2 >= 0.5))
    codes = np.where(expansion, _EXP, np.where(compression, _COMP, np.where(trend, _TREND, _MR)))
    return np.where(warm, _COMP, codes).astype(np.int8)


def confusion_matrix(true: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """4x4 counts, rows = true regime, columns = predicted, in Regime code order."""
    m = np.zeros((len(Regime), len(Regime)), dtype=np.int64)
    np.add.at(m, (true.astype(np.int64), predicted.astype(np.int64)), 1)
    return m
