"""Red flags: each flag fires on its condition, once per episode, with thresholds honoured."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.observability.red_flags import Alert, Observation, RedFlag, RedFlagMonitor, Severity

T0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)


def ts(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def run(monitor: RedFlagMonitor, observations: list[Observation]) -> list[Alert]:
    return [alert for obs in observations for alert in monitor.observe(obs)]


def rising_edges(conditions: list[bool]) -> list[int]:
    return [i for i, c in enumerate(conditions) if c and (i == 0 or not conditions[i - 1])]


def test_daily_loss_hit_raises_one_critical_alert_per_episode() -> None:
    hits = [False, True, True, True, False, False, True, True]
    alerts = run(RedFlagMonitor(), [Observation(ts(i), daily_loss_hit=h, day_pnl_pct=-0.031) for i, h in enumerate(hits)])
    assert [a.ts for a in alerts] == [ts(1), ts(6)]
    assert all(a.flag is RedFlag.DAILY_LOSS and a.severity is Severity.CRITICAL for a in alerts)
    assert "stop trading immediately" in alerts[0].text
    assert "-3.10%" in alerts[0].text


def test_hard_drawdown_hit_raises_a_critical_alert_once() -> None:
    alerts = run(RedFlagMonitor(), [Observation(ts(i), hard_drawdown_hit=True, drawdown=-0.152) for i in range(5)])
    assert len(alerts) == 1
    assert alerts[0].flag is RedFlag.HARD_DRAWDOWN
    assert alerts[0].severity is Severity.CRITICAL
    assert "-15.20%" in alerts[0].text


def test_circuit_breaker_raises_a_review_warning_each_time_it_trips() -> None:
    active = [False, True, True, False, True]
    alerts = run(RedFlagMonitor(), [Observation(ts(i), circuit_breaker_active=a) for i, a in enumerate(active)])
    assert [(a.ts, a.flag, a.severity) for a in alerts] == [
        (ts(1), RedFlag.CIRCUIT_BREAKER, Severity.WARNING),
        (ts(4), RedFlag.CIRCUIT_BREAKER, Severity.WARNING),
    ]
    assert "review" in alerts[0].text


def test_flags_at_the_same_bar_are_all_reported() -> None:
    obs = Observation(ts(0), daily_loss_hit=True, hard_drawdown_hit=True, circuit_breaker_active=True)
    assert {a.flag for a in RedFlagMonitor().observe(obs)} == {
        RedFlag.DAILY_LOSS, RedFlag.HARD_DRAWDOWN, RedFlag.CIRCUIT_BREAKER,
    }


@given(st.lists(st.booleans(), max_size=60))
def test_a_flag_fires_exactly_at_the_rising_edges_of_its_condition(hits: list[bool]) -> None:
    alerts = run(RedFlagMonitor(), [Observation(ts(i), daily_loss_hit=h) for i, h in enumerate(hits)])
    assert [a.ts for a in alerts] == [ts(i) for i in rising_edges(hits)]


# -- weight swings ----------------------------------------------------------------------------

def swing_conditions(weights: list[float], window: int, threshold: float) -> list[bool]:
    """Reference: at bar i, the range of the weights at bars i-window .. i exceeds the threshold."""
    out = []
    for i in range(len(weights)):
        seen = weights[max(0, i - window): i + 1]
        out.append(max(seen) - min(seen) > threshold)
    return out


def test_a_weight_moving_more_than_the_threshold_within_the_window_is_flagged() -> None:
    monitor = RedFlagMonitor(swing_threshold=0.1, swing_window_bars=3)
    path = [0.30, 0.32, 0.35, 0.39, 0.45, 0.45, 0.45, 0.45, 0.45]
    alerts = run(monitor, [Observation(ts(i), weights={"trend": w}) for i, w in enumerate(path)])
    # 0.45 - 0.32 = 0.13 > 0.1 at bar 4 (bars 1..4 in the window); quiet again once all are 0.45.
    assert [(a.ts, a.flag) for a in alerts] == [(ts(4), RedFlag.WEIGHT_SWING)]
    assert "trend" in alerts[0].text and "0.13" in alerts[0].text


def test_a_slow_drift_within_the_window_is_not_a_swing() -> None:
    monitor = RedFlagMonitor(swing_threshold=0.1, swing_window_bars=3)
    path = [0.30 + 0.03 * i for i in range(12)]   # 0.09 per 3 bars
    assert run(monitor, [Observation(ts(i), weights={"trend": w}) for i, w in enumerate(path)]) == []


def test_swings_are_judged_per_weight_key() -> None:
    monitor = RedFlagMonitor(swing_threshold=0.1, swing_window_bars=5)
    observations = [
        Observation(ts(0), weights={"trend/trend": 0.3, "trend/fvg": 0.2}),
        Observation(ts(1), weights={"trend/trend": 0.5, "trend/fvg": 0.2}),
        Observation(ts(2), weights={"trend/trend": 0.5, "trend/fvg": 0.4}),
    ]
    alerts = run(monitor, observations)
    assert [(a.ts, a.text.split()[2]) for a in alerts] == [(ts(1), "trend/trend"), (ts(2), "trend/fvg")]


@settings(max_examples=60)
@given(
    st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=80),
    st.integers(1, 10),
    st.floats(0.01, 0.5),
)
def test_weight_swing_alerts_match_the_reference_rising_edges(weights: list[float], window: int, threshold: float) -> None:
    monitor = RedFlagMonitor(swing_threshold=threshold, swing_window_bars=window)
    alerts = run(monitor, [Observation(ts(i), weights={"a": w}) for i, w in enumerate(weights)])
    expected = rising_edges(swing_conditions(weights, window, threshold))
    assert [a.ts for a in alerts if a.flag is RedFlag.WEIGHT_SWING] == [ts(i) for i in expected]


# -- dominance --------------------------------------------------------------------------------

def test_an_agent_above_the_dominance_weight_for_the_whole_stretch_is_flagged_once() -> None:
    monitor = RedFlagMonitor(dominance_weight=0.6, dominance_bars=4, swing_threshold=0.9)
    path = [0.65] * 10
    alerts = run(monitor, [Observation(ts(i), weights={"fvg": w}) for i, w in enumerate(path)])
    assert [(a.ts, a.flag) for a in alerts] == [(ts(3), RedFlag.AGENT_DOMINANCE)]
    assert "fvg" in alerts[0].text and "4 bars" in alerts[0].text


def test_a_dip_below_the_dominance_weight_restarts_the_stretch() -> None:
    monitor = RedFlagMonitor(dominance_weight=0.6, dominance_bars=4, swing_threshold=0.9)
    path = [0.7, 0.7, 0.7, 0.6, 0.7, 0.7, 0.7, 0.7]   # 0.6 is not above 0.6
    alerts = run(monitor, [Observation(ts(i), weights={"fvg": w}) for i, w in enumerate(path)])
    assert [a.ts for a in alerts] == [ts(7)]


@settings(max_examples=60)
@given(st.lists(st.sampled_from([0.5, 0.61, 0.8]), max_size=60), st.integers(1, 8))
def test_dominance_alerts_match_the_reference(weights: list[float], bars: int) -> None:
    monitor = RedFlagMonitor(dominance_weight=0.6, dominance_bars=bars, swing_threshold=0.99)
    alerts = run(monitor, [Observation(ts(i), weights={"a": w}) for i, w in enumerate(weights)])
    conditions = [i + 1 >= bars and all(w > 0.6 for w in weights[i + 1 - bars: i + 1]) for i in range(len(weights))]
    assert [a.ts for a in alerts] == [ts(i) for i in rising_edges(conditions)]


# -- no-trade with high confidence ------------------------------------------------------------

def test_too_many_high_confidence_no_trades_in_the_window_is_flagged_once() -> None:
    monitor = RedFlagMonitor(no_trade_limit=2, no_trade_window_bars=5)
    flags = [True, False, True, False, True, True, False, False, False, False, False]
    alerts = run(monitor, [Observation(ts(i), high_confidence_no_trade=f) for i, f in enumerate(flags)])
    assert [(a.ts, a.flag) for a in alerts] == [(ts(4), RedFlag.HIGH_CONFIDENCE_NO_TRADE)]
    assert "3 high-confidence no-trade decisions in the last 5 bars" in alerts[0].text
    assert "too conservative" in alerts[0].text


@settings(max_examples=60)
@given(st.lists(st.booleans(), max_size=80), st.integers(1, 5), st.integers(6, 12))
def test_no_trade_alerts_match_a_sliding_window_count(flags: list[bool], limit: int, window: int) -> None:
    monitor = RedFlagMonitor(no_trade_limit=limit, no_trade_window_bars=window)
    alerts = run(monitor, [Observation(ts(i), high_confidence_no_trade=f) for i, f in enumerate(flags)])
    conditions = [sum(flags[max(0, i + 1 - window): i + 1]) > limit for i in range(len(flags))]
    assert [a.ts for a in alerts] == [ts(i) for i in rising_edges(conditions)]


# -- thresholds -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"swing_threshold": 0.0}, "swing_threshold"),
        ({"swing_window_bars": 0}, "swing_window_bars"),
        ({"dominance_weight": 1.0}, "dominance_weight"),
        ({"dominance_bars": -1}, "dominance_bars"),
        ({"no_trade_limit": 10, "no_trade_window_bars": 10}, "no_trade_limit"),
    ],
)
def test_bad_thresholds_are_refused_with_their_name(kwargs: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        RedFlagMonitor(**kwargs)  # type: ignore[arg-type]
