"""`Agent.columns` gives, bit for bit, what `on_bar` gives a fresh agent fed the same bars.

The reference is the plain loop: a new agent, `frame.row(i)` and `Regime(code)` bar by bar.
Floats are compared by their bits, so even a last-place rounding difference fails.
"""
from __future__ import annotations

import operator
from functools import reduce
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as st

from engine.agents.base import Agent, Intent, IntentColumns, _unit, unit_array
from engine.agents.builtin import FVGAgent, MeanReversionAgent, TrendAgent, VolatilityAgent
from engine.agents.sma_cross import SMACross
from engine.config import load_settings
from engine.data.synthetic import generate_bars
from engine.features.frame import FEATURE_FIELDS, FeatureFrame, FeatureRow
from engine.features.indicators import SMAStream, sma
from engine.features.pipeline import compute_features
from engine.regime.engine import RegimeEngine
from engine.regime.regime import Regime

NAN = float("nan")

LONG, SHORT, FLAT, SILENT = "long", "short", "flat", "silent"

# (agent factory, the outcomes it can produce); defaults and non-default parameters.
AGENTS: dict[str, tuple[Callable[[], Agent], set[str]]] = {
    "trend": (TrendAgent, {LONG, SHORT, SILENT}),
    "trend_tight": (lambda: TrendAgent(adx_floor=25, adx_full=32.5), {LONG, SHORT, SILENT}),
    "mean_reversion": (MeanReversionAgent, {LONG, SHORT, SILENT}),
    "mean_reversion_loose": (lambda: MeanReversionAgent(rsi_low=45.0, rsi_high=55.0, stretch_atr=0.3),
                             {LONG, SHORT, SILENT}),
    "volatility": (VolatilityAgent, {LONG, SHORT, FLAT, SILENT}),
    "volatility_loose": (lambda: VolatilityAgent(rank_high=0.5, min_r2=0.2), {LONG, SHORT, FLAT, SILENT}),
    "fvg": (FVGAgent, {LONG, SHORT, SILENT}),
    "sma_cross": (SMACross, {LONG, FLAT, SILENT}),
    "sma_cross_3_7": (lambda: SMACross(fast=3, slow=7), {LONG, FLAT, SILENT}),
    "sma_cross_1_2": (lambda: SMACross(fast=1, slow=2), {LONG, FLAT, SILENT}),
}


def reference(agent: Agent, frame: FeatureFrame, regimes: np.ndarray) -> IntentColumns:
    """on_bar, one row at a time."""
    n = len(frame)
    spoke, direction = np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.int8)
    strength, confidence = np.zeros(n), np.zeros(n)
    for i in range(n):
        intent = agent.on_bar(frame.row(i), Regime(int(regimes[i])))
        if intent is not None:
            spoke[i], direction[i] = True, intent.direction
            strength[i], confidence[i] = intent.strength, intent.confidence
    return IntentColumns(spoke, direction, strength, confidence)


def outcomes(c: IntentColumns) -> set[str]:
    found = {LONG: (c.direction == 1).any(), SHORT: (c.direction == -1).any(),
             FLAT: (c.spoke & (c.direction == 0)).any(), SILENT: (~c.spoke).any()}
    return {name for name, seen in found.items() if seen}


def assert_identical(actual: IntentColumns, expected: IntentColumns) -> None:
    for name in ("spoke", "direction", "strength", "confidence"):
        a, e = getattr(actual, name), getattr(expected, name)
        assert a.dtype == e.dtype and a.shape == e.shape, name
        same = a.view(np.uint64) == e.view(np.uint64) if a.dtype == np.float64 else a == e
        if not same.all():
            i = int(np.argmin(same))
            pytest.fail(f"{name} differs first at bar {i}: columns {a[i]!r}, on_bar {e[i]!r}")


@pytest.fixture(scope="module")
def frame() -> FeatureFrame:
    return compute_features(generate_bars("QQQ", days=60, seed=3), load_settings())


@pytest.fixture(scope="module")
def classified(frame: FeatureFrame) -> np.ndarray:
    return RegimeEngine(load_settings().regime).classify_frame(frame)


@pytest.fixture(scope="module")
def random_regimes(frame: FeatureFrame) -> np.ndarray:
    return np.random.default_rng(7).integers(0, len(Regime), len(frame)).astype(np.int8)


