"""Statistical features: Hurst, GARCH, rolling regression, volatility rank."""
from __future__ import annotations

import math

import numpy as np
import pytest
from arch import arch_model
from hypothesis import given, settings, strategies as st
from scipy.signal import lfilter

import engine.features.garch as garch_module
from engine.features.garch import GarchParams, GarchStream, fit_garch, garch_forecasts, garch_volatility
from engine.features.hurst import HurstStream, hurst, hurst_lags
from engine.features.regression import RegressionStream, rolling_regression
from engine.features.volatility_rank import VolatilityRankStream, volatility_rank

NAN = math.nan


def assert_same(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-9) -> None:
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), "NaN positions differ"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0.0)


def prices_from(log_returns: np.ndarray, start: float = 400.0) -> np.ndarray:
    return start * np.exp(np.cumsum(log_returns))


def simulate_garch(n: int, params: GarchParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns and their true conditional sigmas."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    r, sigma = np.empty(n), np.empty(n)
    s2 = params.omega / (1 - params.alpha - params.beta)
    for t in range(n):
        sigma[t] = math.sqrt(s2)
        r[t] = z[t] * sigma[t]
        s2 = params.step(s2, r[t])
    return r, sigma


# -- Hurst --------------------------------------------------------------------------------------
def ref_hurst(close: np.ndarray, window: int, t: int) -> float:
    """Straight from the definition: RMS of lagged log differences, slope of log RMS on log lag."""
    p = np.log(close[t - window + 1:t + 1])
    lags = [2**k for k in range(10) if 2**k <= window // 4]
    rms = [math.sqrt(sum((p[j] - p[j - lag]) ** 2 for j in range(lag, window)) / (window - lag)) for lag in lags]
    return float(np.polyfit(np.log(lags), np.log(rms), 1)[0])


def test_hurst_lags_are_powers_of_two_up_to_a_quarter_window() -> None:
    assert hurst_lags(128).tolist() == [1, 2, 4, 8, 16, 32]
    assert hurst_lags(8).tolist() == [1, 2]
    with pytest.raises(ValueError, match="window = 7; expected an integer >= 8"):
        hurst_lags(7)


def test_hurst_matches_the_definition_window_by_window() -> None:
    close = prices_from(np.random.default_rng(1).normal(0, 1e-3, 600))
    out = hurst(close, 100)
    assert np.isnan(out[:99]).all()
    for t in (99, 250, 599):
        assert out[t] == pytest.approx(ref_hurst(close, 100, t), rel=1e-10)


def test_hurst_is_one_half_on_a_random_walk() -> None:
    close = prices_from(np.random.default_rng(2).normal(0, 1e-3, 40_000))
    assert np.nanmean(hurst(close, 128)) == pytest.approx(0.5, abs=0.04)


def test_hurst_is_above_one_half_on_persistent_moves() -> None:
    increments = lfilter([1.0], [1.0, -0.5], np.random.default_rng(3).normal(0, 1e-3, 40_000))
    assert np.nanmean(hurst(prices_from(increments), 128)) > 0.58


def test_hurst_is_below_one_half_on_mean_reversion() -> None:
    # Ornstein-Uhlenbeck log price: pulled 10 % of the way back to its mean every bar.
    deviation = lfilter([1.0], [1.0, -0.9], np.random.default_rng(4).normal(0, 1e-3, 40_000))
    assert np.nanmean(hurst(400 * np.exp(deviation), 128)) < 0.42


def test_hurst_is_undefined_on_flat_prices() -> None:
    close = prices_from(np.random.default_rng(5).normal(0, 1e-3, 300))
    close[100:250] = close[99]
    out = hurst(close, 32)
    # From bar 130 the window's one-bar moves are all flat; bar 250 moves again.
    assert np.isnan(out[130:250]).all()
    assert np.isfinite(out[31:130]).all() and np.isfinite(out[250:]).all()


def test_streaming_hurst_equals_the_vectorised_one() -> None:
    close = prices_from(np.random.default_rng(6).normal(0, 1e-3, 20_000))
    close[5_000:5_200] = close[4_999]
    stream = HurstStream(128)
    assert_same(np.array([stream.update(c) for c in close]), hurst(close, 128))


def test_hurst_rejects_non_positive_prices() -> None:
    with pytest.raises(ValueError, match=r"close\[2\] = 0.0; expected positive prices"):
        hurst(np.array([1.0, 2.0, 0.0] + [1.0] * 10), 8)


# -- GARCH --------------------------------------------------------------------------------------
TRUE = GarchParams(omega=2e-8, alpha=0.08, beta=0.90)   # sigma about 1e-3 per bar


def test_filter_recursion_matches_arch_for_the_same_parameters() -> None:
    returns, _ = simulate_garch(3_000, TRUE, seed=7)
    scaled = returns * 1000
    params = GarchParams(0.03, 0.1, 0.85)
    fixed = arch_model(scaled, mean="Zero", vol="GARCH", p=1, q=1, rescale=False).fix([0.03, 0.1, 0.85])
    sigma2 = np.asarray(fixed.conditional_volatility) ** 2
    forecasts = garch_forecasts(scaled, params, float(sigma2[0]))
    np.testing.assert_allclose(forecasts[:-1], sigma2[1:], rtol=1e-12)


def test_fit_recovers_the_simulated_parameters() -> None:
    returns, _ = simulate_garch(20_000, TRUE, seed=8)
    fit = fit_garch(returns)
    assert fit is not None
    assert fit.params.alpha == pytest.approx(TRUE.alpha, abs=0.03)
    assert fit.params.beta == pytest.approx(TRUE.beta, abs=0.04)
    persistence_var = fit.params.omega / (1 - fit.params.alpha - fit.params.beta)
    assert math.sqrt(persistence_var) == pytest.approx(1e-3, rel=0.15)


def test_volatility_tracks_the_true_sigma_and_waits_for_the_first_fit() -> None:
    returns, sigma = simulate_garch(12_000, TRUE, seed=9)
    out = garch_volatility(returns, window=2_000, refit_every=2_500)
    assert np.isnan(out[:1_999]).all() and np.isfinite(out[1_999:]).all()
    # out[k] forecasts the sigma of return k+1.
    assert np.corrcoef(out[1_999:-1], sigma[2_000:])[0, 1] > 0.9


def test_between_refits_sigma_is_filtered_with_fixed_parameters() -> None:
    returns, _ = simulate_garch(6_000, TRUE, seed=10)
    out = garch_volatility(returns, window=1_000, refit_every=2_000)
    fit = fit_garch(returns[:1_000])
    assert fit is not None
    expected = np.sqrt(garch_forecasts(returns[999:2_999], fit.params, fit.last_sigma2))
    np.testing.assert_allclose(out[999:2_999], expected, rtol=1e-12)
    assert not np.allclose(out[2_999], math.sqrt(fit.params.step(out[2_998] ** 2, returns[2_999])), rtol=1e-9)


def test_refits_only_on_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = garch_module.fit_garch

    def counting(window_returns: np.ndarray, start: GarchParams | None = None):
        calls.append(len(window_returns))
        return real(window_returns, start)

    monkeypatch.setattr(garch_module, "fit_garch", counting)
    returns, _ = simulate_garch(5_000, TRUE, seed=11)
    garch_volatility(returns, window=1_000, refit_every=1_500)
    assert calls == [1_000] * 3          # at returns 999, 2499, 3999
    calls.clear()
    stream = GarchStream(window=1_000, refit_every=1_500)
    for r in returns:
        stream.update(r)
    assert calls == [1_000] * 3


def test_a_window_without_movement_is_not_fitted() -> None:
    returns, _ = simulate_garch(3_000, TRUE, seed=12)
    returns[:1_000] = 0.0
    out = garch_volatility(returns, window=1_000, refit_every=1_000)
    assert np.isnan(out[:1_999]).all() and np.isfinite(out[1_999:]).all()


def test_streaming_garch_equals_the_vectorised_one() -> None:
    returns, _ = simulate_garch(20_000, TRUE, seed=13)
    stream = GarchStream(window=1_500, refit_every=4_000)
    assert_same(np.array([stream.update(r) for r in returns]), garch_volatility(returns, 1_500, 4_000))


# -- rolling regression --------------------------------------------------------------------------
def test_regression_matches_polyfit_window_by_window() -> None:
    x = 400 + np.cumsum(np.random.default_rng(14).normal(0, 0.2, 500))
    result = rolling_regression(x, 30)
    assert np.isnan(result.slope[:29]).all() and np.isnan(result.r2[:29]).all()
    for t in range(29, 500, 7):
        y = x[t - 29:t + 1]
        slope, intercept = np.polyfit(np.arange(30), y, 1)
        residual = y - (slope * np.arange(30) + intercept)
        r2 = 1 - residual @ residual / ((y - y.mean()) @ (y - y.mean()))
        assert result.slope[t] == pytest.approx(slope, rel=1e-9, abs=1e-12)
        assert result.r2[t] == pytest.approx(r2, rel=1e-8, abs=1e-12)


def test_regression_of_a_line_and_of_a_flat_window() -> None:
    line = rolling_regression(2.5 * np.arange(10.0) + 100, 5)
    np.testing.assert_allclose(line.slope[4:], 2.5, rtol=1e-12)
    np.testing.assert_allclose(line.r2[4:], 1.0, rtol=1e-12)
    flat = rolling_regression(np.full(10, 400.1), 5)
    assert np.all(flat.slope[4:] == 0.0) and np.all(flat.r2[4:] == 0.0)


def test_streaming_regression_equals_the_vectorised_one() -> None:
    x = 400 + np.cumsum(np.random.default_rng(15).normal(0, 0.2, 20_000))
    x[3_000:3_100] = x[2_999]
    stream = RegressionStream(30)
    values = [stream.update(v) for v in x]
    result = rolling_regression(x, 30)
    assert_same(np.array([v.slope for v in values]), result.slope)
    assert_same(np.array([v.r2 for v in values]), result.r2)


# -- volatility rank -----------------------------------------------------------------------------
def ref_rank(x: np.ndarray, window: int) -> np.ndarray:
    out = np.full(len(x), NAN)
    for t in range(window - 1, len(x)):
        w = x[t - window + 1:t + 1]
        if np.isnan(w).any():
            continue
        below = sum(1 for v in w if v < x[t])
        ties = sum(1 for v in w if v == x[t]) - 1
        out[t] = (below + 0.5 * ties) / (window - 1)
    return out


def test_rank_hand_worked() -> None:
    out = volatility_rank(np.array([3.0, 1.0, 2.0, 5.0, 2.0, 2.0]), 3)
    # windows [3,1,2] -> 2 is middle: 0.5; [1,2,5] -> 1.0; [2,5,2] -> tie: 0.25; [5,2,2] -> 0.25
    assert_same(out, np.array([NAN, NAN, 0.5, 1.0, 0.25, 0.25]))


def test_rank_matches_the_reference_loop_with_ties_and_gaps() -> None:
    x = np.round(np.random.default_rng(16).lognormal(0, 0.3, 3_000), 1)   # many ties
    x[:14] = NAN
    x[1_000] = NAN
    assert_same(volatility_rank(x, 50), ref_rank(x, 50))


def test_streaming_rank_equals_the_vectorised_one() -> None:
    x = np.random.default_rng(17).lognormal(0, 0.3, 20_000)
    x[:14] = NAN
    x[::997] = np.round(x[::997], 1)
    stream = VolatilityRankStream(390)
    assert_same(np.array([stream.update(v) for v in x]), volatility_rank(x, 390))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 10), st.just(NAN)), min_size=1, max_size=60), st.integers(2, 20))
def test_rank_is_a_share_between_zero_and_one(values: list[float], window: int) -> None:
    out = volatility_rank(np.array(values), window)
    finite = out[~np.isnan(out)]
    assert np.all((finite >= 0.0) & (finite <= 1.0))
