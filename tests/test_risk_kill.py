"""The kill switch, re-arming, and the events the manager reports."""
from __future__ import annotations

import pytest

from engine.config import RiskSettings
from engine.regime.regime import Regime
from engine.risk import AdvancedRiskManager, RiskEvent, TradingState

START = 100_000.0
PRICE = 100.0


def manager(**overrides: object) -> AdvancedRiskManager:
    mgr = AdvancedRiskManager(RiskSettings(**overrides), START)
    mgr.on_bar(1_000, 1, PRICE, START)
    return mgr


def test_kill_halts_at_once_and_keeps_the_position() -> None:
    mgr = manager()
    mgr.kill("operator pressed the button")
    assert mgr.state is TradingState.HALTED
    for target in (50.0, 0.0, -30.0):
        decision = mgr.check(target, 30.0, PRICE, START, Regime.TREND, 0.0)
        assert decision.approved == 30.0
        assert decision.actions[0].rule == "kill_switch"


def test_kill_reports_that_the_engine_should_flatten() -> None:
    assert manager().kill("stop") is True
    assert manager(flatten_on_kill=False).kill("stop") is False


def test_kill_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        manager().kill("  ")


def test_rearm_without_confirmation_is_refused() -> None:
    mgr = manager()
    mgr.kill("stop")
    with pytest.raises(ValueError, match="confirm=False"):
        mgr.rearm(confirm=False)
    with pytest.raises(ValueError, match="confirm"):
        mgr.rearm("yes")  # type: ignore[arg-type]
    assert mgr.state is TradingState.HALTED


def test_rearm_with_confirmation_resumes_trading() -> None:
    mgr = manager()
    mgr.kill("stop")
    mgr.rearm(confirm=True)
    assert mgr.state is TradingState.ACTIVE
    assert mgr.kill_reason == ""
    assert mgr.check(10.0, 0.0, PRICE, START, Regime.TREND, 0.0).approved == 10.0


def test_a_second_kill_keeps_the_first_reason() -> None:
    mgr = manager()
    mgr.kill("first")
    mgr.kill("second")
    assert mgr.kill_reason == "first"
    assert [e.what for e in mgr.drain_events() if e.rule == "kill_switch"] == ["killed"]


def test_rearm_does_not_lift_the_daily_loss_limit() -> None:
    mgr = manager()
    mgr.on_bar(2_000, 1, PRICE, 96_000.0)
    mgr.kill("stop")
    mgr.rearm(confirm=True)
    assert mgr.state is TradingState.REDUCING


def test_kill_and_rearm_are_reported_as_events_with_the_bar_time() -> None:
    mgr = manager()
    mgr.drain_events()
    mgr.kill("news halt")
    mgr.rearm(confirm=True)
    events = mgr.drain_events()
    assert events[0] == RiskEvent("kill_switch", "killed", "news halt; flatten the position", 1_000)
    assert events[1].rule == "trading_state" and events[1].what == "ACTIVE -> HALTED"
    assert "news halt" in events[1].reason
    assert events[2].what == "rearmed"
    assert events[3].what == "HALTED -> ACTIVE"
    assert mgr.drain_events() == []


def test_events_are_emitted_on_change_not_every_bar() -> None:
    mgr = manager()
    mgr.drain_events()
    for ts in range(10):
        mgr.on_bar(2_000 + ts, 1, PRICE, 96_000.0)   # below the daily limit all the time
    events = mgr.drain_events()
    assert [(e.rule, e.what) for e in events] == [("daily_loss_limit", "hit"), ("trading_state", "ACTIVE -> REDUCING")]
    assert events[0].ts == 2_000
    assert "4.00%" in events[0].reason
    mgr.on_bar(3_000, 2, PRICE, 96_000.0)
    assert [(e.rule, e.what) for e in mgr.drain_events()] == [
        ("daily_loss_limit", "reset"), ("trading_state", "REDUCING -> ACTIVE")]


def test_an_unchanged_decision_with_nothing_binding_is_reused() -> None:
    mgr = manager()
    first = mgr.check(0.0, 0.0, PRICE, START, Regime.TREND, 0.0)
    second = mgr.check(0.0, 0.0, PRICE, START, Regime.TREND, 0.0)
    assert first is second
    assert first.approved == 0.0 and first.actions == ()
