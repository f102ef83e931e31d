"""Fair value gaps: detection, every state transition, and streaming == batch."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine.features.fvg import GAP_COLUMNS, FVGTracker, Gap, GapKind, GapState, track_gaps
from engine.features.indicators import atr as wilder_atr

NAN = math.nan


def candles(*bars: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(high, low) pairs -> ts (bar index), high, low."""
    high = np.array([b[0] for b in bars], dtype=float)
    low = np.array([b[1] for b in bars], dtype=float)
    return np.arange(len(bars), dtype=np.int64) * 60_000_000_000, high, low


def stream(ts, high, low, atr, min_size_atr=0.25, max_age=390) -> tuple[FVGTracker, list[Gap], list[Gap], np.ndarray]:
    """Run a tracker: (tracker, gaps as formed, gaps as closed, per-bar GAP_COLUMNS rows)."""
    tracker = FVGTracker(min_size_atr, max_age)
    formed: list[Gap] = []
    closed: list[Gap] = []
    rows = []
    for t in range(len(ts)):
        update = tracker.update(int(ts[t]), float(high[t]), float(low[t]), float(atr[t]))
        if update.new is not None:
            formed.append(update.new)
        closed.extend(update.closed)
        rows.append(tracker.summary())
    return tracker, formed, closed, np.array(rows)


def both(ts, high, low, atr=None, min_size_atr=0.25, max_age=390):
    """Stream and batch on the same candles; asserts they agree and returns (tracker, closed, history)."""
    atr = np.ones(len(ts)) if atr is None else atr
    tracker, _, closed, rows = stream(ts, high, low, atr, min_size_atr, max_age)
    history = track_gaps(ts, high, low, atr, min_size_atr, max_age)
    final = sorted(closed + list(tracker.open_gaps()), key=lambda g: g.id)
    assert final == list(history.gaps())
    for j, name in enumerate(GAP_COLUMNS):
        np.testing.assert_array_equal(rows[:, j], history.columns[name], err_msg=name)
    return tracker, closed, history


# -- detection ------------------------------------------------------------------------------------
def test_a_bullish_gap_is_the_space_between_high_two_bars_back_and_todays_low() -> None:
    ts, high, low = candles((10, 9), (11, 10), (13, 12))
    tracker, _, history = both(ts, high, low)
    assert tracker.open_gaps() == (Gap(0, GapKind.BULLISH, 12.0, 10.0, 2, int(ts[2]), GapState.OPEN, 0.0, 0),)
    assert history.columns["fvg_new"].tolist() == [0.0, 0.0, 1.0]
    assert history.columns["fvg_bull"].tolist() == [0.0, 0.0, 1.0]


def test_a_bearish_gap_is_the_space_between_todays_high_and_low_two_bars_back() -> None:
    ts, high, low = candles((13, 12), (12, 10), (10, 9))
    tracker, _, history = both(ts, high, low)
    (gap,) = tracker.open_gaps()
    assert (gap.kind, gap.top, gap.bottom, gap.state) == (GapKind.BEARISH, 12.0, 10.0, GapState.OPEN)
    assert history.columns["fvg_new"].tolist() == [0.0, 0.0, -1.0]
    assert history.columns["fvg_bear_top"][2] == 12.0 and history.columns["fvg_bear_bottom"][2] == 10.0


def test_touching_candles_leave_no_gap() -> None:
    ts, high, low = candles((10, 9), (11, 10), (13, 10))
    tracker, _, history = both(ts, high, low)
    assert tracker.open_gaps() == () and len(history) == 0


def test_a_gap_must_be_at_least_min_size_atr_times_the_atr_of_its_bar() -> None:
    ts, high, low = candles((10, 9), (11, 10), (13, 10.5))            # 0.5 wide
    atr = np.array([NAN, 1.0, 2.0])                                   # threshold 0.25 x 2.0 = 0.5
    assert len(both(ts, high, low, atr)[2]) == 1
    assert len(both(ts, high, low, np.array([NAN, 1.0, 2.1]))[2]) == 0


def test_no_gaps_while_the_atr_is_warming_up_unless_no_minimum_is_set() -> None:
    ts, high, low = candles((10, 9), (11, 10), (13, 12))
    no_atr = np.full(3, NAN)
    assert len(both(ts, high, low, no_atr)[2]) == 0
    assert len(both(ts, high, low, no_atr, min_size_atr=0.0)[2]) == 1


# -- fill tracking ------------------------------------------------------------------------------------
# After the gap under test forms, a large ATR keeps the following candles from forming gaps of their own.
def quiet_after(bar: int, n: int) -> np.ndarray:
    return np.where(np.arange(n) <= bar, 1.0, 100.0)


def test_bullish_gap_open_then_partially_filled_then_filled() -> None:
    ts, high, low = candles(
        (10, 9), (11, 10), (13, 12),   # gap [10, 12] on bar 2
        (14, 12.0),                    # touches the top: still open
        (14, 11.5),                    # a quarter in
        (13, 11.0),                    # half
        (13, 11.8),                    # bouncing back does not undo the fill
        (12.5, 10.0),                  # reaches the bottom: filled
    )
    atr = quiet_after(2, len(ts))
    tracker = FVGTracker(0.25, 390)
    seen = []
    for t in range(len(ts)):
        update = tracker.update(int(ts[t]), high[t], low[t], atr[t])
        seen.append([(g.state, g.filled_fraction, g.age) for g in tracker.open_gaps()] or update.closed)
    assert seen[3] == [(GapState.OPEN, 0.0, 1)]
    assert seen[4] == [(GapState.PARTIALLY_FILLED, 0.25, 2)]
    assert seen[5] == [(GapState.PARTIALLY_FILLED, 0.5, 3)]
    assert seen[6] == [(GapState.PARTIALLY_FILLED, 0.5, 4)]
    assert seen[7] == (Gap(0, GapKind.BULLISH, 12.0, 10.0, 2, int(ts[2]), GapState.FILLED, 1.0, 5),)
    _, _, history = both(ts, high, low, atr)
    assert history.columns["fvg_bull"].tolist() == [0, 0, 1, 1, 1, 1, 1, 0]


