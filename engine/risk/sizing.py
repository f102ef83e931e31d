"""The sizing maths of the risk layers: plain functions on signed share quantities."""
from __future__ import annotations


def volatility_scale(bar_vol: float, annualiser: float, target_annual_vol: float, min_scale: float) -> float:
    """clip(target_annual_vol / (bar_vol × annualiser), min_scale, 1).

    `bar_vol` is the per-bar sigma of returns (a fraction) and `annualiser` sqrt(bars per
    year). A NaN sigma (indicator warm-up) is unknown risk and gets the smallest size; zero
    sigma gets full size.
    """
    if bar_vol != bar_vol:
        return min_scale
    annual = bar_vol * annualiser
    if annual <= target_annual_vol:
        return 1.0
    scale = target_annual_vol / annual
    return scale if scale > min_scale else min_scale


def reduce_only(target: float, position: float) -> float:
    """The nearest quantity to `target` that moves `position` toward zero without crossing it."""
    if position > 0.0:
        return position if target > position else (target if target > 0.0 else 0.0)
    if position < 0.0:
        return position if target < position else (target if target < 0.0 else 0.0)
    return 0.0
