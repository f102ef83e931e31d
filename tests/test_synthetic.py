"""The synthetic generator: realistic bars whose true regimes are distinguishable."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.data.bar import BarSeries
from engine.data.calendar import is_trading_day, trading_days, us_market_holidays
from engine.data.synthetic import PROFILES, generate_bars, generate_many, profile_for
from engine.regime.regime import Regime

MINUTE = 60_000_000_000
CASES = [("QQQ", 0), ("SPY", 3), ("AAPL", 7), ("ZZTOP", 11)]


@pytest.fixture(scope="module", params=CASES, ids=[f"{s}-{k}" for s, k in CASES])
def bars(request: pytest.FixtureRequest) -> BarSeries:
    symbol, seed = request.param
    return generate_bars(symbol, days=20, seed=seed)


def _within_phase_returns(series: BarSeries, regime: Regime) -> list[np.ndarray]:
    """One-minute log returns inside each run of `regime`, never across a night."""
    r = np.diff(np.log(series.close))
    keep = (series.phase[1:] == regime) & (series.phase[:-1] == regime) & (np.diff(series.ts) == MINUTE)
    runs = np.split(r, np.flatnonzero(~keep) + 1)
    keeps = np.split(keep, np.flatnonzero(~keep) + 1)
    return [run[k] for run, k in zip(runs, keeps) if k.sum() > 2]


def _lag1_autocorrelation(runs: list[np.ndarray]) -> float:
    """Pooled lag-1 autocorrelation, pairs taken within runs, mean removed per run."""
    num = den = 0.0
    for run in runs:
        x = run - run.mean()
        num += float(np.sum(x[1:] * x[:-1]))
        den += float(np.sum(x * x))
    return num / den


def _variance_ratio(runs: list[np.ndarray], q: int = 10) -> float:
    """Var of q-bar sums over q times the variance of one-bar returns (Lo-MacKinlay)."""
    one, many = [], []
    for run in runs:
        one.extend(run)
        sums = np.convolve(run, np.ones(q), mode="valid")
        many.extend(sums)
    return float(np.mean(np.square(many)) / (q * np.mean(np.square(one))))


def _three_candle_gaps(series: BarSeries) -> np.ndarray:
    """Bar i completes a gap when low[i] > high[i-2] or high[i] < low[i-2] (same session)."""
    h, l = series.high, series.low
    gap = (l[2:] > h[:-2]) | (h[2:] < l[:-2])
    same_day = (series.ts[2:] - series.ts[:-2]) == 2 * MINUTE
    return np.concatenate(([False, False], gap & same_day))


def test_same_arguments_give_identical_arrays() -> None:
    a, b = generate_bars("QQQ", days=5, seed=42), generate_bars("QQQ", days=5, seed=42)
    for name in ("ts", "open", "high", "low", "close", "volume", "phase"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_different_seeds_and_symbols_differ() -> None:
    base = generate_bars("QQQ", days=2, seed=1)
    assert not np.array_equal(base.close, generate_bars("QQQ", days=2, seed=2).close)
    assert not np.array_equal(base.close, generate_bars("SPY", days=2, seed=1).close)


def test_generate_many_matches_generate_bars_per_symbol() -> None:
    many = generate_many(["qqq", "SPY", "QQQ"], days=3, seed=9)
    assert list(many) == ["QQQ", "SPY"]
    for symbol, series in many.items():
        alone = generate_bars(symbol, days=3, seed=9)
        assert np.array_equal(series.close, alone.close) and series.symbol == symbol


def test_390_bars_a_day_inside_the_regular_session(bars: BarSeries) -> None:
    assert len(bars) == 20 * 390
    local = bars.timestamps("America/New_York")
    minutes = local.hour * 60 + local.minute
    assert minutes.min() == 9 * 60 + 30 and minutes.max() == 15 * 60 + 59
    assert np.all(np.diff(bars.ts) > 0)
    per_day = pd.Series(1, index=local.date).groupby(level=0).count()
    assert (per_day == 390).all() and len(per_day) == 20


def test_sessions_are_trading_days_only() -> None:
    # 2024-01-12 (Fri) then MLK day 2024-01-15 is a holiday: the next session is the 16th.
    series = generate_bars("QQQ", days=10, seed=0, start="2024-01-06")
    days = sorted(set(series.timestamps("America/New_York").date))
    assert days == trading_days(date(2024, 1, 6), 10)
    assert date(2024, 1, 15) not in days and all(d.weekday() < 5 for d in days)


def test_us_holidays_match_the_published_calendar() -> None:
    # NYSE 2024 holidays as published.
    assert us_market_holidays(2024) == {
        date(2024, 1, 1), date(2024, 1, 15), date(2024, 2, 19), date(2024, 3, 29), date(2024, 5, 27),
        date(2024, 6, 19), date(2024, 7, 4), date(2024, 9, 2), date(2024, 11, 28), date(2024, 12, 25),
    }
    # A Saturday New Year (2022) is not observed on the Friday before; Christmas 2022 (Sun) is Monday.
    assert is_trading_day(date(2021, 12, 31)) and not is_trading_day(date(2022, 12, 26))
    # Good Friday 2025 (Easter 20 April) and a Saturday July 4th (2026 -> Friday 3rd).
    assert not is_trading_day(date(2025, 4, 18)) and not is_trading_day(date(2026, 7, 3))


def test_ohlc_is_consistent_and_positive(bars: BarSeries) -> None:
    assert np.all(bars.low > 0)
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(bars.volume > 0) and np.all(bars.volume == np.round(bars.volume))
    assert np.all(np.round(bars.close, 2) == bars.close)


def test_each_bar_opens_at_the_previous_close_except_after_the_night(bars: BarSeries) -> None:
    same_day = np.diff(bars.ts) == MINUTE
    assert np.array_equal(bars.open[1:][same_day], bars.close[:-1][same_day])
    overnight = np.abs(np.log(bars.open[1:][~same_day] / bars.close[:-1][~same_day]))
    assert len(overnight) == 19 and overnight.max() > 0.0   # opening gaps exist


def test_all_four_regimes_appear_in_20_days(bars: BarSeries) -> None:
    counts = np.bincount(bars.phase, minlength=4)
    assert bars.phase.dtype == np.int8 and len(counts) == 4
    assert np.all(counts >= 200), counts


def test_phases_last_from_30_to_300_bars(bars: BarSeries) -> None:
    change = np.flatnonzero(np.diff(bars.phase)) + 1
    lengths = np.diff(change)   # complete phases only (the first and last may be cut)
    assert lengths.min() >= 30 and lengths.max() <= 300


def test_volatility_orders_compression_below_trend_and_range_below_expansion(bars: BarSeries) -> None:
    vol = {r: np.concatenate(_within_phase_returns(bars, r)).std() for r in Regime}
    assert vol[Regime.COMPRESSION] < min(vol[Regime.MEAN_REVERSION], vol[Regime.TREND])
    assert max(vol[Regime.MEAN_REVERSION], vol[Regime.TREND]) < vol[Regime.EXPANSION]
    assert vol[Regime.EXPANSION] > 2 * vol[Regime.TREND]


def test_trend_increments_are_persistent_and_mean_reversion_antipersistent(bars: BarSeries) -> None:
    trend = _within_phase_returns(bars, Regime.TREND)
    mr = _within_phase_returns(bars, Regime.MEAN_REVERSION)
    assert _lag1_autocorrelation(trend) > 0.05
    assert _lag1_autocorrelation(mr) < -0.05
    assert _variance_ratio(trend) > 1.2
    assert _variance_ratio(mr) < 0.8


def test_expansion_leaves_more_three_candle_gaps_per_bar(bars: BarSeries) -> None:
    gaps = _three_candle_gaps(bars)
    rate = {r: gaps[bars.phase == r].mean() for r in Regime}
    others = max(rate[r] for r in Regime if r is not Regime.EXPANSION)
    assert rate[Regime.EXPANSION] > others + 0.05, rate


def test_trend_has_higher_adx_than_mean_reversion() -> None:
    series = generate_bars("QQQ", days=20, seed=5)
    adx = _wilder_adx(series.high, series.low, series.close, 14)
    trend = np.nanmedian(adx[series.phase == Regime.TREND])
    mr = np.nanmedian(adx[series.phase == Regime.MEAN_REVERSION])
    assert trend > 25.0 > mr


def test_hurst_of_trend_phases_above_half_and_mean_reversion_below() -> None:
    series = generate_bars("SPY", days=20, seed=2)
    log_close = np.log(series.close)
    change = np.concatenate(([0], np.flatnonzero(np.diff(series.phase)) + 1, [len(series)]))
    h: dict[int, list[float]] = {int(r): [] for r in Regime}
    for a, b in zip(change[:-1], change[1:]):
        if b - a >= 100:
            h[int(series.phase[a])].append(_hurst_lagged_sd(log_close[a:b]))
    assert np.median(h[Regime.TREND]) > 0.55
    assert np.median(h[Regime.MEAN_REVERSION]) < 0.45


def test_volatility_clusters() -> None:
    series = generate_bars("QQQ", days=20, seed=4)
    absolute = np.concatenate([np.abs(r) for r in _within_phase_returns(series, Regime.TREND)])
    assert np.corrcoef(absolute[1:], absolute[:-1])[0, 1] > 0.05


def test_volume_is_u_shaped_through_the_day() -> None:
    series = generate_bars("SPY", days=20, seed=1)
    by_minute = series.volume.reshape(20, 390).mean(axis=0)
    midday = by_minute[150:240].mean()
    assert by_minute[:30].mean() > 1.5 * midday and by_minute[-30:].mean() > 1.5 * midday


def test_profiles_known_and_derived() -> None:
    assert generate_bars("SPY", days=1, seed=0).open[0] == PROFILES["SPY"].price
    derived = profile_for("NEWCO")
    assert derived == profile_for("newco")                       # stable, case-insensitive
    assert 30.0 <= derived.price <= 600.0 and 0.15 <= derived.annual_vol <= 0.45


def test_500k_bars_generate() -> None:
    series = generate_bars("QQQ", days=1283, seed=0)
    assert len(series) == 500_370 and np.all(np.isfinite(series.close))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "days must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"symbol": " "}, "symbol must be a non-empty string"),
        ({"start": "not a date"}, "is not a date"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_bars(**kwargs)


# -- independent reference computations ---------------------------------------------------

def _wilder_adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """ADX from Wilder's definitions, as plain loops."""
    size = len(close)
    tr = np.zeros(size)
    plus = np.zeros(size)
    minus = np.zeros(size)
    for i in range(1, size):
        up, down = high[i] - high[i - 1], low[i - 1] - low[i]
        plus[i] = up if up > down and up > 0 else 0.0
        minus[i] = down if down > up and down > 0 else 0.0
        tr[i] = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
    adx = np.full(size, np.nan)
    s_tr, s_p, s_m = tr[1:n + 1].sum(), plus[1:n + 1].sum(), minus[1:n + 1].sum()
    dx = []
    for i in range(n, size):
        if i > n:
            s_tr += tr[i] - s_tr / n
            s_p += plus[i] - s_p / n
            s_m += minus[i] - s_m / n
        pdi, mdi = 100 * s_p / s_tr, 100 * s_m / s_tr
        dx.append(100 * abs(pdi - mdi) / (pdi + mdi) if pdi + mdi > 0 else 0.0)
        if len(dx) == n:
            adx[i] = np.mean(dx)
        elif len(dx) > n:
            adx[i] = (adx[i - 1] * (n - 1) + dx[-1]) / n
    return adx


def _hurst_lagged_sd(log_price: np.ndarray, lags: tuple[int, ...] = (1, 2, 4, 8, 16)) -> float:
    """Slope of log sd(x[t+k] - x[t]) against log k, mean difference removed."""
    sd = [np.std(log_price[k:] - log_price[:-k]) for k in lags]
    return float(np.polyfit(np.log(lags), np.log(sd), 1)[0])