def test_bearish_gap_fills_from_the_bottom_up() -> None:
    ts, high, low = candles((13, 12), (12, 10), (10, 9), (10.5, 9), (12.5, 11))
    tracker, closed, _ = both(ts, high, low, quiet_after(2, len(ts)))
    assert tracker.open_gaps() == ()
    (gap,) = closed
    assert (gap.state, gap.filled_fraction, gap.age) == (GapState.FILLED, 1.0, 2)


def test_a_bearish_partial_fill_records_how_far_price_came_back() -> None:
    ts, high, low = candles((13, 12), (12, 10), (10, 9), (11.5, 9))
    tracker, _, _ = both(ts, high, low, quiet_after(2, len(ts)))
    (gap,) = tracker.open_gaps()
    assert gap.state is GapState.PARTIALLY_FILLED and gap.filled_fraction == pytest.approx(0.75)


def test_unfilled_gaps_expire_after_max_age_bars() -> None:
    ts, high, low = candles((10, 9), (11, 10), (13, 12), (14, 13), (14, 13), (14, 13), (14, 9))
    atr = quiet_after(2, len(ts))
    tracker = FVGTracker(0.25, 3)
    updates = [tracker.update(int(ts[t]), high[t], low[t], atr[t]) for t in range(len(ts))]
    assert tracker.open_gaps() == ()
    assert updates[5].closed == ()                                   # age 3: still tracked
    (expired,) = updates[6].closed                                   # age 4: dropped, bar 6 unseen
    assert (expired.state, expired.age, expired.filled_fraction) == (GapState.EXPIRED, 4, 0.0)
    _, _, history = both(ts, high, low, atr, max_age=3)
    assert history.columns["fvg_bull"].tolist() == [0, 0, 1, 1, 1, 1, 0]


def test_the_nearest_gap_is_the_highest_bullish_top() -> None:
    ts, high, low = candles((10, 9), (11, 10), (13, 12), (14, 12.5), (16, 15), (17, 16))
    _, _, history = both(ts, high, low)
    assert [(g.bottom, g.top) for g in history.gaps()] == [(10.0, 12.0), (11.0, 12.5), (13.0, 15.0), (14.0, 16.0)]
    assert history.columns["fvg_bull"].tolist() == [0, 0, 1, 2, 3, 4]
    assert history.columns["fvg_bull_top"][2:].tolist() == [12.0, 12.5, 15.0, 16.0]
    assert history.columns["fvg_bull_bottom"][2:].tolist() == [10.0, 11.0, 13.0, 14.0]
    assert np.isnan(history.columns["fvg_bear_top"]).all()


def test_the_nearest_gap_is_the_lowest_bearish_bottom() -> None:
    ts, high, low = candles((20, 19), (19, 17), (16, 15), (15.5, 14))
    _, _, history = both(ts, high, low)
    assert [(g.bottom, g.top) for g in history.gaps()] == [(16.0, 19.0), (15.5, 17.0)]
    assert history.columns["fvg_bear_bottom"][2:].tolist() == [16.0, 15.5]
    assert history.columns["fvg_bear_top"][2:].tolist() == [19.0, 17.0]


def test_between_equal_tops_the_newest_gap_is_nearest() -> None:
    ts, high, low = candles((10, 9), (11, 10), (13, 12), (13, 12.5), (11.5, 11), (12.5, 12), (13, 12))
    atr = np.array([1.0, 1.0, 1.0, 100.0, 100.0, 100.0, 1.0])
    _, _, history = both(ts, high, low, atr)
    assert [(g.bottom, g.top) for g in history.gaps()] == [(10.0, 12.0), (11.5, 12.0)]
    assert history.columns["fvg_bull_bottom"][5:].tolist() == [10.0, 11.5]


# -- streaming == batch on long random tapes ----------------------------------------------------------
@pytest.mark.parametrize("min_size_atr, max_age", [(0.25, 390), (0.0, 30), (1.0, 5)])
def test_tracker_and_batch_agree_on_a_long_random_tape(min_size_atr: float, max_age: int) -> None:
    rng = np.random.default_rng(int(min_size_atr * 100) + max_age)
    n = 20_000
    close = 400 + np.cumsum(rng.normal(0, 0.25, n) + 0.4 * rng.standard_t(2, n) * (rng.random(n) < 0.05))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.round(np.maximum(open_, close) + rng.exponential(0.1, n), 2)
    low = np.round(np.minimum(open_, close) - rng.exponential(0.1, n), 2)
    atr = wilder_atr(high, low, close, 14)
    ts = np.arange(n, dtype=np.int64) * 60_000_000_000
    _, closed, history = both(ts, high, low, atr, min_size_atr, max_age)
    states = {g.state for g in history.gaps()}
    assert len(history) > 200 and {GapState.FILLED, GapState.EXPIRED} <= states


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"min_size_atr = -0.1; expected a number >= 0"):
        FVGTracker(-0.1, 10)
    with pytest.raises(ValueError, match=r"max_age_bars = 0; expected an integer >= 1"):
        track_gaps(np.zeros(3, dtype=np.int64), np.ones(3), np.ones(3), np.ones(3), 0.25, 0)
