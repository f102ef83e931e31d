"""Rolling one-bar historical VaR: the quantile, the rolling window, and the manager's VaR cap."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import RiskSettings, VaRSettings, VolatilityScalingSettings
from engine.regime.regime import Regime
from engine.risk import AdvancedRiskManager
from engine.risk.var import RollingHistoricalVaR, quantile_index


def prices_from_returns(returns: list[float], start: float = 100.0) -> list[float]:
    prices = [start]
    for r in returns:
        prices.append(prices[-1] * (1.0 + r))
    return prices


def textbook_quantile(values: list[float], p: float) -> float:
    """Type-7 quantile written out: sort, index (n-1)p, interpolate to the next value."""
    s = sorted(values)
    h = (len(s) - 1) * p
    lo = math.floor(h)
    if lo + 1 >= len(s):
        return s[lo]
    return s[lo] + (h - lo) * (s[lo + 1] - s[lo])


def test_quantile_index_of_five_values_at_ten_percent() -> None:
    # h = (5 - 1) * 0.1 = 0.4: the first value plus 40 % of the way to the second.
    lo, frac = quantile_index(5, 0.1)
    assert lo == 0
    assert frac == pytest.approx(0.4)


def test_var_losses_match_a_hand_computed_quantile() -> None:
    # Sorted returns: -0.04, -0.02, 0.005, 0.01, 0.03.
    # Long, p = 0.2: h = 0.8 -> -0.04 + 0.8 * 0.02 = -0.024, a loss of 2.4 %.
    # Short, p = 0.8: h = 3.2 -> 0.01 + 0.2 * 0.02 = 0.014, a loss of 1.4 %.
    var = RollingHistoricalVaR(lookback=5, confidence=0.8)
    for price in prices_from_returns([0.01, -0.02, 0.03, -0.04, 0.005]):
        var.update(price)
    assert var.long_loss == pytest.approx(0.024, abs=1e-12)
    assert var.short_loss == pytest.approx(0.014, abs=1e-12)


def test_var_is_zero_until_the_window_is_full() -> None:
    var = RollingHistoricalVaR(lookback=5, confidence=0.8)
    for price in prices_from_returns([-0.05, -0.05, -0.05, -0.05]):
        var.update(price)
    assert not var.ready
    assert var.long_loss == 0.0
    var.update(90.0)
    assert var.ready
    assert var.long_loss > 0.0


def test_var_loss_is_zero_when_the_tail_holds_no_losses() -> None:
    var = RollingHistoricalVaR(lookback=5, confidence=0.8)
    for price in prices_from_returns([0.01, 0.02, 0.01, 0.03, 0.02]):
        var.update(price)
    assert var.long_loss == 0.0
    assert var.short_loss > 0.0


@settings(max_examples=60, deadline=None)
@given(
    returns=st.lists(st.floats(-0.05, 0.05, allow_nan=False), min_size=1, max_size=120),
    lookback=st.integers(2, 40),
    confidence=st.floats(0.5, 0.995),
)
def test_rolling_window_equals_a_recomputation_from_scratch(
    returns: list[float], lookback: int, confidence: float
) -> None:
    var = RollingHistoricalVaR(lookback, confidence)
    prices = prices_from_returns(returns)
    seen: list[float] = []
    for previous, price in zip([math.nan] + prices[:-1], prices):
        var.update(price)
        if previous == previous:
            seen.append(price / previous - 1.0)
        window = seen[-lookback:]
        if len(window) < lookback:
            assert var.long_loss == 0.0 and var.short_loss == 0.0
            continue
        expected_long = max(0.0, -textbook_quantile(window, 1.0 - confidence))
        expected_short = max(0.0, textbook_quantile(window, confidence))
        assert var.long_loss == pytest.approx(expected_long, abs=1e-12)
        assert var.short_loss == pytest.approx(expected_short, abs=1e-12)
        assert var.long_loss == pytest.approx(max(0.0, -float(np.quantile(window, 1.0 - confidence))), abs=1e-12)


def _var_manager() -> tuple[AdvancedRiskManager, float]:
    """A manager whose only binding layer is VaR (95 %, 20 bars, 1 % of equity)."""
    settings = RiskSettings(
        max_position=1.0,
        regime_caps={r.label: 1.0 for r in Regime},
        volatility_scaling=VolatilityScalingSettings(enabled=False),
        var=VaRSettings(confidence=0.95, lookback_bars=20, limit=0.01),
    )
    mgr = AdvancedRiskManager(settings, 100_000.0)
    prices = prices_from_returns([-0.03, -0.01] + [0.001] * 18)
    for i, price in enumerate(prices):
        mgr.on_bar(i, 0, price, 100_000.0)
    return mgr, prices[-1]


def test_var_limit_shrinks_a_long_to_the_limit() -> None:
    # Sorted returns start -0.03, -0.01; p = 0.05, h = 19 * 0.05 = 0.95:
    # Q = -0.03 + 0.95 * 0.02 = -0.011, so a long loses 1.1 % in a bad bar.
    # 1 % of 100,000 = 1,000 of VaR allows 1,000 / (price * 0.011) shares.
    mgr, price = _var_manager()
    target = 95_000.0 / price
    decision = mgr.check(target, 0.0, price, 100_000.0, Regime.TREND, math.nan)
    assert decision.approved == pytest.approx(1_000.0 / (price * 0.011), rel=1e-9)
    assert [a.rule for a in decision.actions] == ["var"]
    assert "VaR" in decision.actions[0].reason


def test_var_limit_reads_the_right_tail_for_a_short() -> None:
    # The right tail is +0.1 %: a short of 95 % of equity risks 95 of VaR, far below 1,000.
    mgr, price = _var_manager()
    target = -95_000.0 / price
    decision = mgr.check(target, 0.0, price, 100_000.0, Regime.TREND, math.nan)
    assert decision.approved == target
    assert decision.actions == ()


def test_restored_window_keeps_only_the_newest_lookback_returns() -> None:
    var = RollingHistoricalVaR(lookback=3, confidence=0.8)
    var.load([-0.5, 0.01, 0.02, 0.03], last_price=100.0)
    assert var.returns() == (0.01, 0.02, 0.03)
    assert var.long_loss == 0.0


def test_var_refuses_a_confidence_outside_its_range() -> None:
    with pytest.raises(ValueError, match="confidence=1.0"):
        RollingHistoricalVaR(lookback=20, confidence=1.0)