# -- built-ins on a real feature frame ----------------------------------------------------------
@pytest.mark.parametrize("name", AGENTS)
def test_columns_equal_on_bar_with_classified_regimes(name: str, frame: FeatureFrame,
                                                      classified: np.ndarray) -> None:
    make, possible = AGENTS[name]
    expected = reference(make(), frame, classified)
    assert outcomes(expected) == possible  # the series exercises every branch the agent has
    assert_identical(make().columns(frame, classified), expected)


@pytest.mark.parametrize("name", AGENTS)
def test_columns_equal_on_bar_with_random_regimes(name: str, frame: FeatureFrame,
                                                  random_regimes: np.ndarray) -> None:
    make, possible = AGENTS[name]
    expected = reference(make(), frame, random_regimes)
    assert outcomes(expected) == possible
    assert_identical(make().columns(frame, random_regimes), expected)


def test_the_real_series_reaches_the_clip_and_the_regime_dependent_confidence(
        frame: FeatureFrame, random_regimes: np.ndarray) -> None:
    # Otherwise the strength clip and the regime switch of confidence would go untested above.
    for make in (TrendAgent, MeanReversionAgent, VolatilityAgent, FVGAgent):
        c = reference(make(), frame, random_regimes)
        assert len(np.unique(c.confidence[c.spoke])) >= 2, make.__name__
        if make in (TrendAgent, MeanReversionAgent):  # strengths that are computed and can clip
            sized = c.strength[c.direction != 0]
            assert (sized == 1.0).any() and ((sized > 0.0) & (sized < 1.0)).any(), make.__name__


def test_sma_cross_latch_flips_many_times_on_the_real_series(frame: FeatureFrame, classified: np.ndarray) -> None:
    c = SMACross(fast=3, slow=7).columns(frame, classified)
    warm = c.direction[c.spoke]
    assert np.count_nonzero(warm[1:] != warm[:-1]) > 20


# -- branch edges on hand-made frames: ties, NaN, zero and negative ATR ------------------------
def _value_frame(draw: st.DrawFn, n: int) -> FeatureFrame:
    # Few distinct values so that ties (==, thresholds exactly hit) are common.
    value = st.sampled_from([NAN, -1.0, 0.0, 0.2, 0.5, 0.8, 1.0, 20.0, 25.0, 30.0, 40.0, 70.0, 99.0, 100.0, 101.0])
    columns: dict[str, np.ndarray] = {"ts": np.arange(n, dtype=np.int64)}
    for name in FEATURE_FIELDS[1:]:
        columns[name] = np.array(draw(st.lists(value, min_size=n, max_size=n)), dtype=np.float64)
    columns["close"] = np.array(draw(st.lists(st.sampled_from([99.0, 100.0, 100.5, 101.0]), min_size=n, max_size=n)))
    return FeatureFrame(columns)


@st.composite
def frames_and_regimes(draw: st.DrawFn) -> tuple[FeatureFrame, np.ndarray]:
    n = draw(st.integers(0, 60))
    regimes = np.array(draw(st.lists(st.integers(0, len(Regime) - 1), min_size=n, max_size=n)), dtype=np.int8)
    return _value_frame(draw, n), regimes


@hyp_settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=frames_and_regimes(), name=st.sampled_from(sorted(AGENTS)))
def test_columns_equal_on_bar_on_hand_made_frames(case: tuple[FeatureFrame, np.ndarray], name: str) -> None:
    frame, regimes = case
    make, _ = AGENTS[name]
    assert_identical(make().columns(frame, regimes), reference(make(), frame, regimes))


# -- the plugin fallback ------------------------------------------------------------------------
class CountingAgent(Agent):
    """A stateful plugin: what it says depends on how many bars it has seen."""

    name = "test_counting"

    def __init__(self) -> None:
        self.seen = 0

    def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
        self.seen += 1
        confidence = 0.9 if regime is Regime.EXPANSION else self.seen / 1_000.0
        if self.seen % 7 == 0:
            return None
        if self.seen % 3 == 0:
            return self.long(row.close / 1_000.0 + self.seen % 5 / 4.0, confidence, "third")
        if self.seen % 3 == 1:
            return self.short(self.seen % 11 / 10.0, confidence, "after a third")
        return self.flat(confidence, "otherwise")


class SilentAgent(Agent):
    name = "test_silent"

    def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
        return None


