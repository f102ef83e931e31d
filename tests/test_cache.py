"""BarCache: a real SQLite file; upserts never duplicate; loads by range."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.bar import BarSeries
from engine.data.cache import BarCache, Coverage, timeframe_for
from engine.data.synthetic import generate_bars

NY = "America/New_York"
COLUMNS = ("ts", "open", "high", "low", "close", "volume", "phase")


@pytest.fixture()
def cache(tmp_path: Path):
    with BarCache(tmp_path / "bars.sqlite", tz=NY) as opened:
        yield opened


def _equal(a: BarSeries, b: BarSeries) -> bool:
    return all(
        (getattr(a, c) is None and getattr(b, c) is None) or np.array_equal(getattr(a, c), getattr(b, c))
        for c in COLUMNS
    )


def _row_count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM bars").fetchone()[0]


def test_save_then_load_gives_the_same_bars(cache: BarCache) -> None:
    series = generate_bars("QQQ", days=3, seed=1)
    assert cache.save(series) == len(series)
    loaded = cache.load("QQQ")
    assert _equal(series, loaded) and loaded.symbol == "QQQ"
    assert loaded.ts.dtype == np.int64 and loaded.phase.dtype == np.int8


def test_bars_without_phase_load_without_phase(cache: BarCache) -> None:
    s = generate_bars("SPY", days=1, seed=2)
    plain = BarSeries("SPY", s.ts, s.open, s.high, s.low, s.close, s.volume)
    cache.save(plain)
    assert cache.load("SPY").phase is None


def test_overlapping_saves_upsert_without_duplicates(cache: BarCache) -> None:
    series = generate_bars("QQQ", days=3, seed=1)
    cache.save(series.slice(0, 700))
    revised = series.slice(500, len(series))
    bumped = BarSeries("QQQ", revised.ts, revised.open, revised.high + 1.0, revised.low, revised.close,
                       revised.volume, revised.phase)
    cache.save(bumped)
    assert _row_count(cache.path) == len(series)
    loaded = cache.load("QQQ")
    assert np.array_equal(loaded.ts, series.ts)
    assert np.array_equal(loaded.high[:500], series.high[:500])
    assert np.array_equal(loaded.high[500:], series.high[500:] + 1.0)   # the later save wins


def test_load_by_range_is_start_inclusive_end_exclusive(cache: BarCache) -> None:
    series = generate_bars("QQQ", days=3, seed=1)
    cache.save(series)
    day2 = cache.load("QQQ", start="2024-01-03", end="2024-01-04")       # naive: New York dates
    local = day2.timestamps(NY)
    assert len(day2) == 390 and str(local[0]) == "2024-01-03 09:30:00-05:00"
    exact = cache.load("QQQ", start=int(series.ts[10]), end=int(series.ts[20]))
    assert np.array_equal(exact.ts, series.ts[10:20])
    aware = cache.load("QQQ", start=pd.Timestamp(series.ts[-5], tz="UTC"))
    assert np.array_equal(aware.ts, series.ts[-5:])
    assert len(cache.load("QQQ", start="2030-01-01")) == 0


def test_timeframes_and_symbols_are_kept_apart(cache: BarCache) -> None:
    qqq, spy = generate_bars("QQQ", days=1, seed=1), generate_bars("SPY", days=2, seed=1)
    cache.save(qqq)
    cache.save(qqq.slice(0, 10), timeframe="5min")
    cache.save(spy)
    assert cache.symbols() == ["QQQ", "SPY"]
    assert cache.coverage("QQQ", "1min") == Coverage(int(qqq.ts[0]), int(qqq.ts[-1]), 390)
    assert cache.coverage("QQQ", "5min").count == 10
    assert cache.coverage("IWM", "1min") is None
    assert [(e.symbol, e.timeframe, e.coverage.count) for e in cache.catalog()] == [
        ("QQQ", "1min", 390), ("QQQ", "5min", 10), ("SPY", "1min", 780),
    ]


def test_unknown_symbol_names_what_is_cached(cache: BarCache) -> None:
    cache.save(generate_bars("QQQ", days=1, seed=1))
    with pytest.raises(ValueError, match=r"no 1min bars for 'IWM'; the cache holds QQQ/1min"):
        cache.load("IWM")


def test_bad_timeframe_and_times_are_named(cache: BarCache) -> None:
    with pytest.raises(ValueError, match="timeframe '1 minute' is not valid"):
        cache.save(generate_bars("QQQ", days=1), timeframe="1 minute")
    cache.save(generate_bars("QQQ", days=1))
    with pytest.raises(ValueError, match="BarCache.load start 'yesterday-ish' is not a time"):
        cache.load("QQQ", start="yesterday-ish")


def test_the_file_uses_wal_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state" / "bars.sqlite"
    series = generate_bars("IWM", days=1, seed=4)
    with BarCache(path, tz=NY) as first:
        first.save(series)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with BarCache(path, tz=NY) as second:
        assert _equal(second.load("IWM"), series)


@pytest.mark.parametrize(
    ("spacing_s", "name"), [(60, "1min"), (300, "5min"), (3600, "1h"), (86_400, "1d"), (604_800, "1w"), (30, "30s")]
)
def test_timeframe_names_from_bar_spacing(spacing_s: int, name: str) -> None:
    assert timeframe_for(spacing_s * 1_000_000_000) == name


def test_timeframe_for_rejects_sub_second_spacing() -> None:
    with pytest.raises(ValueError, match="has no timeframe name"):
        timeframe_for(1_500_000_000)
