"""One-minute bars from IB's 5-second real-time bars: the aggregation arithmetic."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data.bar import Bar, ns_since_epoch
from engine.execution.ibkr_feed import MinuteBarAggregator

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=timezone.utc)

S = 1_000_000_000
M0 = ns_since_epoch(T0)


def test_five_second_bars_make_a_minute_emitted_at_its_last_piece():
    agg = MinuteBarAggregator("QQQ")
    out: list[Bar] = []
    prices = [(10.0, 10.5, 9.9, 10.2), (10.2, 10.3, 10.0, 10.1)] + [(10.1, 10.2, 10.05, 10.15)] * 9
    for i, (o, h, low, c) in enumerate(prices):
        out += agg.add(M0 + 5 * i * S, o, h, low, c, 100.0 + i)
    assert out == []
    out += agg.add(M0 + 55 * S, 10.15, 10.6, 10.1, 10.4, 7.0)
    volume = sum(100.0 + i for i in range(11)) + 7.0
    assert out == [Bar("QQQ", M0, 10.0, 10.6, 9.9, 10.4, volume)]
    assert agg.flush() is None


def test_a_gap_closes_the_minute_with_the_pieces_that_came_and_resends_are_ignored():
    agg = MinuteBarAggregator("QQQ")
    assert agg.add(M0 + 10 * S, 5.0, 6.0, 4.0, 5.5, 10.0) == []
    assert agg.add(M0 + 10 * S, 9.0, 9.0, 9.0, 9.0, 99.0) == []          # resend: ignored
    assert agg.add(M0 + 20 * S, 5.5, 5.6, 5.4, 5.45, -1.0) == []         # IB's "no volume"
    out = agg.add(M0 + 65 * S, 6.0, 6.0, 6.0, 6.0, 1.0)
    assert out == [Bar("QQQ", M0, 5.0, 6.0, 4.0, 5.45, 10.0)]
    assert agg.flush() == Bar("QQQ", M0 + 60 * S, 6.0, 6.0, 6.0, 6.0, 1.0)


@pytest.mark.parametrize("args, message", [
    ((M0 + 3 * S, 1.0, 1.0, 1.0, 1.0, 1.0), "multiple of 5 s"),
    ((M0, 1.0, 0.5, 0.9, 1.0, 1.0), "expected low <= open, close <= high"),
    ((M0, math.nan, 1.0, 1.0, 1.0, 1.0), "expected finite"),
])
def test_bad_five_second_bars_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        MinuteBarAggregator("QQQ").add(*args)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12 * 30), st.floats(1.0, 100.0), st.floats(0.0, 2.0),
                          st.floats(0.0, 2.0), st.floats(0.0, 1.0), st.floats(0.0, 1e4)),
                min_size=1, max_size=120))
def test_aggregated_minutes_equal_a_grouping_of_the_pieces(pieces):
    pieces = sorted({slot: p for slot, *p in pieces}.items())   # one piece per 5-s slot, in time order
    agg = MinuteBarAggregator("QQQ")
    out: list[Bar] = []
    expected: dict[int, list[float]] = {}
    for slot, (low, up, down, frac, volume) in pieces:
        high, low_ = low + up, low - down * low / 3
        o = min(max(low_ + frac * (high - low_), low_), high)
        c = min(max(high - frac * (high - low_), low_), high)
        out += agg.add(M0 + slot * 5 * S, o, high, low_, c, volume)
        minute = M0 + (slot // 12) * 60 * S
        if minute not in expected:
            expected[minute] = [o, high, low_, c, volume]
        else:
            row = expected[minute]
            row[1], row[2], row[3], row[4] = max(row[1], high), min(row[2], low_), c, row[4] + volume
    tail = agg.flush()
    out += [tail] if tail is not None else []
    assert [b.ts for b in out] == sorted(expected)
    for b in out:
        o, h, low_, c, v = expected[b.ts]
        assert (b.open, b.high, b.low, b.close) == (o, h, low_, c)
        assert b.volume == pytest.approx(v)
