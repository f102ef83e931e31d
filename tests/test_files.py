"""load_bars / save_bars: CSV and Parquet, explicit time zones, errors that name the place."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.bar import BarSeries
from engine.data.files import load_bars, save_bars
from engine.data.synthetic import generate_bars

NY = "America/New_York"
COLUMNS = ("ts", "open", "high", "low", "close", "volume")
# 2024-01-02 09:30 New York is 14:30 UTC.
FIRST_BAR_NS = pd.Timestamp("2024-01-02 14:30", tz="UTC").value
MINUTE = 60_000_000_000


def _equal(a: BarSeries, b: BarSeries) -> bool:
    same = all(np.array_equal(getattr(a, c), getattr(b, c)) for c in COLUMNS)
    phases = (a.phase is None and b.phase is None) or np.array_equal(a.phase, b.phase)
    return same and phases and a.symbol == b.symbol


def _write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["bars.csv", "bars.csv.gz", "bars.parquet", "bars.pq"])
def test_save_then_load_round_trips_exactly(tmp_path: Path, name: str) -> None:
    series = generate_bars("AAPL", days=2, seed=3)
    save_bars(series, tmp_path / name)
    loaded, report = load_bars(tmp_path / name, tz=NY)
    assert report.ok and _equal(series, loaded)


def test_round_trip_keeps_nanoseconds_and_awkward_floats(tmp_path: Path) -> None:
    ts = np.array([FIRST_BAR_NS, FIRST_BAR_NS + MINUTE + 1, FIRST_BAR_NS + 2 * MINUTE + 7], dtype=np.int64)
    close = np.array([0.1 + 0.2, 1 / 3, 123456.78901234567])
    series = BarSeries("X", ts, close, close * 1.01, close * 0.99, close, np.array([1.5, 0.0, 1e12]))
    for name in ("x.csv", "x.parquet"):
        save_bars(series, tmp_path / name)
        loaded, _ = load_bars(tmp_path / name, tz=NY)
        assert _equal(series, loaded), name


def test_naive_times_are_exchange_wall_clock(tmp_path: Path) -> None:
    path = _write(tmp_path / "QQQ.csv", """
Date,Open,High,Low,Close,Volume
2024-01-02 09:30:00,10,11,9,10.5,100
2024-01-02 09:31:00,10.5,11,10,10.8,120
""")
    series, report = load_bars(path, tz=NY)
    assert series.symbol == "QQQ"                      # from the file name
    assert series.ts.tolist() == [FIRST_BAR_NS, FIRST_BAR_NS + MINUTE]
    assert report.ok and report.frequency_ns == MINUTE
    # The same wall-clock times read in another zone are other instants.
    in_london, _ = load_bars(path, tz="Europe/London")
    assert in_london.ts[0] == pd.Timestamp("2024-01-02 09:30", tz="Europe/London").value


def test_times_with_offsets_are_converted_whatever_the_zone(tmp_path: Path) -> None:
    # Winter and summer offsets in one file, and a Z suffix.
    path = _write(tmp_path / "spy.csv", """
timestamp,open,high,low,close,volume
2024-01-02T09:30:00-05:00,1,2,0.5,1.5,10
2024-07-02T09:30:00-04:00,1,2,0.5,1.5,10
2024-07-03T13:30:00Z,1,2,0.5,1.5,10
""")
    series, _ = load_bars(path, tz="Asia/Tokyo")
    expected = pd.DatetimeIndex(["2024-01-02 14:30", "2024-07-02 13:30", "2024-07-03 13:30"], tz="UTC")
    assert series.ts.tolist() == expected.as_unit("ns").asi8.tolist()


@pytest.mark.parametrize(("factor", "unit"), [(1, "seconds"), (1_000, "milliseconds"), (1_000_000_000, "nanoseconds")])
def test_epoch_numbers_are_detected_by_magnitude(tmp_path: Path, factor: int, unit: str) -> None:
    seconds = FIRST_BAR_NS // 1_000_000_000
    path = _write(tmp_path / "e.csv", f"""
time,open,high,low,close,volume
{seconds * factor},1,2,0.5,1.5,10
{(seconds + 60) * factor},1,2,0.5,1.5,10
""")
    series, _ = load_bars(path, tz=NY)
    assert series.ts.tolist() == [FIRST_BAR_NS, FIRST_BAR_NS + MINUTE], unit


def test_daily_bars_with_date_only_and_yyyymmdd(tmp_path: Path) -> None:
    text = "date,open,high,low,close,volume\n{}\n{}\n"
    iso = _write(tmp_path / "d1.csv", text.format("2024-01-02,1,2,0.5,1.5,10", "2024-01-03,1,2,0.5,1.5,10"))
    compact = _write(tmp_path / "d2.csv", text.format("20240102,1,2,0.5,1.5,10", "20240103,1,2,0.5,1.5,10"))
    a, report = load_bars(iso, tz=NY)
    b, _ = load_bars(compact, tz=NY)
    midnight = pd.Timestamp("2024-01-02", tz=NY).value
    assert a.ts[0] == b.ts[0] == midnight and report.frequency_ns == 86_400_000_000_000


def test_separate_date_and_time_columns_are_joined(tmp_path: Path) -> None:
    path = _write(tmp_path / "dt.csv", """
