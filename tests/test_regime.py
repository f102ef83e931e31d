"""RegimeEngine: the rules on textbook bars, warm-up, hysteresis, the two paths, scoring."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings as hyp_settings, strategies as st
from pydantic import ValidationError

from engine.config import RegimeSettings, load_settings
from engine.data.synthetic import generate_bars
from engine.features.frame import FEATURE_FIELDS, FeatureFrame, FeatureRow
from engine.features.pipeline import compute_features
from engine.regime.engine import RegimeEngine, RegimeState, confusion_matrix, raw_codes
from engine.regime.evaluation import accuracy, bars_since_change, changes_per_day
from engine.regime.evidence import BASELINE_MIN_BARS, EVIDENCE_FIELDS, Evidence, EvidenceStream, evidence_columns
from engine.regime.regime import Regime
from engine.regime.scores import regime_scores, trend_strength, unit

S = RegimeSettings()
NAN = float("nan")


# -- hand-made bars -------------------------------------------------------------------------

def bar(i: int, **over: float) -> FeatureRow:
    """A quiet, directionless one-minute bar at 100 (ATR 0.2, small body, no gaps); `over` edits it."""
    values: dict[str, float] = dict(
        open=100.0, high=100.1, low=99.9, close=100.02, volume=1_000.0, atr=0.2, adx=15.0,
        plus_di=20.0, minus_di=20.0, rsi=50.0, ema_fast=100.0, ema_slow=100.0, vwap=100.0,
        hurst=0.5, garch_vol=0.001, vol_rank=0.5, reg_slope=0.0, reg_r2=0.1, fvg_bull=0.0,
        fvg_bear=0.0, fvg_new=0.0, fvg_bull_top=NAN, fvg_bull_bottom=NAN, fvg_bear_top=NAN,
        fvg_bear_bottom=NAN,
    )
    unknown = set(over) - set(values)
    assert not unknown, unknown
    values.update(over)
    return FeatureRow(ts=i * 60_000_000_000, **values)


TREND = dict(adx=40.0, hurst=0.75, rsi=75.0, reg_slope=0.05, plus_di=35.0, minus_di=10.0)
MEAN_REVERSION = dict(adx=9.0, hurst=0.25, rsi=52.0, reg_slope=0.001)
COMPRESSION = dict(atr=0.06, high=100.03, low=99.97)
# Violent bars with full bodies (displacement candles) both ways, a new gap on every third.
EXPANSION = dict(atr=0.5, open=100.0, close=100.5, high=100.52, low=99.98, adx=18.0, hurst=0.5, rsi=55.0)


def feed(engine: RegimeEngine, rows: list[FeatureRow]) -> list[RegimeState]:
    return [engine.update(row) for row in rows]


def warmed(settings: RegimeSettings = S) -> tuple[RegimeEngine, int]:
    """An engine that has seen enough quiet bars for its volatility baseline."""
    engine = RegimeEngine(settings)
    n = BASELINE_MIN_BARS
    feed(engine, [bar(i) for i in range(n)])
    return engine, n


def textbook(kind: dict[str, float], start: int, n: int = 40) -> list[FeatureRow]:
    rows = [bar(start + k, **kind) for k in range(n)]
    if kind is EXPANSION:
        rows = [replace(r, fvg_new=1.0) if k % 3 == 0 else r for k, r in enumerate(rows)]
    return rows


def frame_of(rows: list[FeatureRow]) -> FeatureFrame:
    columns = {name: np.array([getattr(r, name) for r in rows]) for name in FEATURE_FIELDS}
    columns["ts"] = columns["ts"].astype(np.int64)
    return FeatureFrame(columns)


# -- the rules on textbook cases ------------------------------------------------------------

@pytest.mark.parametrize(
    ("kind", "regime", "confidence", "words"),
    [
        (TREND, Regime.TREND, 0.9, ("ADX 40.0", "Hurst 0.75", "|RSI - 50| 25.0")),
        (MEAN_REVERSION, Regime.MEAN_REVERSION, 0.9, ("ADX 9.0", "Hurst 0.25")),
        (COMPRESSION, Regime.COMPRESSION, 0.9, ("volatility 0.30x",)),
        # Trend and range split the calm score, so one of them is at least 0.5 whenever
        # volatility is normal: expansion's lead (its confidence) is at most 0.5.
        (EXPANSION, Regime.EXPANSION, 0.35,
         ("displacement candles 100% of the last 30 bars", "new fair value gaps on 33%", "volatility 2.49x")),
    ],
)
def test_textbook_case_is_classified_with_its_deciding_features(
    kind: dict[str, float], regime: Regime, confidence: float, words: tuple[str, ...]
) -> None:
    engine, n = warmed()
    state = feed(engine, textbook(kind, n))[-1]
    assert state.regime is regime
    assert confidence < state.confidence <= 1.0
    text = " | ".join(state.reasons)
    for word in words:
        assert word in text, (word, text)


def test_raw_codes_name_each_textbook_case() -> None:
    n = BASELINE_MIN_BARS
    rows = [bar(i) for i in range(n)]
    ends = []
    for kind in (TREND, MEAN_REVERSION, COMPRESSION, EXPANSION):
        rows += textbook(kind, len(rows))
        ends.append(len(rows) - 1)
    codes = raw_codes(frame_of(rows), S)
    assert codes.dtype == np.int8
    assert [Regime(int(codes[i])) for i in ends] == [Regime.TREND, Regime.MEAN_REVERSION, Regime.COMPRESSION, Regime.EXPANSION]


def test_scores_on_a_hand_worked_example() -> None:
    # Every input halfway between its two levels: each unit is 0.5.
    ev = Evidence(adx=16.5, hurst=0.575, rsi_tilt=13.0, slope_atr=0.07, vol_ratio=0.675, displacement=0.33, gaps=0.16)
    trend, mean_reversion, compression, expansion = regime_scores(ev, S)
    assert trend_strength(ev, S) == pytest.approx(0.5)
    assert trend == pytest.approx(0.25)            # calm 0.5 x strength 0.5
    assert mean_reversion == pytest.approx(0.25)
    assert compression == pytest.approx(0.5)
    # displacement 2 x 0.5 + gaps 0.5 x 0.5 + volatility 1 x 0 (0.675 is below "expanding"), over 3.5
    assert expansion == pytest.approx(1.25 / 3.5)


def test_unit_is_zero_at_none_one_at_full_and_linear_between() -> None:
    assert unit(10.0, 13.0, 20.0) == 0.0
    assert unit(16.5, 13.0, 20.0) == pytest.approx(0.5)
    assert unit(25.0, 13.0, 20.0) == 1.0
    assert unit(0.5, 0.75, 0.6) == 1.0                 # a falling pair: lower is more evidence
    assert np.array_equal(unit(np.array([10.0, 16.5, 25.0]), 13.0, 20.0), np.array([0.0, 0.5, 1.0]))


finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)


@hyp_settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[finite] * len(EVIDENCE_FIELDS)), min_size=1, max_size=20))
def test_scores_lie_in_unit_interval_and_floats_equal_arrays(values: list[tuple[float, ...]]) -> None:
    columns = Evidence(*(np.array(col) for col in zip(*values)))
    vectorised = regime_scores(columns, S)
    for i, row in enumerate(values):
        scalar = regime_scores(Evidence(*row), S)
        for k in range(len(Regime)):
            assert scalar[k] == vectorised[k][i]          # bit for bit
            assert 0.0 <= scalar[k] <= 1.0
        assert scalar[0] + scalar[1] + scalar[2] == pytest.approx(1.0)   # trend, range and calm split 1


# -- warm-up ------------------------------------------------------------------------------

def test_warm_up_gives_zero_confidence_and_says_what_is_missing() -> None:
    engine = RegimeEngine(S)
    state = engine.update(bar(0, adx=NAN, hurst=NAN, atr=NAN))
    assert (state.regime, state.confidence, state.flipped) == (Regime.COMPRESSION, 0.0, False)
    assert "warming up" in state.reasons[0] and "hurst" in state.reasons[0] and "vol_ratio" in state.reasons[0]


def test_volatility_baseline_needs_a_session_before_the_engine_speaks() -> None:
    engine = RegimeEngine(S)
    states = feed(engine, [bar(i, **TREND) for i in range(BASELINE_MIN_BARS)])
    assert all(s.confidence == 0.0 and s.regime is Regime.COMPRESSION for s in states[:-1])
    assert states[-1].regime is Regime.TREND and states[-1].flipped


# -- hysteresis ---------------------------------------------------------------------------

def test_one_bar_blip_does_not_flip_but_a_sustained_change_does_within_the_dwell() -> None:
    s = RegimeSettings(min_dwell_bars=3)
    engine, n = warmed(s)
    assert feed(engine, textbook(TREND, n))[-1].regime is Regime.TREND
    n += 40
    blip = engine.update(bar(n, **MEAN_REVERSION))
    assert blip.regime is Regime.TREND and not blip.flipped
    assert blip.confidence == 0.0 and any("mean_reversion leads by" in r for r in blip.reasons)
    assert engine.update(bar(n + 1, **TREND)).regime is Regime.TREND
    states = feed(engine, textbook(MEAN_REVERSION, n + 2, 5))
    assert [st.regime for st in states] == [Regime.TREND] * 2 + [Regime.MEAN_REVERSION] * 3
    assert [st.flipped for st in states] == [False, False, True, False, False]


def test_an_interrupted_challenger_starts_its_dwell_again_on_both_paths() -> None:
    s = RegimeSettings(min_dwell_bars=3)
    rows = [bar(i) for i in range(BASELINE_MIN_BARS)]
    rows += textbook(TREND, len(rows))
    pattern = "MMTMMTMMM"    # two challenger bars, the incumbent again, two more ... then three
    rows += [bar(len(rows) + k, **(MEAN_REVERSION if c == "M" else TREND)) for k, c in enumerate(pattern)]
    engine = RegimeEngine(s)
    streamed = [engine.update(row).regime for row in rows]
    expected = [Regime.TREND] * (len(pattern) - 1) + [Regime.MEAN_REVERSION]
    assert streamed[-len(pattern):] == expected
    assert [Regime(int(c)) for c in RegimeEngine(s).classify_frame(frame_of(rows))[-len(pattern):]] == expected


def test_a_challenger_leading_by_less_than_the_margin_does_not_flip() -> None:
    # Trend strength (2 x 5/7 + 2 x 1/3 + 1/18 + 0.5 x 0.3) / 5.5 = 0.419: range leads by 0.162.
    nearly = dict(adx=18.0, hurst=0.5, rsi=55.0, reg_slope=0.01)
    engine, n = warmed(RegimeSettings(switch_margin=0.2))
    feed(engine, textbook(TREND, n))
    states = feed(engine, [bar(n + 40 + k, **nearly) for k in range(20)])
    assert all(st.regime is Regime.TREND and not st.flipped for st in states)
    assert "scores trend 0.42, mean_reversion 0.58" in states[-1].reasons[0]
    engine, n = warmed(RegimeSettings(switch_margin=0.15))
    feed(engine, textbook(TREND, n))
    assert engine.update(bar(n + 40, **nearly)).flipped


# -- the two paths ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic_frame() -> tuple[FeatureFrame, np.ndarray]:
    series = generate_bars("SPY", days=12, seed=5)     # 4,680 bars: the 1,950-bar baseline rolls
    return compute_features(series, load_settings()), series.phase


def test_evidence_stream_equals_columns_bit_for_bit(synthetic_frame: tuple[FeatureFrame, np.ndarray]) -> None:
    frame, _ = synthetic_frame
    columns = evidence_columns(frame, S)
    stream = EvidenceStream(S)
    rows = [stream.update(frame.row(i)) for i in range(len(frame))]
    for name in EVIDENCE_FIELDS:
        streamed = np.array([getattr(r, name) for r in rows])
        assert np.array_equal(streamed, getattr(columns, name), equal_nan=True), name


@pytest.mark.parametrize("dwell", [1, 4])
def test_classify_frame_equals_update_bar_by_bar(synthetic_frame: tuple[FeatureFrame, np.ndarray], dwell: int) -> None:
    frame, _ = synthetic_frame
    columns = {name: frame[name].copy() for name in FEATURE_FIELDS}
    columns["hurst"][2_500:2_520] = np.nan      # a cold stretch mid-series: both paths must hold
    frame = FeatureFrame(columns)
    s = RegimeSettings(min_dwell_bars=dwell)
    engine = RegimeEngine(s)
    streamed = np.array([engine.update(frame.row(i)).regime for i in range(len(frame))], dtype=np.int8)
    vectorised = RegimeEngine(s).classify_frame(frame)
    assert vectorised.dtype == np.int8
    assert np.array_equal(vectorised, streamed)
    assert len(np.unique(vectorised)) == len(Regime)


def test_classify_frame_leaves_the_streaming_state_alone(synthetic_frame: tuple[FeatureFrame, np.ndarray]) -> None:
    frame, _ = synthetic_frame
    engine, n = warmed()
    feed(engine, textbook(TREND, n))
    engine.classify_frame(frame)
    assert engine.current is Regime.TREND


def test_flipped_marks_exactly_the_bars_where_the_regime_changes(synthetic_frame: tuple[FeatureFrame, np.ndarray]) -> None:
    frame, _ = synthetic_frame
    engine = RegimeEngine(S)
    states = [engine.update(frame.row(i)) for i in range(len(frame))]
    codes = [Regime.COMPRESSION] + [st.regime for st in states]
    assert [st.flipped for st in states] == [a != b for a, b in zip(codes, codes[1:])]
    assert all(0.0 <= st.confidence <= 1.0 for st in states)


# -- scoring ------------------------------------------------------------------------------

def test_confusion_matrix_on_a_hand_counted_example() -> None:
    true = np.array([0, 0, 1, 2, 3, 3, 1, 2], dtype=np.int8)
    predicted = np.array([0, 1, 1, 2, 3, 0, 1, 3], dtype=np.int8)
    expected = np.array([
        [1, 1, 0, 0],   # trend: once right, once called mean reversion
        [0, 2, 0, 0],
        [0, 0, 1, 1],   # compression: once called expansion
        [1, 0, 0, 1],   # expansion: once called trend
    ])
    assert np.array_equal(confusion_matrix(true, predicted), expected)


@pytest.mark.parametrize(
    ("true", "predicted", "message"),
    [([0, 1], [0], "equal length"), ([0, 4], [0, 1], "true codes span 0..4"), ([0, 1], [-1, 1], "predicted codes span -1..1")],
)
def test_confusion_matrix_rejects_bad_input(true: list[int], predicted: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        confusion_matrix(np.array(true), np.array(predicted))


def test_accuracy_can_leave_out_the_first_bars_of_each_phase() -> None:
    true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    predicted = np.array([2, 0, 0, 0, 0, 0, 1, 1])     # one cold start, then two lagging bars
    assert list(bars_since_change(true)) == [0, 1, 2, 3, 0, 1, 2, 3]
    assert accuracy(true, predicted) == 5 / 8
    assert accuracy(true, predicted, settle_bars=2) == 4 / 4
    assert changes_per_day(true, bars_per_day=4) == 0.5
    with pytest.raises(ValueError, match="settle_bars = -1"):
        accuracy(true, predicted, settle_bars=-1)
    with pytest.raises(ValueError, match="differ in length"):
        accuracy(true, predicted[:3])


def test_accuracy_on_a_held_out_synthetic_series_beats_the_floor() -> None:
    # Thresholds were tuned on QQQ seeds 1-6, MSFT 1 and IWM 1; AAPL seed 9 was never seen.
    # Measured: 77.8 % of all bars, 87.8 % from the 30th bar of each phase on, 5.9 changes a day
    # against 2.8 true (the old rules scored ~55 % on such series).
    series = generate_bars("AAPL", days=30, seed=9)
    predicted = RegimeEngine(S).classify_frame(compute_features(series, load_settings()))
    assert accuracy(series.phase, predicted) > 0.75
    assert accuracy(series.phase, predicted, settle_bars=30) > 0.85
    assert changes_per_day(predicted) < 7.0


# -- settings -----------------------------------------------------------------------------

def test_settings_refuse_a_pair_in_the_wrong_order() -> None:
    with pytest.raises(ValidationError, match=r"adx_range \(30.0\) must be below adx_trend \(20.0\)"):
        RegimeSettings(adx_range=30.0)
    with pytest.raises(ValidationError, match="vol_ratio_normal"):
        RegimeSettings(vol_ratio_expanding=0.7)


def test_defaults_in_yaml_match_the_model() -> None:
    assert load_settings().regime == RegimeSettings()
