"""Snapshot and restore: a restart resumes daily counters, peak, breaker, VaR window and halts."""
from __future__ import annotations

import json
import math

import pytest

from engine.config import CircuitBreakerSettings, RiskSettings, VaRSettings
from engine.regime.regime import Regime
from engine.risk import AdvancedRiskManager, RiskSnapshot, TradingState

SETTINGS = RiskSettings(
    circuit_breaker=CircuitBreakerSettings(consecutive_losses=3, cooldown_bars=10),
    var=VaRSettings(lookback_bars=20, confidence=0.95, limit=0.002),
)


def busy_manager() -> AdvancedRiskManager:
    """A manager with every kind of state set: a hit daily limit, a peak, a cool-down, a VaR window."""
    mgr = AdvancedRiskManager(SETTINGS, 100_000.0)
    price = 100.0
    for i in range(30):
        price *= 1.0 + (0.004 if i % 3 else -0.006)
        mgr.on_bar(i, 7, price, 100_000.0 + 10.0 * i)
    mgr.on_trade_closed(-1.0)
    for _ in range(3):
        mgr.on_trade_closed(-5.0)
    mgr.on_trade_closed(-2.0)
    mgr.on_bar(30, 7, price, 101_000.0)
    mgr.on_bar(31, 7, price, 96_500.0)    # 3.5 % below the day's start of 100,000
    return mgr


def through_json(snapshot: RiskSnapshot) -> RiskSnapshot:
    return RiskSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict(), allow_nan=False)))


def test_snapshot_round_trips_through_json() -> None:
    snapshot = busy_manager().snapshot()
    assert through_json(snapshot) == snapshot
    assert snapshot.daily_limit_hit and snapshot.breaker_blocking
    assert snapshot.consecutive_losses == 2   # the trip restarted the count
    assert len(snapshot.returns) == 20


def test_a_restored_manager_decides_exactly_as_the_original() -> None:
    original = busy_manager()
    restored = AdvancedRiskManager(SETTINGS, 1.0)
    restored.restore(through_json(original.snapshot()))
    assert restored.state is original.state is TradingState.REDUCING
    assert restored.snapshot() == original.snapshot()
    price = 105.0
    for i in range(32, 60):
        price *= 1.0 + 0.003 * math.sin(i)
        for mgr in (original, restored):
            mgr.on_bar(i, 7 + i // 40, price, 96_000.0 + 100.0 * math.cos(i))
            if i == 45:
                mgr.on_trade_closed(-3.0)
        a = original.check(300.0, 40.0, price, 96_000.0, Regime(i % 4), 0.002)
        b = restored.check(300.0, 40.0, price, 96_000.0, Regime(i % 4), 0.002)
        assert (a.approved, a.state) == (b.approved, b.state)
        assert [x.reason for x in a.actions] == [x.reason for x in b.actions]


def test_a_restart_stays_halted_after_a_kill() -> None:
    mgr = AdvancedRiskManager(SETTINGS, 100_000.0)
    mgr.on_bar(0, 1, 100.0, 100_000.0)
    mgr.kill("manual")
    restored = AdvancedRiskManager(SETTINGS, 100_000.0)
    restored.restore(through_json(mgr.snapshot()))
    assert restored.state is TradingState.HALTED
    assert restored.kill_reason == "manual"
    assert restored.check(10.0, 0.0, 100.0, 100_000.0, Regime.TREND, 0.0).approved == 0.0
    assert [(e.rule, e.what) for e in restored.drain_events()] == [("risk_manager", "restored")]


def test_a_snapshot_taken_before_the_first_bar_round_trips() -> None:
    snapshot = AdvancedRiskManager(SETTINGS, 100_000.0).snapshot()
    back = through_json(snapshot)
    assert back.day is None and back.last_price is None and math.isnan(back.day_start_equity)
    restored = AdvancedRiskManager(SETTINGS, 5.0)
    restored.restore(back)
    restored.on_bar(0, 1, 100.0, 96_000.0)    # the day starts from the snapshot's 100,000
    assert restored.state is TradingState.REDUCING


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown keys \\['colour'\\]"),
        ({"peak_equity": "100000"}, "peak_equity='100000': expected a finite number"),
        ({"killed": 1}, "killed=1: expected true or false"),
        ({"cooldown_bars_left": -2}, "cooldown_bars_left=-2: expected a count >= 0"),
        ({"version": 99}, "version=99"),
    ],
)
def test_a_bad_snapshot_dict_is_refused_naming_the_key(change: dict[str, object], message: str) -> None:
    data = busy_manager().snapshot().to_dict() | change
    with pytest.raises(ValueError, match=message):
        RiskSnapshot.from_dict(data)


def test_a_snapshot_dict_missing_a_key_is_refused() -> None:
    data = busy_manager().snapshot().to_dict()
    del data["peak_equity"]
    with pytest.raises(ValueError, match="missing keys \\['peak_equity'\\]"):
        RiskSnapshot.from_dict(data)


def test_new_settings_take_over_through_snapshot_and_restore_keeping_the_state() -> None:
    # The engine swaps risk settings between bars this way; a halt must survive the swap.
    mgr = AdvancedRiskManager(SETTINGS, 100_000.0)
    mgr.on_bar(0, 1, 100.0, 100_000.0)
    mgr.kill("manual")
    tighter = RiskSettings(max_position=0.05, var=VaRSettings(enabled=False))
    swapped = AdvancedRiskManager(tighter, 100_000.0)
    swapped.restore(mgr.snapshot())
    assert swapped.state is TradingState.HALTED
    swapped.rearm(confirm=True)
    # 5 % of 100,000 at 100 is 50 shares.
    assert swapped.check(80.0, 0.0, 100.0, 100_000.0, Regime.TREND, 0.0).approved == 50.0