date,time,open,high,low,close,volume
2024-01-02,09:30,1,2,0.5,1.5,10
2024-01-02,09:31,1,2,0.5,1.5,10
""")
    series, _ = load_bars(path, tz=NY)
    assert series.ts[0] == FIRST_BAR_NS


def test_a_pandas_index_column_is_the_time(tmp_path: Path) -> None:
    frame = generate_bars("QQQ", days=1, seed=0).slice(0, 5).to_frame().drop(columns="phase")
    frame.index = frame.index.tz_convert(NY).tz_localize(None)
    frame.index.name = None
    frame.to_csv(tmp_path / "idx.csv")                # header starts with an empty name
    frame.to_parquet(tmp_path / "idx.parquet")        # the index is stored as such
    for name in ("idx.csv", "idx.parquet"):
        series, report = load_bars(tmp_path / name, symbol="QQQ", tz=NY)
        assert series.ts[0] == FIRST_BAR_NS and len(series) == 5 and report.ok, name


def test_symbol_column_selects_rows_case_insensitively(tmp_path: Path) -> None:
    path = _write(tmp_path / "many.csv", """
Symbol,Timestamp,Open,High,Low,Close,Volume
QQQ,2024-01-02 09:30,1,2,0.5,1.5,10
SPY,2024-01-02 09:30,5,6,4.5,5.5,20
QQQ,2024-01-02 09:31,1,2,0.5,1.5,10
""")
    series, _ = load_bars(path, symbol="qqq", tz=NY)
    assert len(series) == 2 and series.symbol == "qqq"
    with pytest.raises(ValueError, match=r"many.csv: holds several symbols \(QQQ, SPY\); say which one"):
        load_bars(path, tz=NY)
    with pytest.raises(ValueError, match=r"no rows for symbol 'IWM'; the file holds QQQ, SPY"):
        load_bars(path, symbol="IWM", tz=NY)


def test_bad_rows_in_a_file_are_dropped_and_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", """
timestamp,open,high,low,close,volume
2024-01-02 09:30,1,2,0.5,1.5,10
2024-01-02 09:31,1,0.4,0.5,1.5,10
2024-01-02 09:32,1,2,0.5,,10
2024-01-02 09:33,1,2,0.5,1.5,10
""")
    series, report = load_bars(path, tz=NY)
    assert len(series) == 2 and not report.ok
    assert {i.reason for i in report.issues} == {"high below low", "non-finite price (NaN or inf)"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,open,high,low,close\n2024-01-02,1,2,0.5,1.5", r"missing column 'volume'; found 'timestamp', 'open'"),
        ("when,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,1", "no time column; expected one named timestamp"),
        ("timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,1\nsoon,1,2,0.5,1.5,1",
         r"column 'timestamp': unparseable timestamp 'soon' at data row 2"),
        ("timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,1\n,1,2,0.5,1.5,1",
         r"column 'timestamp': missing timestamp at data row 2"),
        ("timestamp,open,high,low,close,volume\n123,1,2,0.5,1.5,1", "are not epoch seconds, milliseconds"),
        ("timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,abc,1", r"column 'close': 'abc' at data row 1 is not a number"),
        ("timestamp,open,high,low,close,volume\n2024-01-02 09:30-05:00,1,2,0.5,1,1\n2024-01-02 09:31,1,2,0.5,1,1",
         r"mixes times with and without a UTC offset \(data row 2"),
        ("timestamp,open,high,low,close,volume\n2024-03-10 02:30,1,2,0.5,1,1", "daylight-saving"),
        ("timestamp,open,high,low,close,volume,phase\n2024-01-02,1,2,0.5,1,1,7", "column 'phase' holds 7.0 at data row 1"),
        ("timestamp,open,high,low,close,volume", "holds no rows"),
    ],
)
def test_errors_name_the_file_the_column_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "f.csv", text)
    with pytest.raises(ValueError, match=message) as info:
        load_bars(path, tz=NY)
    assert str(path) in str(info.value)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load_bars(tmp_path / "absent.csv", tz=NY)
    with pytest.raises(ValueError, match=r"unknown bar file type; expected a name ending in \.csv"):
        load_bars(tmp_path / "bars.xlsx", tz=NY)
    with pytest.raises(ValueError, match="unknown time zone"):
        load_bars(tmp_path / "absent.csv", tz="Nowhere/City")
    with pytest.raises(ValueError, match="unknown bar file type"):
        save_bars(generate_bars("QQQ", days=1), tmp_path / "bars.txt")


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    save_bars(generate_bars("QQQ", days=1), tmp_path / "sub" / "bars.csv")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["bars.csv"]
