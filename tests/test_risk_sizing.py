"""Volatility scaling, max position, regime caps and the reduce-only rule."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import RiskSettings, VaRSettings, VolatilityScalingSettings
from engine.regime.regime import Regime
from engine.risk import AdvancedRiskManager, TradingState
from engine.risk.sizing import reduce_only, volatility_scale

MINUTE_BARS_PER_YEAR = 252 * 390
EQUITY = 100_000.0


def manager(vol_scaling: bool = False, **overrides: object) -> AdvancedRiskManager:
    fields: dict[str, object] = dict(
        max_position=1.0,
        regime_caps={r.label: 1.0 for r in Regime},
        volatility_scaling=VolatilityScalingSettings(enabled=vol_scaling, target_annual_vol=0.20, min_scale=0.25),
        var=VaRSettings(enabled=False),
    )
    fields.update(overrides)
    mgr = AdvancedRiskManager(RiskSettings(**fields), EQUITY, bars_per_year=MINUTE_BARS_PER_YEAR)
    mgr.on_bar(0, 0, 100.0, EQUITY)
    return mgr


def test_volatility_scaling_by_target_over_realised_annual_vol() -> None:
    # sigma 0.2 % a minute -> 0.002 * sqrt(98,280) = 0.002 * 313.4964 = 62.70 % a year;
    # 20 % / 62.70 % = 0.31898 of the size.
    decision = manager(vol_scaling=True).check(100.0, 0.0, 100.0, EQUITY, Regime.TREND, 0.002)
    assert decision.approved == pytest.approx(100.0 * 0.20 / (0.002 * math.sqrt(98_280)), rel=1e-12)
    assert decision.approved == pytest.approx(31.898, abs=1e-3)
    assert [a.rule for a in decision.actions] == ["volatility_scaling"]


def test_volatility_scaling_never_goes_below_min_scale() -> None:
    decision = manager(vol_scaling=True).check(100.0, 0.0, 100.0, EQUITY, Regime.TREND, 0.01)
    assert decision.approved == pytest.approx(25.0)


def test_volatility_scaling_leaves_size_alone_below_the_target_vol() -> None:
    # 0.05 % a minute is 15.7 % a year, under the 20 % target.
    decision = manager(vol_scaling=True).check(-100.0, 0.0, 100.0, EQUITY, Regime.TREND, 0.0005)
    assert decision.approved == -100.0
    assert decision.actions == ()


def test_unknown_volatility_gets_the_minimum_size() -> None:
    decision = manager(vol_scaling=True).check(100.0, 0.0, 100.0, EQUITY, Regime.TREND, math.nan)
    assert decision.approved == pytest.approx(25.0)
    assert "unknown" in decision.actions[0].reason


def test_volatility_scale_function_matches_the_clip_formula() -> None:
    annualiser = math.sqrt(MINUTE_BARS_PER_YEAR)
    for bar_vol in (0.0, 0.0001, 0.0006, 0.001, 0.003, 0.05):
        annual = bar_vol * annualiser
        expected = 1.0 if annual == 0.0 else min(1.0, max(0.25, 0.20 / annual))
        assert volatility_scale(bar_vol, annualiser, 0.20, 0.25) == pytest.approx(expected, rel=1e-12)


def test_max_position_caps_position_value_at_a_share_of_equity() -> None:
    # 10 % of 100,000 at a price of 100 is 100 shares, long or short.
    mgr = manager(max_position=0.10)
    long = mgr.check(150.0, 0.0, 100.0, EQUITY, Regime.TREND, 0.0)
    short = mgr.check(-150.0, 0.0, 100.0, EQUITY, Regime.TREND, 0.0)
    assert long.approved == pytest.approx(100.0)
    assert short.approved == pytest.approx(-100.0)
    assert [a.rule for a in long.actions] == ["max_position"]


def test_max_position_leaves_a_target_within_the_cap() -> None:
    decision = manager(max_position=0.10).check(99.0, 0.0, 100.0, EQUITY, Regime.TREND, 0.0)
    assert decision.approved == 99.0
    assert decision.actions == ()


def test_regime_cap_scales_the_max_position_per_regime() -> None:
    caps = {"trend": 1.0, "mean_reversion": 0.8, "compression": 0.5, "expansion": 0.6}
    mgr = manager(max_position=0.10, regime_caps=caps)
    # 100 shares allowed in full; compression 50, expansion 60, mean reversion 80.
    assert mgr.check(90.0, 0.0, 100.0, EQUITY, Regime.TREND, 0.0).approved == 90.0
    assert mgr.check(90.0, 0.0, 100.0, EQUITY, Regime.COMPRESSION, 0.0).approved == pytest.approx(50.0)
    assert mgr.check(-90.0, 0.0, 100.0, EQUITY, Regime.EXPANSION, 0.0).approved == pytest.approx(-60.0)
    decision = mgr.check(90.0, 0.0, 100.0, EQUITY, Regime.MEAN_REVERSION, 0.0)
    assert decision.approved == pytest.approx(80.0)
    assert [a.rule for a in decision.actions] == ["regime_cap"]
    assert "mean_reversion" in decision.actions[0].reason


def test_no_equity_allows_no_position() -> None:
    mgr = manager(daily_loss_limit=1.0, hard_drawdown=1.0, soft_drawdown=0.99)
    assert mgr.check(10.0, 0.0, 100.0, 0.0, Regime.TREND, 0.0).approved == 0.0
    assert mgr.check(-10.0, 0.0, 100.0, -500.0, Regime.TREND, 0.0).approved == 0.0


def test_layers_compose_soft_drawdown_then_volatility_then_caps() -> None:
    # Soft drawdown x0.5 and volatility x0.31898 take 1,000 shares to 159.49; the max
    # position of 10 % of 88,000 at 100 is 88 shares, which binds last.
    mgr = manager(vol_scaling=True, max_position=0.10, daily_loss_limit=0.5)
    mgr.on_bar(1, 0, 100.0, 88_000.0)
    decision = mgr.check(1_000.0, 0.0, 100.0, 88_000.0, Regime.TREND, 0.002)
    assert decision.state is TradingState.ACTIVE
    assert decision.approved == pytest.approx(88.0)
    assert [a.rule for a in decision.actions] == ["soft_drawdown", "volatility_scaling", "max_position"]


@pytest.mark.parametrize(
    ("target", "position", "expected"),
    [
        (20.0, 50.0, 20.0),     # a reduction is allowed
        (80.0, 50.0, 50.0),     # an increase is held at the position
        (-20.0, 50.0, 0.0),     # a flip stops at flat
        (0.0, 50.0, 0.0),
        (-20.0, -50.0, -20.0),
        (-80.0, -50.0, -50.0),
        (30.0, -50.0, 0.0),
        (10.0, 0.0, 0.0),       # flat stays flat
    ],
)
def test_reduce_only_moves_toward_zero_without_crossing_it(target: float, position: float, expected: float) -> None:
    assert reduce_only(target, position) == expected


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_reduce_only_never_grows_or_flips_the_position(target: float, position: float) -> None:
    approved = reduce_only(target, position)
    assert abs(approved) <= abs(position)
    assert approved * position >= 0.0
    assert abs(approved) <= abs(target)
