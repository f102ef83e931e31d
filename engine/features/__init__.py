"""The feature library: indicators, statistics and fair value gaps, vectorised and streaming.

Most callers want `compute_features` (a whole series) or `FeatureStream` (bar by bar);
both fill every field of `FeatureRow`.
"""
from engine.features.frame import FEATURE_FIELDS, FeatureFrame, FeatureRow
from engine.features.fvg import FVGTracker, Gap, GapHistory, GapKind, GapState, track_gaps
from engine.features.garch import GarchParams, GarchStream, fit_garch, garch_forecasts, garch_volatility
from engine.features.hurst import HurstStream, hurst
from engine.features.indicators import (
    ADXResult, ADXStream, ADXValue, ATRStream, EMAStream, RSIStream, SMAStream, VWAPStream,
    adx, atr, ema, rsi, sma, true_range, vwap,
)
from engine.features.pipeline import FeatureStream, compute_features
from engine.features.regression import RegressionResult, RegressionStream, RegressionValue, rolling_regression
from engine.features.volatility_rank import VolatilityRankStream, volatility_rank

__all__ = [
    "ADXResult", "ADXStream", "ADXValue", "ATRStream", "EMAStream", "FEATURE_FIELDS", "FVGTracker",
    "FeatureFrame", "FeatureRow", "FeatureStream", "Gap", "GapHistory", "GapKind", "GapState",
    "GarchParams", "GarchStream", "HurstStream", "RSIStream", "RegressionResult", "RegressionStream",
    "RegressionValue", "SMAStream", "VWAPStream", "VolatilityRankStream", "adx", "atr", "compute_features",
    "ema", "fit_garch", "garch_forecasts", "garch_volatility", "hurst", "rolling_regression", "rsi", "sma",
    "track_gaps", "true_range", "volatility_rank", "vwap",
]
