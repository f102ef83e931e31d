"""RewardTracker and PolicyAdaptor: attribution, fitness and bounded, normalised weights."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from engine.adaptation.adaptor import PolicyAdaptor, bounded_simplex
from engine.adaptation.rewards import RewardTracker
from engine.config import AdaptationSettings
from engine.regime.regime import Regime

AGENTS = ("trend", "mean_reversion", "volatility", "fvg")


def test_trade_result_is_split_by_share_and_booked_to_its_regime() -> None:
    r = RewardTracker(AGENTS, decay=0.5)
    r.record(pnl=100.0, equity=100_000.0, regime=Regime.TREND, shares=[("trend", 0.75), ("fvg", 0.25)])
    # 100 / 100,000 = 10 bps; EWMA with decay 0.5 from 0
    assert r.fitness[Regime.TREND]["trend"] == pytest.approx(0.5 * 10 * 0.75)
    assert r.fitness[Regime.TREND]["fvg"] == pytest.approx(0.5 * 10 * 0.25)
    assert r.fitness[Regime.MEAN_REVERSION]["trend"] == 0.0
    assert r.trades[Regime.TREND]["trend"] == 1 and r.trades[Regime.TREND]["volatility"] == 0


def adaptor(**kw: object) -> PolicyAdaptor:
    base = dict(learning_rate=0.5, update_interval_bars=3, weight_floor=0.05, weight_cap=0.7, fitness_decay=0.9)
    base.update(kw)
    return PolicyAdaptor(AdaptationSettings(**base), AGENTS)


def test_weights_move_toward_the_fitter_agent_on_schedule_only() -> None:
    a, r = adaptor(), RewardTracker(AGENTS, decay=0.9)
    r.record(500.0, 100_000.0, Regime.TREND, [("trend", 1.0)])
    r.record(-500.0, 100_000.0, Regime.TREND, [("fvg", 1.0)])
    assert a.on_bar(r) == [] and a.on_bar(r) == []  # bars 1 and 2: not yet
    changes = a.on_bar(r)
    w = a.weights[Regime.TREND]
    assert w["trend"] > 0.25 > w["fvg"]
    assert sum(w.values()) == pytest.approx(1.0)
    assert {c.agent for c in changes} >= {"trend"}
    assert a.weights[Regime.COMPRESSION] == {x: 0.25 for x in AGENTS}  # no trades there


def test_disabled_adaptation_never_moves_weights() -> None:
    a, r = adaptor(enabled=False, update_interval_bars=1), RewardTracker(AGENTS, decay=0.9)
    r.record(500.0, 100_000.0, Regime.TREND, [("trend", 1.0)])
    for _ in range(10):
        a.on_bar(r)
    assert a.weights[Regime.TREND] == {x: 0.25 for x in AGENTS}


def test_weights_respect_the_cap_after_many_updates() -> None:
    a, r = adaptor(update_interval_bars=1, weight_cap=0.4), RewardTracker(AGENTS, decay=0.9)
    for _ in range(50):
        r.record(1000.0, 100_000.0, Regime.TREND, [("trend", 1.0)])
        a.on_bar(r)
    assert max(a.weights[Regime.TREND].values()) == pytest.approx(0.4)
    assert min(a.weights[Regime.TREND].values()) >= 0.05 - 1e-12


def test_table_restore_round_trip() -> None:
    a, r = adaptor(update_interval_bars=1), RewardTracker(AGENTS, decay=0.9)
    r.record(1000.0, 100_000.0, Regime.EXPANSION, [("volatility", 1.0)])
    a.on_bar(r)
    b = adaptor()
    b.restore(a.table())
    assert b.weights == a.weights


@given(
    st.lists(st.floats(0.0, 10.0), min_size=1, max_size=8),
    st.floats(0.0, 0.12), st.floats(0.2, 1.0),
)
def test_bounded_simplex_sums_to_one_within_bounds(values: list[float], floor: float, cap: float) -> None:
    n = len(values)
    out = bounded_simplex(values, floor, cap)
    assert sum(out) == pytest.approx(1.0)
    if n * floor <= 1.0 <= n * cap:
        assert all(floor - 1e-9 <= w <= cap + 1e-9 for w in out)
