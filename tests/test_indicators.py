"""Indicators: hand-worked examples, textbook reference loops, streaming parity, invariants."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from engine.features.indicators import (
    ADXStream, ATRStream, EMAStream, RSIStream, SMAStream, VWAPStream, adx, atr, ema, rsi, sma, vwap,
)

NAN = math.nan


def random_bars(n: int, seed: int = 0, flat_every: int = 0) -> tuple[np.ndarray, ...]:
    """Random-walk OHLCV; every `flat_every`-th stretch of bars is perfectly flat."""
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.3, n))
    open_ = np.concatenate(([close[0]], close[:-1])) + rng.normal(0.0, 0.05, n)
    high = np.maximum(open_, close) + rng.exponential(0.15, n)
    low = np.minimum(open_, close) - rng.exponential(0.15, n)
    volume = rng.integers(0, 5_000, n).astype(float)
    if flat_every:
        for start in range(flat_every, n - 40, 3 * flat_every):
            high[start:start + 30] = low[start:start + 30] = close[start:start + 30] = close[start - 1]
    return open_, high, low, close, volume


# -- textbook reference loops (TA-Lib's order of operations) ---------------------------------
def ref_sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), NAN)
    for t in range(n - 1, len(x)):
        out[t] = sum(x[t - n + 1:t + 1]) / n
    return out


def ref_ema(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), NAN)
    k = 2.0 / (n + 1)
    prev = sum(x[:n]) / n
    out[n - 1] = prev
    for t in range(n, len(x)):
        prev = (x[t] - prev) * k + prev
        out[t] = prev
    return out


def ref_rsi(close: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(close), NAN)
    gain = loss = 0.0
    for t in range(1, n + 1):
        d = close[t] - close[t - 1]
        if d < 0:
            loss -= d
        else:
            gain += d
    gain, loss = gain / n, loss / n
    out[n] = 0.0 if abs(gain + loss) < 1e-8 else 100.0 * gain / (gain + loss)
    for t in range(n + 1, len(close)):
        d = close[t] - close[t - 1]
        gain = (gain * (n - 1) + (d if d > 0 else 0.0)) / n
        loss = (loss * (n - 1) + (-d if d < 0 else 0.0)) / n
        out[t] = 0.0 if abs(gain + loss) < 1e-8 else 100.0 * gain / (gain + loss)
    return out


def ref_tr(high: np.ndarray, low: np.ndarray, close: np.ndarray, t: int) -> float:
    return max(high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))


def ref_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(close), NAN)
    prev = sum(ref_tr(high, low, close, t) for t in range(1, n + 1)) / n
    out[n] = prev
    for t in range(n + 1, len(close)):
        prev = (prev * (n - 1) + ref_tr(high, low, close, t)) / n
        out[t] = prev
    return out


def ref_adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Wilder's ADX written the way TA-Lib's C loop runs it."""
    size = len(close)
    adx_out, pdi_out, mdi_out = (np.full(size, NAN) for _ in range(3))
    sp = sm = st_ = 0.0
    dx_sum = 0.0
    adx_prev = NAN
    for t in range(1, size):
        up, down = high[t] - high[t - 1], low[t - 1] - low[t]
        pdm = up if up > 0 and up > down else 0.0
        mdm = down if down > 0 and down > up else 0.0
        tr = ref_tr(high, low, close, t)
        if t < n:
            sp, sm, st_ = sp + pdm, sm + mdm, st_ + tr
            continue
        sp, sm, st_ = sp - sp / n + pdm, sm - sm / n + mdm, st_ - st_ / n + tr
        tr_zero = abs(st_) < 1e-8
        pdi = 0.0 if tr_zero else 100.0 * sp / st_
        mdi = 0.0 if tr_zero else 100.0 * sm / st_
        pdi_out[t], mdi_out[t] = pdi, mdi
        dx = None if tr_zero or abs(pdi + mdi) < 1e-8 else 100.0 * abs(pdi - mdi) / (pdi + mdi)
        if t < 2 * n:
            dx_sum += dx or 0.0
            if t == 2 * n - 1:
                adx_prev = dx_sum / n
        elif dx is not None:
            adx_prev = (adx_prev * (n - 1) + dx) / n
        if t >= 2 * n - 1:
            adx_out[t] = adx_prev
    return adx_out, pdi_out, mdi_out


