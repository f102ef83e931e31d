"""Download windows: interval arithmetic against a point-set reference, and the SQLite log."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.data.fetch_log import FetchLog, merge_windows, missing_windows

_WINDOW = st.tuples(st.integers(0, 60), st.integers(0, 60)).map(lambda w: (min(w), max(w)))


def _points(windows: list[tuple[int, int]]) -> set[int]:
    """The reference: the integer instants a list of half-open windows covers."""
    return {t for start, end in windows for t in range(start, end)}


@given(st.lists(_WINDOW, max_size=8))
def test_merged_windows_cover_the_same_instants_sorted_and_apart(windows: list[tuple[int, int]]) -> None:
    merged = merge_windows(windows)
    assert _points(merged) == _points(windows)
    assert all(start < end for start, end in merged)
    assert all(a[1] < b[0] for a, b in zip(merged, merged[1:]))   # touching windows were joined


@given(_WINDOW, st.lists(_WINDOW, max_size=8))
def test_missing_windows_are_exactly_what_is_wanted_and_not_held(want: tuple[int, int],
                                                                  have: list[tuple[int, int]]) -> None:
    gaps = missing_windows(want, have)
    assert _points(gaps) == _points([want]) - _points(have)
    assert gaps == merge_windows(gaps) and all(start < end for start, end in gaps)


def test_missing_windows_by_hand() -> None:
    assert missing_windows((0, 100), []) == [(0, 100)]
    assert missing_windows((0, 100), [(0, 100)]) == []
    assert missing_windows((0, 100), [(10, 20), (50, 60)]) == [(0, 10), (20, 50), (60, 100)]
    assert missing_windows((30, 40), [(0, 35)]) == [(35, 40)]


def test_the_log_merges_what_it_records_per_series(tmp_path: Path) -> None:
    log = FetchLog(tmp_path / "bars.sqlite")
    log.record("polygon", "QQQ", "1min", (0, 10))
    log.record("polygon", "QQQ", "1min", (20, 30))
    log.record("polygon", "QQQ", "1min", (10, 20))
    log.record("polygon", "QQQ", "5min", (100, 200))
    assert log.windows("polygon", "QQQ", "1min") == [(0, 30)]
    assert log.windows("polygon", "QQQ", "5min") == [(100, 200)]
    assert log.windows("polygon", "SPY", "1min") == []
    log.close()
    reopened = FetchLog(tmp_path / "bars.sqlite")
    assert reopened.windows("polygon", "QQQ", "1min") == [(0, 30)]
    reopened.close()


def test_an_empty_window_is_refused(tmp_path: Path) -> None:
    log = FetchLog(tmp_path / "bars.sqlite")
    with pytest.raises(ValueError, match=r"window \[5, 5\) is empty"):
        log.record("polygon", "QQQ", "1min", (5, 5))
    log.close()
