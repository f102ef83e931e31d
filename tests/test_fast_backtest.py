"""The compiled backtest makes the decisions stepping makes, bar for bar, in every configuration.

"Same" means equal, not close: equity, drawdown and position of every bar, every trade, the
stats, the breakdowns, the final weights and fitness and the number of events logged.
"""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as st

from engine.agents.base import Agent, Intent
from engine.backtest.backtester import Backtester, BacktestResult
from engine.backtest.fast import regime_codes
from engine.backtest.setup import backtest_settings
from engine.config import Settings, deep_merge, load_settings, validate
from engine.data.bar import BarSeries
from engine.data.synthetic import generate_bars
from engine.engine import Engine
from engine.features.frame import FeatureRow
from engine.features.pipeline import compute_features
from engine.observability.events import EventLogger
from engine.regime.engine import RegimeEngine
from engine.regime.regime import Regime


@pytest.fixture(scope="module")
def series() -> BarSeries:
    return generate_bars("QQQ", days=30, seed=11)


def _with(base: Settings, **sections: dict[str, Any]) -> Settings:
    return validate(deep_merge(base.to_dict(), sections))


def assert_same(fast: BacktestResult, step: BacktestResult) -> None:
    for name in ("ts", "close", "equity", "drawdown", "position", "regime"):
        a, b = getattr(fast, name), getattr(step, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), f"{name} differs from bar {_first_diff(a, b)}"
    assert fast.trades == step.trades
    assert repr(fast.stats) == repr(step.stats)  # repr: NaN stats compare equal, floats exactly
    assert repr(fast.by_regime) == repr(step.by_regime) and repr(fast.by_agent) == repr(step.by_agent)
    assert fast.weights == step.weights and fast.fitness == step.fitness
    assert fast.events == step.events and fast.cancelled == step.cancelled


def _first_diff(a: np.ndarray, b: np.ndarray) -> int:
    if len(a) != len(b):
        return min(len(a), len(b))
    return int(np.flatnonzero(a != b)[0])


def both(settings: Settings, series: BarSeries, **kwargs: Any) -> tuple[BacktestResult, BacktestResult]:
    fast = Backtester(settings, **kwargs).run(series)
    step = Backtester(settings, fast=False, **kwargs).run(series)
    assert_same(fast, step)
    return fast, step


def rules_fired(settings: Settings, series: BarSeries) -> set[str]:
    """The risk rules the stepping engine logged on this run (a run with a log steps)."""
    log = EventLogger(keep=1_000_000)
    Backtester(settings, events=log).run(series)
    return {e.payload["rule"] for e in log.recent if e.type == "risk_event"}


def test_the_default_full_pipeline(series: BarSeries) -> None:
    fast, _ = both(load_settings(), series)
    assert fast.stats.trades > 500 and fast.events > 0
    assert any(abs(w - 0.25) > 0.05 for per_agent in fast.weights.values() for w in per_agent.values())


def test_the_safe_live_preset(series: BarSeries) -> None:
    fast, _ = both(load_settings(Path(__file__).parents[1] / "config" / "safe_live_config.yaml"), series)
    assert fast.stats.trades > 0


def test_sma_cross_alone_without_risk_adaptation_or_costs(series: BarSeries) -> None:
    settings = backtest_settings(load_settings(), agents=["sma_cross"], adaptation=False, risk=False,
                                 commission_per_share=0.0, slippage_bps=0.0)
    fast, _ = both(settings, series)
    assert fast.stats.trades > 100 and set(fast.by_agent) == {"sma_cross"}


def test_close_fills_volume_cap_atr_slippage_and_bps_commission(series: BarSeries) -> None:
    settings = _with(load_settings(), execution={"fill": "close", "max_volume_share": 0.0005,
                                                  "slippage_atr": 0.05, "commission_bps": 0.5})
    # Orders wait out the ATR warm-up: ATR slippage needs a finite ATR.
    fast, _ = both(settings, series.slice(20, len(series)))
    partial = [t for t in fast.trades if t.qty != round(t.qty)]
    assert partial, "the volume cap should leave fractional fills in this run"


def test_tight_limits_fire_every_risk_layer(series: BarSeries) -> None:
    settings = _with(load_settings(), risk={
        "daily_loss_limit": 0.0015, "soft_drawdown": 0.002, "hard_drawdown": 0.004, "max_position": 0.9,
        "circuit_breaker": {"consecutive_losses": 2, "cooldown_bars": 15},
        "var": {"lookback_bars": 60, "limit": 0.0004},
        "regime_caps": {"trend": 1.0, "mean_reversion": 0.5, "compression": 0.3, "expansion": 0.8},
    })
    both(settings, series)
    fired = rules_fired(settings, series)
    assert {"daily_loss_limit", "soft_drawdown", "hard_drawdown", "circuit_breaker", "trading_state"} <= fired
    engine = Engine(settings, symbol=series.symbol)
    acted = {a.rule for bar in series for a in engine.step(bar).risk_actions}
    assert {"var", "regime_cap", "volatility_scaling", "soft_drawdown", "hard_drawdown"} <= acted


