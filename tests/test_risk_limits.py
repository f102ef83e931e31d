"""The latching limits: daily loss limit, soft and hard drawdown, circuit breaker."""
from __future__ import annotations

import pytest

from engine.config import CircuitBreakerSettings, RiskSettings, VaRSettings, VolatilityScalingSettings
from engine.regime.regime import Regime
from engine.risk import AdvancedRiskManager, TradingState

START = 100_000.0
PRICE = 100.0


def manager(**overrides: object) -> AdvancedRiskManager:
    """Only the latching limits act: caps wide open, no volatility scaling, no VaR."""
    fields: dict[str, object] = dict(
        daily_loss_limit=0.03, soft_drawdown=0.10, hard_drawdown=0.15, soft_drawdown_scale=0.5,
        max_position=1.0,
        regime_caps={r.label: 1.0 for r in Regime},
        volatility_scaling=VolatilityScalingSettings(enabled=False),
        var=VaRSettings(enabled=False),
        circuit_breaker=CircuitBreakerSettings(consecutive_losses=3, cooldown_bars=5),
    )
    fields.update(overrides)
    return AdvancedRiskManager(RiskSettings(**fields), START)


def check(mgr: AdvancedRiskManager, target: float, position: float, equity: float) -> float:
    return mgr.check(target, position, PRICE, equity, Regime.TREND, 0.0).approved


# -- daily loss limit -------------------------------------------------------------------------

def test_daily_loss_limit_blocks_new_exposure_once_hit() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    mgr.on_bar(1, 1, PRICE, 96_900.0)     # 3.1 % below the day's start
    assert mgr.state is TradingState.REDUCING
    decision = mgr.check(10.0, 0.0, PRICE, 96_900.0, Regime.TREND, 0.0)
    assert decision.approved == 0.0
    assert [a.rule for a in decision.actions] == ["daily_loss_limit"]


def test_daily_loss_limit_allows_reductions_but_no_flip() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    mgr.on_bar(1, 1, PRICE, 96_900.0)
    assert check(mgr, 20.0, 50.0, 96_900.0) == 20.0
    assert check(mgr, 80.0, 50.0, 96_900.0) == 50.0
    assert check(mgr, -20.0, 50.0, 96_900.0) == 0.0


def test_a_loss_short_of_the_daily_limit_leaves_trading_active() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    mgr.on_bar(1, 1, PRICE, 97_001.0)     # 2.999 % down
    assert mgr.state is TradingState.ACTIVE
    assert check(mgr, 10.0, 0.0, 97_001.0) == 10.0


def test_daily_loss_limit_holds_for_the_day_after_equity_recovers() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    mgr.on_bar(1, 1, PRICE, 96_900.0)
    mgr.on_bar(2, 1, PRICE, 101_000.0)
    assert mgr.state is TradingState.REDUCING
    assert check(mgr, 10.0, 0.0, 101_000.0) == 0.0


def test_daily_loss_limit_resets_on_the_next_session_day() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    mgr.on_bar(1, 1, PRICE, 96_900.0)
    mgr.on_bar(2, 2, PRICE, 96_900.0)
    assert mgr.state is TradingState.ACTIVE
    assert check(mgr, 10.0, 0.0, 96_900.0) == 10.0


def test_the_days_start_is_the_previous_close_equity() -> None:
    # Day 2 starts from day 1's last equity, 98,000: 96,000 is 2.04 % down, inside the
    # 3 % limit (it would be 4 % from the first day's 100,000).
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    mgr.on_bar(1, 1, PRICE, 98_000.0)
    mgr.on_bar(2, 2, PRICE, 96_000.0)
    assert mgr.state is TradingState.ACTIVE
    mgr.on_bar(3, 2, PRICE, 95_060.0)     # 3.0 % below 98,000 exactly
    assert mgr.state is TradingState.REDUCING


def test_an_overnight_gap_counts_against_the_day_it_opens() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    mgr.on_bar(1, 2, PRICE, 96_000.0)     # opens 4 % below yesterday's close
    assert mgr.state is TradingState.REDUCING


def test_a_session_day_going_back_is_an_error() -> None:
    mgr = manager()
    mgr.on_bar(0, 5, PRICE, START)
    with pytest.raises(ValueError, match="day=4"):
        mgr.on_bar(1, 4, PRICE, START)


# -- drawdown -----------------------------------------------------------------------------------

def test_soft_drawdown_halves_size() -> None:
    mgr = manager(daily_loss_limit=0.5)
    mgr.on_bar(0, 1, PRICE, 89_000.0)     # 11 % below the 100,000 peak
    decision = mgr.check(100.0, 0.0, PRICE, 89_000.0, Regime.TREND, 0.0)
    assert decision.state is TradingState.ACTIVE
    assert decision.approved == 50.0
    assert [a.rule for a in decision.actions] == ["soft_drawdown"]