def test_fallback_feeds_on_bar_and_matches_it(frame: FeatureFrame, random_regimes: np.ndarray) -> None:
    agent = CountingAgent()
    actual = agent.columns(frame, random_regimes)
    expected = reference(CountingAgent(), frame, random_regimes)
    assert outcomes(expected) == {LONG, SHORT, FLAT, SILENT}
    assert (expected.strength == 1.0).any() and (expected.confidence == 0.9).any()
    assert_identical(actual, expected)
    assert agent.seen == len(frame)  # the fallback really fed the agent: it is no longer fresh


def test_fallback_of_an_agent_that_never_speaks_is_all_zero(frame: FeatureFrame, classified: np.ndarray) -> None:
    c = SilentAgent().columns(frame, classified)
    assert_identical(c, reference(SilentAgent(), frame, classified))
    assert not c.spoke.any() and not c.strength.any() and len(c.spoke) == len(frame)


def test_builtin_overrides_agree_with_the_fallback(frame: FeatureFrame, random_regimes: np.ndarray) -> None:
    for make, _ in AGENTS.values():
        assert_identical(make().columns(frame, random_regimes), Agent.columns(make(), frame, random_regimes))


# -- inputs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [TrendAgent, SMACross, CountingAgent])
@pytest.mark.parametrize("bad, message", [
    (lambda n: np.zeros(n - 1, dtype=np.int8), r"regimes has shape \(\d+,\); expected one code per bar"),
    (lambda n: np.full(n, 4, dtype=np.int8), r"regimes\[0\] = .*4.*; expected a Regime code in \[0, 1, 2, 3\]"),
    (lambda n: np.zeros(n, dtype=np.float64), r"regimes has dtype float64; expected integer Regime codes"),
])
def test_bad_regimes_are_a_clear_error(make: Callable[[], Agent], bad: Callable[[int], np.ndarray], message: str,
                                       frame: FeatureFrame) -> None:
    with pytest.raises(ValueError, match=message):
        make().columns(frame, bad(len(frame)))


@pytest.mark.parametrize("cls, params, message", [
    (TrendAgent, {"adx_floor": 30.0, "adx_full": 30.0}, "adx_full > adx_floor"),
    (MeanReversionAgent, {"stretch_atr": 0.0}, "stretch_atr > 0"),
])
def test_parameters_that_would_divide_by_zero_are_refused(cls: type[Agent], params: dict[str, Any],
                                                          message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cls(**params)


def test_intent_columns_refuse_ragged_or_mistyped_columns() -> None:
    ok = (np.zeros(3, dtype=np.bool_), np.zeros(3, dtype=np.int8), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="differ in length"):
        IntentColumns(ok[0], ok[1], ok[2], np.zeros(2))
    with pytest.raises(ValueError, match=r"IntentColumns.direction is int64 shape \(3,\); expected a 1-D int8"):
        IntentColumns(ok[0], np.zeros(3, dtype=np.int64), ok[2], ok[3])


# -- the shared exact pieces -------------------------------------------------------------------
@given(st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([-0.0, 0.0, 1.0, NAN]))
def test_unit_array_is_unit_elementwise(x: float) -> None:
    assert np.array([_unit(x)]).view(np.uint64)[0] == unit_array(np.array([x])).view(np.uint64)[0]


def test_unit_array_clips_by_hand() -> None:
    out = unit_array(np.array([-2.0, -0.0, 0.0, 0.25, 1.0, 1.5, np.inf, NAN]))
    assert out.tolist() == [0.0, 0.0, 0.0, 0.25, 1.0, 1.0, 1.0, 0.0]
    assert not np.signbit(out).any()


@hyp_settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), min_size=1, max_size=80),
       n=st.integers(1, 40))
def test_sma_and_its_stream_sum_oldest_to_newest_bit_for_bit(values: list[float], n: int) -> None:
    stream = SMAStream(n)
    streamed = np.array([stream.update(v) for v in values])
    # The textbook definition with its order of additions spelled out: ((x0 + x1) + x2) + ...
    expected = np.array([reduce(operator.add, values[t - n + 1:t + 1]) / n if t >= n - 1 else NAN
                         for t in range(len(values))])
    for actual in (streamed, sma(np.array(values), n)):
        assert np.array_equal(actual.view(np.uint64), expected.view(np.uint64))


def test_sma_of_a_short_series_by_hand() -> None:
    out = sma(np.array([0.1, 0.2, 0.3, 0.4]), 3)
    assert np.isnan(out[:2]).all()
    assert out[2] == ((0.1 + 0.2) + 0.3) / 3 and out[3] == ((0.2 + 0.3) + 0.4) / 3