def ref_vwap(high, low, close, volume, session) -> np.ndarray:
    out = np.full(len(close), NAN)
    pv = v = 0.0
    for t in range(len(close)):
        if t == 0 or session[t] != session[t - 1]:
            pv = v = 0.0
        pv += (high[t] + low[t] + close[t]) / 3 * volume[t]
        v += volume[t]
        out[t] = pv / v if v > 0 else NAN
    return out


def assert_same(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-10) -> None:
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), "NaN positions differ"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0.0)


# -- hand-worked examples ----------------------------------------------------------------------
def test_sma_of_a_short_series() -> None:
    assert_same(sma(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 3), np.array([NAN, NAN, 2.0, 3.0, 4.0]))


def test_ema_is_seeded_with_the_sma_then_uses_alpha_two_over_n_plus_one() -> None:
    # n=3: alpha 0.5; seed mean(2,4,6) = 4; then 0.5*8 + 0.5*4 = 6; 0.5*12 + 0.5*6 = 9.
    assert_same(ema(np.array([2.0, 4.0, 6.0, 8.0, 12.0]), 3), np.array([NAN, NAN, 4.0, 6.0, 9.0]))


def test_rsi_hand_worked_with_wilder_smoothing() -> None:
    # changes +1, -0.5, +1, -0.5; n=2: gain/loss seeds 0.5/0.25, then Wilder with alpha 1/2.
    out = rsi(np.array([10.0, 11.0, 10.5, 11.5, 11.0]), 2)
    assert_same(out, np.array([NAN, NAN, 100 * 0.5 / 0.75, 100 * 0.75 / 0.875, 100 * 0.375 / 0.6875]))


def test_rsi_of_flat_prices_is_zero_as_in_ta_lib() -> None:
    assert_same(rsi(np.full(6, 50.0), 3), np.array([NAN, NAN, NAN, 0.0, 0.0, 0.0]))


def test_atr_hand_worked() -> None:
    high = np.array([10.0, 11.0, 10.8, 12.0])
    low = np.array([9.0, 9.5, 10.0, 10.5])
    close = np.array([9.5, 10.5, 10.2, 11.8])
    # TR: 1.5, 0.8, 1.8 (the last from |12 - 10.2|); seed (1.5 + 0.8)/2; then (1.15 + 1.8)/2.
    assert_same(atr(high, low, close, 2), np.array([NAN, NAN, 1.15, 1.475]))


def test_adx_hand_worked_with_ta_lib_seeding() -> None:
    high = np.array([10.0, 11.0, 10.8, 12.0, 11.5])
    low = np.array([9.0, 9.5, 10.0, 10.5, 10.0])
    close = np.array([9.5, 10.5, 10.2, 11.8, 10.2])
    # n=2: the Wilder sums start from bar 1 alone (+DM 1, -DM 0, TR 1.5), then S - S/2 + x:
    # bar 2: +DM sum 0.5, TR sum 1.55; bar 3: 1.45 / 2.575; bar 4: 0.725, -DM 0.5 / 3.0875.
    result = adx(high, low, close, 2)
    assert_same(result.plus_di, np.array([NAN, NAN, 100 * 0.5 / 1.55, 100 * 1.45 / 2.575, 100 * 0.725 / 3.0875]))
    assert_same(result.minus_di, np.array([NAN, NAN, 0.0, 0.0, 100 * 0.5 / 3.0875]))
    dx4 = 100 * (0.725 - 0.5) / (0.725 + 0.5)
    # ADX at 2n-1 = 3: mean of DX at bars 2 and 3 (both 100); bar 4 Wilder-smooths DX.
    assert_same(result.adx, np.array([NAN, NAN, NAN, 100.0, (100.0 + dx4) / 2]))


