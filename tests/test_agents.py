"""The agent plugin API and the built-in agents' behaviour on hand-made feature rows."""
from __future__ import annotations

import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from engine.agents import registry
from engine.agents.base import Agent, Intent
from engine.agents.builtin import FVGAgent, MeanReversionAgent, TrendAgent, VolatilityAgent
from engine.features.frame import FEATURE_FIELDS, FeatureRow
from engine.regime.regime import Regime

NAN = math.nan


def row(**values: float) -> FeatureRow:
    base = {name: NAN for name in FEATURE_FIELDS}
    base.update(ts=0, open=100.0, high=101.0, low=99.0, close=100.0, volume=1000.0)
    base.update(values)
    return FeatureRow(**base)


def test_builtins_are_registered_by_name() -> None:
    assert {"trend", "mean_reversion", "volatility", "fvg", "sma_cross"} <= set(registry.available_agents())


def test_unknown_agent_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match="unknown agent 'nope'.*trend"):
        registry.create_agent("nope")


def test_bad_parameters_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="agent 'trend': bad parameters"):
        registry.create_agent("trend", {"speed": 3})


def test_params_for_an_agent_that_is_not_enabled_are_refused() -> None:
    with pytest.raises(ValueError, match="not enabled"):
        registry.create_agents(["trend"], {"fvg": {}})


def test_a_user_agent_registers_in_a_few_lines() -> None:
    @registry.register_agent("test_always_long")
    class AlwaysLong(Agent):
        def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
            return self.long(2.0, 0.9, "always")  # strength is clipped to 1

    agent = registry.create_agent("test_always_long")
    assert agent.on_bar(row(), Regime.TREND) == Intent("test_always_long", 1, 1.0, 0.9, "always")


def test_registering_a_non_agent_is_refused() -> None:
    with pytest.raises(TypeError):
        registry.register_agent("bad")(object)  # type: ignore[arg-type]


def test_entry_point_agents_are_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real installed-distribution layout on sys.path, as another package would ship it.
    pkg = tmp_path / "thirdparty_agent.py"
    pkg.write_text(
        "from engine.agents.base import Agent\n"
        "class Shipped(Agent):\n"
        "    def on_bar(self, row, regime):\n"
        "        return self.short(0.5, 0.5, 'shipped')\n"
    )
    dist = tmp_path / "thirdparty_agent-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-agent\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[futbot.agents]\nshipped = thirdparty_agent:Shipped\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "shipped" in registry.available_agents()
    assert registry.create_agent("shipped").on_bar(row(), Regime.TREND).direction == -1
    sys.modules.pop("thirdparty_agent", None)


def test_trend_agent_follows_ema_and_di_with_adx_strength() -> None:
    up = row(adx=30.0, ema_fast=101.0, ema_slow=100.0, plus_di=30.0, minus_di=10.0)
    it = TrendAgent().on_bar(up, Regime.TREND)
    assert it is not None and it.direction == 1 and it.strength == pytest.approx((30 - 20) / 20)
    assert TrendAgent().on_bar(up, Regime.MEAN_REVERSION).confidence < it.confidence
    assert TrendAgent().on_bar(replace(up, adx=15.0), Regime.TREND) is None
    assert TrendAgent().on_bar(replace(up, plus_di=5.0), Regime.TREND) is None  # EMA and DI disagree


def test_agents_stay_silent_during_warm_up() -> None:
    empty = row()
    for agent in (TrendAgent(), MeanReversionAgent(), FVGAgent()):
        assert agent.on_bar(empty, Regime.TREND) is None


def test_mean_reversion_fades_stretched_extremes() -> None:
    low = row(close=97.0, rsi=22.0, vwap=100.0, atr=1.0)
    it = MeanReversionAgent().on_bar(low, Regime.MEAN_REVERSION)
    assert it is not None and it.direction == 1 and it.strength == pytest.approx(1.0)
    high = row(close=101.5, rsi=80.0, vwap=100.0, atr=1.0)
    it = MeanReversionAgent().on_bar(high, Regime.MEAN_REVERSION)
    assert it is not None and it.direction == -1 and it.strength == pytest.approx(0.5)
    assert MeanReversionAgent().on_bar(row(close=100.2, rsi=22.0, vwap=100.0, atr=1.0), Regime.TREND) is None


def test_volatility_agent_goes_flat_in_compression_and_rides_expansion() -> None:
    assert VolatilityAgent().on_bar(row(), Regime.COMPRESSION).direction == 0
    it = VolatilityAgent().on_bar(row(vol_rank=0.9, reg_r2=0.8, reg_slope=-0.1), Regime.EXPANSION)
    assert it is not None and it.direction == -1 and it.strength == pytest.approx(0.8)


def test_fvg_agent_buys_a_retest_of_a_bullish_gap() -> None:
    r = row(low=99.0, close=100.0, fvg_bull_top=99.5, fvg_bull_bottom=98.5)
    it = FVGAgent().on_bar(r, Regime.TREND)
    assert it is not None and it.direction == 1
    assert FVGAgent().on_bar(row(low=99.6, close=100.0, fvg_bull_top=99.5, fvg_bull_bottom=98.5), Regime.TREND) is None