def test_a_plugin_agent_without_vectorised_intents(series: BarSeries) -> None:
    class EveryThird(Agent):
        """Stateful: long on every third bar it sees, short on the next, silent otherwise."""

        name = "every_third"

        def __init__(self) -> None:
            self.seen = 0

        def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
            self.seen += 1
            if self.seen % 3 == 0:
                return self.long(0.7, 0.9, "third")
            if self.seen % 3 == 1 and regime is not Regime.COMPRESSION:
                return self.short(0.4, 0.6, "after")
            return None

    from engine.agents.builtin import TrendAgent

    def agents() -> list[Agent]:
        trend = TrendAgent()
        trend.name = "trend"
        return [EveryThird(), trend]

    short = series.slice(0, 3_000)
    fast = Backtester(load_settings(), agents=agents()).run(short)
    step = Backtester(load_settings(), agents=agents(), fast=False).run(short)
    assert_same(fast, step)
    assert fast.by_agent.get("every_third") is not None


@hyp_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 50),
    agents=st.lists(st.sampled_from(["trend", "mean_reversion", "volatility", "fvg", "sma_cross"]),
                    min_size=1, max_size=5, unique=True),
    max_position=st.floats(0.05, 1.0), band=st.floats(0.0, 0.5), min_confidence=st.floats(0.01, 0.9),
    conflict=st.floats(0.01, 0.6), daily=st.floats(0.001, 0.05), soft=st.floats(0.001, 0.05),
    hard_gap=st.floats(0.001, 0.05), vol_on=st.booleans(), var_on=st.booleans(),
    fill=st.sampled_from(["next_open", "close"]), volume_share=st.one_of(st.none(), st.floats(0.0001, 0.01)),
    slippage_bps=st.floats(0.0, 5.0), adapt=st.booleans(), interval=st.integers(1, 120),
)
def test_random_configurations(seed: int, agents: list[str], max_position: float, band: float,
                               min_confidence: float, conflict: float, daily: float, soft: float,
                               hard_gap: float, vol_on: bool, var_on: bool, fill: str,
                               volume_share: float | None, slippage_bps: float, adapt: bool,
                               interval: int) -> None:
    series = generate_bars("SPY", days=3, seed=seed)
    settings = _with(
        backtest_settings(load_settings(), agents=agents, adaptation=adapt),
        policy={"rebalance_band": band, "min_confidence": min_confidence, "conflict_threshold": conflict},
        adaptation={"update_interval_bars": interval},
        risk={"max_position": max_position, "daily_loss_limit": daily, "soft_drawdown": soft,
              "hard_drawdown": soft + hard_gap, "volatility_scaling": {"enabled": vol_on},
              "var": {"enabled": var_on, "lookback_bars": 30}},
        execution={"fill": fill, "max_volume_share": volume_share, "slippage_bps": slippage_bps},
    )
    both(settings, series)


def test_the_fast_path_equals_engine_step_bar_by_bar() -> None:
    """Not only the stepping backtester: the streaming `Engine.step` itself, features and all."""
    series = generate_bars("AAPL", days=6, seed=5)
    settings = load_settings()
    fast = Backtester(settings).run(series)
    engine = Engine(settings, symbol=series.symbol, events=EventLogger(keep=100_000))
    results = [engine.step(bar) for bar in series]
    assert np.array_equal(fast.equity, [r.equity for r in results])
    assert np.array_equal(fast.position, [r.position for r in results])
    assert np.array_equal(fast.regime, [int(r.regime.regime) for r in results])
    assert list(fast.trades) == [t for r in results for t in r.trades]
    assert fast.weights == engine.adaptor.table() and fast.fitness == engine.rewards.table()


