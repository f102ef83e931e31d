"""validate_bars: every bad row found, counted, dropped (or raised); holes reported only."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data.bar import BarSeries
from engine.data.validation import validate_bars

NY = "America/New_York"
MINUTE = 60_000_000_000


def _minute_bars(n: int, start: str = "2024-01-02 09:30", symbol: str = "QQQ") -> BarSeries:
    """n clean one-minute bars of one session, prices 100, 101, ..."""
    ts = pd.date_range(start, periods=n, freq="min", tz=NY).tz_convert("UTC").as_unit("ns").asi8.astype(np.int64)
    close = 100.0 + np.arange(n, dtype=np.float64)
    return BarSeries(symbol, ts, close - 0.5, close + 1.0, close - 1.0, close, np.full(n, 1000.0))


def _with(series: BarSeries, **columns: np.ndarray) -> BarSeries:
    values = {name: getattr(series, name) for name in ("ts", "open", "high", "low", "close", "volume", "phase")}
    values.update(columns)
    return BarSeries(series.symbol, **values)


def _reasons(report) -> dict[str, int]:
    return {issue.reason: issue.count for issue in report.issues}


def test_clean_bars_pass_untouched() -> None:
    series = _minute_bars(30)
    clean, report = validate_bars(series, tz=NY)
    assert report.ok and report.rows_in == report.rows_out == 30 and report.hole_count == 0
    assert clean is series
    assert report.frequency_ns == MINUTE
    assert "OK" in report.summary()


@pytest.mark.parametrize(
    ("column", "row", "value", "reason"),
    [
        ("close", 3, np.nan, "non-finite price (NaN or inf)"),
        ("high", 3, np.inf, "non-finite price (NaN or inf)"),
        ("low", 3, -1.0, "non-positive price"),
        ("open", 3, 0.0, "non-positive price"),
        ("high", 3, 101.0, "high below low"),          # low of row 3 is 102
        ("open", 3, 110.0, "open outside [low, high]"),
        ("close", 3, 90.0, "close outside [low, high]"),
        ("volume", 3, -5.0, "negative, NaN or infinite volume"),
        ("volume", 3, np.nan, "negative, NaN or infinite volume"),
    ],
)
def test_each_bad_row_is_dropped_with_its_reason(column: str, row: int, value: float, reason: str) -> None:
    series = _minute_bars(10)
    broken = getattr(series, column).copy()
    broken[row] = value
    clean, report = validate_bars(_with(series, **{column: broken}), tz=NY)
    assert _reasons(report) == {reason: 1}
    assert report.issues[0].rows == (row,) and report.issues[0].first_ts == (int(series.ts[row]),)
    assert len(clean) == 9 and series.ts[row] not in clean.ts
    assert not report.ok and "PROBLEMS FOUND" in report.summary() and reason in report.summary()


def test_a_row_with_several_problems_counts_once_under_the_first() -> None:
    series = _minute_bars(5)
    close, volume = series.close.copy(), series.volume.copy()
    close[2], volume[2] = np.nan, -1.0
    _, report = validate_bars(_with(series, close=close, volume=volume), tz=NY)
    assert _reasons(report) == {"non-finite price (NaN or inf)": 1}


def test_duplicate_timestamps_keep_the_first_row() -> None:
    series = _minute_bars(6)
    order = np.array([0, 1, 2, 2, 3, 4, 5])
    dup = BarSeries("QQQ", series.ts[order], series.open[order], series.high[order], series.low[order],
                    series.close[order] + np.array([0, 0, 0, 0.25, 0, 0, 0]), series.volume[order])
    clean, report = validate_bars(dup, tz=NY)
    assert _reasons(report) == {"duplicate timestamp": 1}
    assert report.issues[0].rows == (3,)
    assert np.array_equal(clean.ts, series.ts) and clean.close[2] == series.close[2]


def test_out_of_order_drops_the_fewest_rows() -> None:
    # One bar stamped far ahead: only it goes, not all the bars after it.
    series = _minute_bars(8)
    ts = series.ts.copy()
    ts[2] = series.ts[7] + 10 * MINUTE
    clean, report = validate_bars(_with(series, ts=ts), tz=NY)
    assert _reasons(report) == {"out-of-order timestamp": 1}
    assert report.issues[0].rows == (2,)
    assert len(clean) == 7 and np.all(np.diff(clean.ts) > 0)


def test_swapped_rows_lose_one_of_the_pair() -> None:
    series = _minute_bars(6)
    order = np.array([0, 1, 3, 2, 4, 5])
    swapped = BarSeries("QQQ", *(getattr(series, c)[order] for c in ("ts", "open", "high", "low", "close", "volume")))
    clean, report = validate_bars(swapped, tz=NY)
    assert _reasons(report) == {"out-of-order timestamp": 1}
    assert np.all(np.diff(clean.ts) > 0) and len(clean) == 5


def test_raise_mode_names_the_counts() -> None:
    series = _minute_bars(10)
    high, ts = series.high.copy(), series.ts.copy()
    high[1] = 0.5
    high[2] = 0.5
    ts[5] = ts[4]
    with pytest.raises(ValueError, match=r"QQQ: 3 bad rows: 2 high below low, 1 duplicate timestamp"):
        validate_bars(_with(series, high=high, ts=ts), on_error="raise", tz=NY)


def test_raise_mode_passes_clean_data() -> None:
    clean, report = validate_bars(_minute_bars(5), on_error="raise", tz=NY)
    assert report.ok and len(clean) == 5


def test_holes_inside_a_session_are_reported_not_filled() -> None:
    series = _minute_bars(60)
    keep = np.setdiff1d(np.arange(60), [10, 11, 12, 40])
    holed = BarSeries("QQQ", *(getattr(series, c)[keep] for c in ("ts", "open", "high", "low", "close", "volume")))
    clean, report = validate_bars(holed, tz=NY)
    assert report.ok and len(clean) == 56
    assert report.hole_count == 2 and report.missing_bars == 4
    assert [(h.after_ts, h.before_ts, h.missing) for h in report.holes] == [
        (int(series.ts[9]), int(series.ts[13]), 3),
        (int(series.ts[39]), int(series.ts[41]), 1),
    ]
    assert "2 holes, 4 bars missing" in report.summary() and "OK, with holes" in report.summary()


def test_nights_weekends_and_holidays_are_not_holes() -> None:
    # Friday 2024-01-12 close, then Tuesday 2024-01-16 (Monday is MLK day).
    friday = _minute_bars(390, "2024-01-12 09:30")
    tuesday = _minute_bars(390, "2024-01-16 09:30")
    both = BarSeries("QQQ", *(np.concatenate([getattr(friday, c), getattr(tuesday, c)])
                              for c in ("ts", "open", "high", "low", "close", "volume")))
    _, report = validate_bars(both, tz=NY)
    assert report.ok and report.hole_count == 0


def test_missing_trading_days_are_holes_for_daily_bars() -> None:
    # 2024-01-08 (Mon) .. 2024-01-19 (Fri) with Wednesday the 10th missing; MLK day is no hole.
    days = [d for d in pd.bdate_range("2024-01-08", "2024-01-19") if d.day not in (10, 15)]
    ts = pd.DatetimeIndex(days).tz_localize(NY).tz_convert("UTC").as_unit("ns").asi8.astype(np.int64)
    price = np.full(len(ts), 100.0)
    _, report = validate_bars(BarSeries("SPY", ts, price, price + 1, price - 1, price, price), tz=NY)
    assert report.frequency_ns == 86_400_000_000_000
    assert report.hole_count == 1 and report.missing_bars == 1
    assert pd.Timestamp(report.holes[0].after_ts, tz="UTC").tz_convert(NY).day == 9


def test_frames_are_accepted_with_a_tz_aware_index() -> None:
    series = _minute_bars(5)
    frame = series.to_frame()
    frame.loc[frame.index[1], "volume"] = -1.0
    clean, report = validate_bars(frame, symbol="QQQ", tz=NY)
    assert _reasons(report) == {"negative, NaN or infinite volume": 1} and len(clean) == 4


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (pd.DataFrame({"open": [1.0]}, index=pd.DatetimeIndex(["2024-01-02"])), {"symbol": "X"}, "tz-aware DatetimeIndex"),
        (pd.DataFrame({"open": [1.0]}, index=pd.DatetimeIndex(["2024-01-02"], tz="UTC")), {"symbol": "X"}, r"lacks columns \['high'"),
        (pd.DataFrame(), {}, "needs symbol="),
        ([1, 2, 3], {"symbol": "X"}, "needs a BarSeries or a pandas DataFrame"),
        (None, {"on_error": "ignore"}, "on_error must be 'drop' or 'raise'"),
        (None, {"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_arguments_are_named(data, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_bars(_minute_bars(3) if data is None else data, **kwargs)


_price = st.one_of(st.floats(-5, 200, allow_nan=False), st.just(np.nan), st.just(np.inf))


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 40), _price, _price, _price, _price, st.one_of(st.floats(-10, 1e6), st.just(np.nan))),
        min_size=1, max_size=40,
    )
)
def test_property_clean_output_is_valid_and_every_dropped_row_is_counted(rows: list[tuple]) -> None:
    ts, o, h, l, c, v = (np.array(col) for col in zip(*rows))
    base = pd.Timestamp("2024-01-02 14:30", tz="UTC").value
    series = BarSeries("X", base + ts.astype(np.int64) * MINUTE, *(x.astype(np.float64) for x in (o, h, l, c, v)))
    clean, report = validate_bars(series, tz=NY)
    assert report.rows_in - report.rows_out == sum(issue.count for issue in report.issues)
    assert report.ok == (report.rows_in == report.rows_out)
    assert np.all(np.diff(clean.ts) > 0)
    assert np.all(np.isfinite(clean.close)) and np.all(clean.low > 0) and np.all(clean.volume >= 0)
    assert np.all((clean.low <= clean.open) & (clean.open <= clean.high))
    assert np.all((clean.low <= clean.close) & (clean.close <= clean.high))
    # Rows kept are exactly the good ones: re-validating changes nothing.
    again, second = validate_bars(clean, tz=NY)
    assert second.ok and len(again) == len(clean)