def test_vwap_restarts_each_session_and_waits_for_volume() -> None:
    high = np.array([11.0, 12.0, 20.0, 21.0, 22.0])
    low = np.array([9.0, 10.0, 18.0, 19.0, 20.0])
    close = np.array([10.0, 11.0, 19.0, 20.0, 21.0])
    volume = np.array([100.0, 300.0, 0.0, 50.0, 150.0])
    out = vwap(high, low, close, volume, np.array([1, 1, 2, 2, 2]))
    assert_same(out, np.array([10.0, (10 * 100 + 11 * 300) / 400, NAN, 20.0, (20 * 50 + 21 * 150) / 200]))


# -- reference loops on random data --------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 5, 14, 30])
def test_moving_averages_match_the_reference_loops(n: int) -> None:
    _, _, _, close, _ = random_bars(1_500, seed=n)
    assert_same(sma(close, n), ref_sma(close, n))
    assert_same(ema(close, n), ref_ema(close, n))


@pytest.mark.parametrize("n", [2, 7, 14])
@pytest.mark.parametrize("flat_every", [0, 50])
def test_wilder_indicators_match_the_reference_loops(n: int, flat_every: int) -> None:
    _, high, low, close, _ = random_bars(1_500, seed=n, flat_every=flat_every)
    assert_same(rsi(close, n), ref_rsi(close, n))
    assert_same(atr(high, low, close, n), ref_atr(high, low, close, n))
    result = adx(high, low, close, n)
    for actual, expected in zip((result.adx, result.plus_di, result.minus_di), ref_adx(high, low, close, n)):
        assert_same(actual, expected)


def test_adx_holds_its_value_while_dx_is_undefined() -> None:
    _, high, low, close, _ = random_bars(600, seed=3)
    high[200:400] = low[200:400] = close[200:400] = close[199]   # flat: no TR, no DM
    result = adx(high, low, close, 5)
    # The Wilder TR sum decays by 4/5 a bar and falls under TA-Lib's zero (1e-8) within ~90 bars.
    assert np.all(result.plus_di[320:400] == 0.0) and np.all(result.minus_di[320:400] == 0.0)
    assert np.all(result.adx[320:400] == result.adx[319]) and result.adx[319] > 0
    assert_same(result.adx, ref_adx(high, low, close, 5)[0])


def test_vwap_matches_the_reference_loop() -> None:
    _, high, low, close, volume = random_bars(3_000, seed=9)
    session = np.repeat(np.arange(10), 300)
    assert_same(vwap(high, low, close, volume, session), ref_vwap(high, low, close, volume, session))


def test_short_inputs_are_all_warm_up() -> None:
    _, high, low, close, _ = random_bars(10)
    assert np.isnan(adx(high, low, close, 14).plus_di).all()
    assert np.isnan(atr(high, low, close, 14)).all()
    assert np.isnan(rsi(close, 14)).all()
    assert np.isnan(ema(close, 14)).all()


def test_pandas_series_are_accepted() -> None:
    _, _, _, close, _ = random_bars(100)
    assert_same(ema(pd.Series(close), 10), ema(close, 10))