def test_progress_reports_and_cancel_leave_a_true_prefix(series: BarSeries) -> None:
    settings = load_settings()
    seen: list[tuple[int, int]] = []
    full = Backtester(settings).run(series, progress=lambda d, n: seen.append((d, n)), progress_every=3_000)
    step_seen: list[tuple[int, int]] = []
    Backtester(settings, fast=False).run(series, progress=lambda d, n: step_seen.append((d, n)),
                                         progress_every=3_000)
    assert seen == step_seen and seen[-1] == (len(series), len(series))

    cancel = threading.Event()

    def stop_after_first(done: int, total: int) -> None:
        cancel.set()

    cut = Backtester(settings).run(series, progress=stop_after_first, cancel=cancel, progress_every=3_000)
    assert cut.cancelled and 0 < cut.bars < len(series)
    assert np.array_equal(cut.equity, full.equity[:cut.bars])
    assert list(cut.trades) == [t for t in full.trades if t.exit_ts <= int(cut.ts[-1])]


def test_a_bar_the_fast_path_cannot_judge_raises_the_engines_own_error(series: BarSeries) -> None:
    # ATR slippage on an order placed while ATR is still warming up: the engine refuses it.
    settings = _with(backtest_settings(load_settings(), agents=["sma_cross"], risk=False),
                     execution={"slippage_atr": 0.1}, agents={"params": {"sma_cross": {"fast": 2, "slow": 3}}})
    with pytest.raises(ValueError) as stepped:
        Backtester(settings, fast=False).run(series.slice(0, 200))
    with pytest.raises(ValueError) as fast:
        Backtester(settings).run(series.slice(0, 200))
    assert str(fast.value) == str(stepped.value) and "slippage_atr" in str(fast.value)


def test_regime_codes_and_flips_equal_the_replay(series: BarSeries) -> None:
    settings = load_settings()
    frame = compute_features(series, settings)
    codes, flipped = regime_codes(frame, settings)
    states = list(RegimeEngine(settings.regime).replay(frame))
    assert np.array_equal(codes, [int(s.regime) for s in states])
    assert np.array_equal(flipped, [s.flipped for s in states]) and flipped.sum() > 10


def test_a_run_with_an_event_log_steps_and_logs_every_event(series: BarSeries) -> None:
    log = EventLogger(keep=1_000_000)
    logged = Backtester(load_settings(), events=log).run(series.slice(0, 5_000))
    fast = Backtester(load_settings()).run(series.slice(0, 5_000))
    assert logged.events == fast.events == len(log.recent) > 0
    assert logged.trades == fast.trades


def test_without_regimes_sma_cross_makes_the_same_trades_without_labels(series: BarSeries) -> None:
    settings = backtest_settings(load_settings(), agents=["sma_cross"], adaptation=False, risk=False)
    labelled = Backtester(settings).run(series)
    bare = Backtester(settings, regimes=False).run(series)
    for name in ("equity", "drawdown", "position"):
        assert np.array_equal(getattr(bare, name), getattr(labelled, name))
    assert bare.trades == tuple(dataclasses.replace(t, regime="") for t in labelled.trades)
    assert {t.regime for t in labelled.trades} - {""}, "the labelled run names regimes"
    assert np.all(bare.regime == -1) and bare.by_regime == {} and not bare.regimes
    flips = int(regime_codes(compute_features(series, settings), settings)[1].sum())
    assert flips > 0 and bare.events == labelled.events - flips
    assert repr(bare.stats) == repr(labelled.stats)


def test_without_regimes_a_run_whose_decisions_read_the_regime_is_refused(series: BarSeries) -> None:
    with pytest.raises(ValueError) as refused:
        Backtester(load_settings(), regimes=False).run(series.slice(0, 500))
    message = str(refused.value)
    assert "adaptation" in message and "trend, mean_reversion, volatility, fvg read the regime" in message
    capped = backtest_settings(load_settings(), agents=["sma_cross"], adaptation=False)
    with pytest.raises(ValueError, match="regime_caps differ"):
        Backtester(capped, regimes=False).run(series.slice(0, 500))
    with pytest.raises(ValueError, match="fast path"):
        Backtester(capped, regimes=False, fast=False)


def test_the_compiled_loop_is_forgotten_when_engine_code_compiled_into_it_changes(tmp_path: Path) -> None:
    from engine.backtest.kernel import forget_stale_compilations

    def cached() -> list[str]:
        for name in ("kernel.run_bars-1.py311.nbi", "kernel.run_bars-1.py311.1.nbc", "sizing.reduce_only-1.py311.nbi"):
            (tmp_path / name).touch()
        return sorted(p.name for p in tmp_path.glob("*.nb[ic]"))

    cached()
    (tmp_path / "kernel.engine-sources").write_text("the fingerprint of older engine sources")
    forget_stale_compilations(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.nb[ic]")) == ["sizing.reduce_only-1.py311.nbi"]
    everything = cached()
    forget_stale_compilations(tmp_path)   # same sources as last time: the cache stays
    assert sorted(p.name for p in tmp_path.glob("*.nb[ic]")) == everything