def test_soft_drawdown_lifts_when_equity_recovers() -> None:
    mgr = manager(daily_loss_limit=0.5)
    mgr.on_bar(0, 1, PRICE, 89_000.0)
    mgr.on_bar(1, 1, PRICE, 91_000.0)     # 9 % below the peak
    assert check(mgr, 100.0, 0.0, 91_000.0) == 100.0


def test_drawdown_is_measured_from_the_highest_equity_seen() -> None:
    mgr = manager(daily_loss_limit=0.5)
    mgr.on_bar(0, 1, PRICE, 110_000.0)
    mgr.on_bar(1, 1, PRICE, 98_000.0)     # 10.9 % below 110,000, though below 100,000 by only 2 %
    assert check(mgr, 100.0, 0.0, 98_000.0) == 50.0


def test_hard_drawdown_halts_trading() -> None:
    mgr = manager(daily_loss_limit=0.5)
    mgr.on_bar(0, 1, PRICE, 85_000.0)     # 15 % below the peak
    assert mgr.state is TradingState.HALTED
    decision = mgr.check(0.0, 30.0, PRICE, 85_000.0, Regime.TREND, 0.0)
    assert decision.approved == 30.0
    assert [a.rule for a in decision.actions] == ["hard_drawdown"]


def test_hard_drawdown_halt_persists_after_a_recovery_until_rearmed() -> None:
    mgr = manager(daily_loss_limit=0.5)
    mgr.on_bar(0, 1, PRICE, 85_000.0)
    mgr.on_bar(1, 2, PRICE, 99_000.0)
    assert mgr.state is TradingState.HALTED
    mgr.rearm(confirm=True)
    assert mgr.state is TradingState.ACTIVE


def test_rearm_after_hard_drawdown_takes_the_current_equity_as_the_new_peak() -> None:
    mgr = manager(daily_loss_limit=0.5)
    mgr.on_bar(0, 1, PRICE, 84_000.0)
    mgr.rearm(confirm=True)
    mgr.on_bar(1, 1, PRICE, 84_000.0)
    assert mgr.state is TradingState.ACTIVE
    assert check(mgr, 100.0, 0.0, 84_000.0) == 100.0   # no soft-drawdown haircut either
    mgr.on_bar(2, 1, PRICE, 75_000.0)                  # 10.7 % below the new peak: soft
    assert check(mgr, 100.0, 0.0, 75_000.0) == 50.0


# -- circuit breaker ------------------------------------------------------------------------

def test_breaker_trips_after_the_set_number_of_losing_trades_in_a_row() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    mgr.on_trade_closed(-10.0)
    mgr.on_trade_closed(-10.0)
    assert mgr.state is TradingState.ACTIVE
    mgr.on_trade_closed(-10.0)
    assert mgr.state is TradingState.REDUCING
    assert check(mgr, 10.0, 0.0, START) == 0.0
    assert check(mgr, 5.0, 10.0, START) == 5.0


def test_breaker_cools_down_for_exactly_cooldown_bars() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    for _ in range(3):
        mgr.on_trade_closed(-10.0)
    for ts in range(1, 6):                 # the five bars after the trip are blocked
        mgr.on_bar(ts, 1, PRICE, START)
        assert mgr.state is TradingState.REDUCING, ts
    mgr.on_bar(6, 1, PRICE, START)
    assert mgr.state is TradingState.ACTIVE
    assert check(mgr, 10.0, 0.0, START) == 10.0


def test_a_winning_trade_resets_the_losing_streak() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    mgr.on_trade_closed(-10.0)
    mgr.on_trade_closed(-10.0)
    mgr.on_trade_closed(+5.0)
    mgr.on_trade_closed(-10.0)
    mgr.on_trade_closed(-10.0)
    assert mgr.state is TradingState.ACTIVE


def test_a_scratch_trade_neither_extends_nor_resets_the_streak() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    mgr.on_trade_closed(-10.0)
    mgr.on_trade_closed(-10.0)
    mgr.on_trade_closed(0.0)
    assert mgr.state is TradingState.ACTIVE
    mgr.on_trade_closed(-10.0)
    assert mgr.state is TradingState.REDUCING


def test_a_new_streak_during_the_cool_down_restarts_it() -> None:
    mgr = manager()
    mgr.on_bar(0, 1, PRICE, START)
    for _ in range(3):
        mgr.on_trade_closed(-10.0)
    for ts in range(1, 4):
        mgr.on_bar(ts, 1, PRICE, START)
    for _ in range(3):
        mgr.on_trade_closed(-10.0)
    for ts in range(4, 9):
        mgr.on_bar(ts, 1, PRICE, START)
        assert mgr.state is TradingState.REDUCING, ts
    mgr.on_bar(9, 1, PRICE, START)
    assert mgr.state is TradingState.ACTIVE