# -- streaming equals vectorised ---------------------------------------------------------------
def test_streaming_indicators_equal_the_vectorised_ones_on_long_series() -> None:
    _, high, low, close, volume = random_bars(25_000, seed=42, flat_every=997)
    session = np.repeat(np.arange(25_000 // 390 + 1), 390)[:25_000]
    streams = {
        "sma": (SMAStream(20), lambda t: (close[t],), sma(close, 20)),
        "ema": (EMAStream(12), lambda t: (close[t],), ema(close, 12)),
        "rsi": (RSIStream(14), lambda t: (close[t],), rsi(close, 14)),
        "atr": (ATRStream(14), lambda t: (high[t], low[t], close[t]), atr(high, low, close, 14)),
        "vwap": (VWAPStream(), lambda t: (high[t], low[t], close[t], volume[t], session[t]),
                 vwap(high, low, close, volume, session)),
    }
    for name, (stream, args, expected) in streams.items():
        actual = np.array([stream.update(*args(t)) for t in range(len(close))])
        assert np.array_equal(np.isnan(actual), np.isnan(expected)), name
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=0.0, err_msg=name)
    directional = ADXStream(14)
    values = [directional.update(high[t], low[t], close[t]) for t in range(len(close))]
    expected_adx = adx(high, low, close, 14)
    for field in ("adx", "plus_di", "minus_di"):
        assert_same(np.array([getattr(v, field) for v in values]), getattr(expected_adx, field), rtol=1e-9)


# -- invariants -----------------------------------------------------------------------------------
@st.composite
def ohlc(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    n = draw(st.integers(1, 80))
    price = st.floats(1.0, 1_000.0, allow_nan=False)
    closes = np.array(draw(st.lists(price, min_size=n, max_size=n)))
    up = np.array(draw(st.lists(st.floats(0.0, 50.0), min_size=n, max_size=n)))
    down = np.array(draw(st.lists(st.floats(0.0, 0.99), min_size=n, max_size=n)))
    # Share counts: none, or at least a fraction of a share (denormal volumes lose the price).
    size = st.one_of(st.just(0.0), st.floats(1e-3, 1e6))
    volume = np.array(draw(st.lists(size, min_size=n, max_size=n)))
    session = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    return closes + up, closes * (1 - down), closes, volume, np.sort(session)


@settings(max_examples=150, deadline=None)
@given(ohlc(), st.integers(2, 20))
def test_oscillators_stay_in_range(bars: tuple[np.ndarray, ...], n: int) -> None:
    high, low, close, _, _ = bars
    values = rsi(close, n)
    assert np.all((values[~np.isnan(values)] >= 0) & (values[~np.isnan(values)] <= 100))
    result = adx(high, low, close, n)
    for series in (result.adx, result.plus_di, result.minus_di):
        finite = series[~np.isnan(series)]
        assert np.all((finite >= 0) & (finite <= 100 + 1e-9))
    ranges = atr(high, low, close, n)
    assert np.all(ranges[~np.isnan(ranges)] >= 0)


@settings(max_examples=150, deadline=None)
@given(ohlc())
def test_vwap_lies_within_the_sessions_running_range(bars: tuple[np.ndarray, ...]) -> None:
    high, low, close, volume, session = bars
    out = vwap(high, low, close, volume, session)
    starts = np.concatenate(([True], session[1:] != session[:-1]))
    group = np.cumsum(starts)
    running_high = pd.Series(high).groupby(group).cummax().to_numpy()
    running_low = pd.Series(low).groupby(group).cummin().to_numpy()
    ok = ~np.isnan(out)
    tol = 1e-12 * running_high[ok]
    assert np.all(out[ok] >= running_low[ok] - tol)
    assert np.all(out[ok] <= running_high[ok] + tol)


# -- bad input -------------------------------------------------------------------------------------
def test_bad_inputs_are_named_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"n = 1; expected an integer >= 2"):
        rsi(np.ones(10), 1)
    with pytest.raises(ValueError, match=r"close\[3\] = nan; expected finite numbers"):
        rsi(np.array([1.0, 2.0, 3.0, NAN, 5.0]), 2)
    with pytest.raises(ValueError, match=r"high has 3, low has 2"):
        atr(np.ones(3), np.ones(2), np.ones(3), 2)
    with pytest.raises(ValueError, match=r"must be one-dimensional"):
        sma(np.ones((3, 3)), 2)
