"""Bad input to the risk manager is refused with the input, the value and what was expected."""
from __future__ import annotations

import math

import pytest

from engine.config import RiskSettings
from engine.regime.regime import Regime
from engine.risk import AdvancedRiskManager


@pytest.fixture
def mgr() -> AdvancedRiskManager:
    m = AdvancedRiskManager(RiskSettings(), 100_000.0)
    m.on_bar(0, 1, 100.0, 100_000.0)
    return m


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan, math.inf])
def test_on_bar_refuses_a_price_that_is_not_positive_and_finite(mgr: AdvancedRiskManager, price: float) -> None:
    with pytest.raises(ValueError, match="on_bar price=.*positive finite"):
        mgr.on_bar(1, 1, price, 100_000.0)


def test_on_bar_refuses_a_nan_equity(mgr: AdvancedRiskManager) -> None:
    with pytest.raises(ValueError, match="on_bar equity=nan"):
        mgr.on_bar(1, 1, 100.0, math.nan)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((math.nan, 0.0, 100.0, 1e5, Regime.TREND, 0.0), "target=nan"),
        ((1.0, math.inf, 100.0, 1e5, Regime.TREND, 0.0), "position=inf"),
        ((1.0, 0.0, -3.0, 1e5, Regime.TREND, 0.0), "price=-3.0"),
        ((1.0, 0.0, 100.0, 1e5, Regime.TREND, -0.01), "bar_vol=-0.01"),
        ((1.0, 0.0, 100.0, 1e5, 9, 0.0), "regime=9"),
    ],
)
def test_check_refuses_bad_input(mgr: AdvancedRiskManager, args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mgr.check(*args)


def test_on_trade_closed_refuses_a_nan_pnl(mgr: AdvancedRiskManager) -> None:
    with pytest.raises(ValueError, match="pnl=nan"):
        mgr.on_trade_closed(math.nan)


@pytest.mark.parametrize("equity", [0.0, -5.0, math.nan])
def test_the_manager_needs_a_positive_initial_equity(equity: float) -> None:
    with pytest.raises(ValueError, match="initial_equity="):
        AdvancedRiskManager(RiskSettings(), equity)


def test_every_regime_needs_a_cap() -> None:
    settings = RiskSettings(regime_caps={"trend": 1.0, "mean_reversion": 0.8})
    with pytest.raises(ValueError, match="regime_caps has no cap for \\['compression', 'expansion'\\]"):
        AdvancedRiskManager(settings, 100_000.0)
