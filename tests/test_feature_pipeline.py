"""The feature pipeline: vectorised and streaming agree on every column; invariants hold."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from engine.config import Settings, deep_merge, load_settings, validate
from engine.data.bar import Bar, BarSeries
from engine.features.frame import FEATURE_FIELDS
from engine.features.fvg import track_gaps
from engine.features.pipeline import FeatureStream, compute_features


def with_features(**features: int) -> Settings:
    return validate(deep_merge(load_settings().to_dict(), {"features": features}))


def session_bars(days: int, seed: int, tz: str = "America/New_York") -> BarSeries:
    """One-minute random-walk bars, 09:30-16:00 exchange time on weekdays, with volume."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2024-03-01", periods=days)
    stamps = np.concatenate([
        pd.date_range(pd.Timestamp(d.date()).tz_localize(tz) + pd.Timedelta(hours=9, minutes=30), periods=390, freq="1min")
        .tz_convert("UTC").as_unit("ns").asi8
        for d in dates
    ])
    n = len(stamps)
    close = 400 * np.exp(np.cumsum(rng.normal(0, 8e-4, n) * rng.choice([0.5, 1.0, 2.5], n, p=[0.3, 0.6, 0.1])))
    open_ = np.concatenate(([close[0]], close[:-1])) * np.exp(rng.normal(0, 2e-4, n))
    high = np.maximum(open_, close) * np.exp(rng.exponential(3e-4, n))
    low = np.minimum(open_, close) * np.exp(-rng.exponential(3e-4, n))
    volume = rng.integers(0, 20_000, n).astype(float)
    return BarSeries("TEST", stamps, open_, high, low, close, volume)


def test_streaming_equals_vectorised_on_every_column() -> None:
    settings = with_features(garch_window=500, garch_refit_every=250)
    series = session_bars(days=55, seed=1)            # 21,450 bars
    frame = compute_features(series, settings)
    stream = FeatureStream(settings)
    rows = [stream.update(bar) for bar in series]
    assert len(frame) == len(rows) == len(series) >= 20_000
    for name in FEATURE_FIELDS:
        expected = frame[name]
        actual = np.array([getattr(row, name) for row in rows], dtype=expected.dtype)
        assert np.array_equal(np.isnan(actual.astype(float)), np.isnan(expected.astype(float))), name
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=0.0, err_msg=name)
        # Every column has values by the end (the nearest-gap columns only while a gap is live).
        assert np.isfinite(expected).any(), f"{name} never warms up"
    gaps = track_gaps(series.ts, series.high, series.low, frame["atr"], settings.fvg.min_size_atr,
                      settings.fvg.max_age_bars).gaps()
    assert stream.open_gaps() == tuple(g for g in gaps if g.live)


def test_frame_rows_read_back_as_feature_rows() -> None:
    settings = load_settings()
    series = session_bars(days=2, seed=2)
    frame = compute_features(series, settings)
    stream = FeatureStream(settings)
    last = [stream.update(bar) for bar in series][-1]
    row = frame.row(len(frame) - 1)
    assert row.ts == last.ts == series.ts[-1]
    assert row.vwap == pytest.approx(last.vwap, rel=1e-12)


def test_vwap_restarts_at_each_exchange_local_session() -> None:
    series = session_bars(days=3, seed=3)
    frame = compute_features(series, load_settings())
    typical = (series.high + series.low + series.close) / 3
    for i in (0, 390, 780):                          # each session's first bar
        assert series.volume[i] > 0
        assert frame["vwap"][i] == pytest.approx(typical[i], rel=1e-12)
        assert frame["vwap"][i + 1] != pytest.approx(typical[i + 1], rel=1e-12)


# -- invariants on arbitrary bars ---------------------------------------------------------------------
@st.composite
def bar_series(draw: st.DrawFn) -> BarSeries:
    n = draw(st.integers(1, 150))
    closes = np.array(draw(st.lists(st.floats(1.0, 500.0), min_size=n, max_size=n)))
    spread = np.array(draw(st.lists(st.floats(0.0, 0.2), min_size=n, max_size=n)))
    volume = np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(1.0, 1e6)), min_size=n, max_size=n)))
    start = np.int64(1_709_303_400_000_000_000)                      # 2024-03-01 14:30 UTC
    step = draw(st.sampled_from([60, 3_600, 7_200]))                  # some series cross midnight
    ts = start + np.arange(n, dtype=np.int64) * np.int64(step * 1_000_000_000)
    return BarSeries("H", ts, closes, closes * (1 + spread), closes * (1 - spread / 2), closes, volume)


@hyp_settings(max_examples=60, deadline=None)
@given(bar_series())
def test_features_stay_within_their_ranges(series: BarSeries) -> None:
    settings = with_features(atr_period=3, adx_period=3, rsi_period=3, hurst_window=16, regression_window=5,
                             volatility_rank_window=10)
    frame = compute_features(series, settings)

    def finite(name: str) -> np.ndarray:
        return frame[name][~np.isnan(frame[name])]

    for name in ("rsi", "adx", "plus_di", "minus_di"):
        assert np.all((finite(name) >= 0) & (finite(name) <= 100 + 1e-9)), name
    assert np.all(finite("atr") >= 0)
    assert np.all((finite("vol_rank") >= 0) & (finite("vol_rank") <= 1))
    assert np.all((finite("reg_r2") >= 0) & (finite("reg_r2") <= 1))
    day = pd.DatetimeIndex(series.timestamps("America/New_York")).normalize()
    running_high = pd.Series(series.high).groupby(day).cummax().to_numpy()
    running_low = pd.Series(series.low).groupby(day).cummin().to_numpy()
    ok = ~np.isnan(frame["vwap"])
    assert np.all(frame["vwap"][ok] <= running_high[ok] * (1 + 1e-12))
    assert np.all(frame["vwap"][ok] >= running_low[ok] * (1 - 1e-12))


# -- bad input ---------------------------------------------------------------------------------------
def test_bad_bars_are_refused_with_the_bar_named() -> None:
    series = session_bars(days=1, seed=4)
    high = series.high.copy()
    high[7] = series.low[7] - 0.01
    broken = BarSeries("TEST", series.ts, series.open, high, series.low, series.close, series.volume)
    with pytest.raises(ValueError, match=r"TEST bar 7: high .* < low .*; expected high >= low"):
        compute_features(broken, load_settings())
    stream = FeatureStream(load_settings())
    with pytest.raises(ValueError, match=r"expected positive prices"):
        stream.update(Bar.at("TEST", datetime(2024, 3, 1, 15, tzinfo=timezone.utc), 1.0, 1.0, -1.0, 1.0, 10.0))
    with pytest.raises(ValueError, match=r"is naive; expected a tz-aware datetime"):
        Bar.at("TEST", datetime(2024, 3, 1, 15), 1.0, 1.0, 1.0, 1.0, 10.0)
