"""The live panes: ring buffers, candles, time axis, and what each pane holds after a feed."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import theme
from app.snapshot import EventRow
from gui_factory import SnapshotStream, session_open_ns
from widgets.candles import CandlestickItem, bucket_candles
from widgets.drawdown_pane import DrawdownPane
from widgets.equity_pane import EquityPane
from widgets.fitness_pane import FitnessPane
from widgets.price_pane import PRICE_CAPACITY, PricePane
from widgets.regime_pane import RegimePane, regime_runs
from widgets.ring import ColumnRing, RingBuffer
from widgets.tables import ALL_TYPES, EventsPane, fills_pane, positions_pane
from widgets.time_axis import BarClock, TimeAxisItem, choose_ticks
from widgets.time_window import TimeWindow
from widgets.weights_pane import WeightsPane

MINUTE = 60 * 10**9


# --- ring buffer ----------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 40),
       chunks=st.lists(st.lists(st.integers(-1000, 1000), max_size=90), max_size=30))
def test_ring_holds_exactly_the_last_capacity_values_in_order(capacity: int,
                                                              chunks: list[list[int]]) -> None:
    ring = RingBuffer(capacity, np.int64)
    everything: list[int] = []
    for chunk in chunks:
        ring.extend(np.array(chunk, dtype=np.int64))
        everything.extend(chunk)
        assert ring.view().tolist() == everything[-capacity:]
        assert ring.total == len(everything)
        assert ring.first_index == len(everything) - len(ring)


def test_ring_wraps_many_times_and_keeps_the_newest() -> None:
    ring = RingBuffer(5, np.float64)
    for start in range(0, 103, 3):
        ring.extend(np.arange(start, start + 3, dtype=np.float64))
    # 0..104 went in, three at a time.
    assert ring.view().tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert ring.last() == 104.0
    assert ring.total == 105


def test_ring_replace_last_changes_only_the_newest_value() -> None:
    ring = RingBuffer(3)
    ring.extend(np.array([1.0, 2.0]))
    ring.replace_last(9.0)
    assert ring.view().tolist() == [1.0, 9.0]


def test_ring_refuses_bad_capacity_and_shapes() -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1, got 0"):
        RingBuffer(0)
    with pytest.raises(ValueError, match="1-D"):
        RingBuffer(3).extend(np.zeros((2, 2)))
    with pytest.raises(IndexError):
        RingBuffer(3).last()


def test_column_ring_refuses_missing_or_ragged_columns() -> None:
    ring = ColumnRing(4, {"a": np.float64, "b": np.int8})
    with pytest.raises(ValueError, match="expected \\['a', 'b'\\]"):
        ring.extend(a=np.zeros(2))
    with pytest.raises(ValueError, match="differ in length"):
        ring.extend(a=np.zeros(2), b=np.zeros(3, dtype=np.int8))


# --- candles --------------------------------------------------------------------------------
def _reference_buckets(x: list[int], o: list[float], h: list[float], lo: list[float],
                       c: list[float], width: int) -> list[tuple[float, ...]]:
    """Textbook OHLC resampling with a plain loop: bucket k covers bar numbers [k*w, (k+1)*w)."""
    out: list[tuple[float, ...]] = []
    current = None
    for xi, oi, hi, li, ci in zip(x, o, h, lo, c):
        key = xi // width
        if current is None or current[0] != key:
            if current is not None:
                out.append(tuple(current[1:]))
            current = [key, key * width + (width - 1) / 2, oi, hi, li, ci]
        else:
            current[3] = max(current[3], hi)
            current[4] = min(current[4], li)
            current[5] = ci
    if current is not None:
        out.append(tuple(current[1:]))
    return out


@settings(max_examples=100, deadline=None)
@given(first=st.integers(0, 50), n=st.integers(1, 120), width=st.integers(1, 9),
       seed=st.integers(0, 10_000))
def test_bucketed_candles_match_a_loop_resampling(first: int, n: int, width: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.arange(first, first + n, dtype=np.float64)
    o = rng.normal(100, 1, n)
    c = rng.normal(100, 1, n)
    h = np.maximum(o, c) + rng.random(n)
    lo = np.minimum(o, c) - rng.random(n)
    got = bucket_candles(x, o, h, lo, c, width)
    expected = _reference_buckets(list(range(first, first + n)), list(o), list(h), list(lo),
                                  list(c), width)
    rows = list(zip(got.x, got.open, got.high, got.low, got.close))
    assert len(rows) == len(expected)
    for row, ref in zip(rows, expected):
        assert row == pytest.approx(ref)
    # Invariants: a bucket's high/low bound its open and close.
    assert np.all(got.high >= np.maximum(got.open, got.close))
    assert np.all(got.low <= np.minimum(got.open, got.close))


def _candle_plot(qtbot, n: int) -> tuple[pg.PlotWidget, CandlestickItem]:
    widget = pg.PlotWidget()
    widget.resize(800, 400)
    qtbot.addWidget(widget)
    item = CandlestickItem()
    widget.addItem(item)
    x = np.arange(n, dtype=np.float64)
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.1, n))
    item.set_data(x, close - 0.05, close + 0.2, close - 0.2, close)
    widget.show()
    return widget, item


def test_candles_draw_only_the_visible_range(qtbot) -> None:
    widget, item = _candle_plot(qtbot, 50_000)
    widget.setXRange(30_000, 30_100, padding=0)
    widget.grab()
    lo, hi = item.drawn_range
    assert 29_990 <= lo and hi <= 30_110
    assert 95 <= item.drawn_candles <= 110


def test_zoomed_out_candles_are_merged_to_the_pixel_width(qtbot) -> None:
    widget, item = _candle_plot(qtbot, 50_000)
    widget.setXRange(0, 50_000, padding=0)
    widget.grab()
    assert item.drawn_range[1] - item.drawn_range[0] == 50_000
    assert item.drawn_candles <= widget.getViewBox().width() / 2 + 2


def test_candle_y_bounds_follow_the_visible_bars_only(qtbot) -> None:
    _, item = _candle_plot(qtbot, 1_000)
    lo, hi = item.dataBounds(1, orthoRange=(100, 200))
    assert lo == pytest.approx(float(item._l[99:202].min()))
    assert hi == pytest.approx(float(item._h[99:202].max()))


def test_candles_refuse_ragged_columns() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        CandlestickItem().set_data(np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(3), np.zeros(3))


# --- time axis ------------------------------------------------------------------------------
def test_ticks_sit_on_round_exchange_times() -> None:
    ts = session_open_ns("2024-03-05") + np.arange(390, dtype=np.int64) * MINUTE
    step, ticks = choose_ticks(ts, first=1000, max_ticks=8)
    assert step == 60 * MINUTE
    # 09:30 open: round hours are 10:00 (bar 30), 11:00 (bar 90), ... 15:00 (bar 330).
    assert ticks.tolist() == [1030.0, 1090.0, 1150.0, 1210.0, 1270.0, 1330.0]


def test_axis_labels_are_exchange_time_and_say_et(qtbot) -> None:
    clock = BarClock(1000)
    minutes = np.arange(390, dtype=np.int64) * MINUTE
    clock.extend(np.r_[session_open_ns("2024-07-01") + minutes, session_open_ns("2024-07-02") + minutes])
    axis = TimeAxisItem(clock)
    labels = axis.tickStrings([30.0, 90.0, 391.0], 1.0, 60.0)
    # July is daylight time (UTC-4); bar 390 is the next day's open.
    assert labels == ["10:00 ET", "11:00", "Jul 02"]


def test_bar_clock_maps_timestamps_to_bar_numbers() -> None:
    clock = BarClock(3)
    clock.extend(np.array([10, 20, 30, 40], dtype=np.int64))
    assert clock.first_index == 1
    assert clock.ts_at(3) == 40 and clock.ts_at(0) is None
    assert clock.index_of(np.array([25, 40, 5])).tolist() == [1.0, 3.0, 1.0]


# --- panes fed through batches -----------------------------------------------------------
def _feed(pane, clock: BarClock, stream: SnapshotStream, batches: int, bars: int = 67):
    last = None
    for _ in range(batches):
        last = stream.next_batch(bars)
        pane.apply_batch(last, clock.extend(last.ts))
    return last


def test_price_pane_keeps_the_last_bars_and_wraps(qtbot) -> None:
    clock = BarClock(500_000)
    pane = PricePane(TimeWindow(clock))
    qtbot.addWidget(pane)
    last = _feed(pane, clock, SnapshotStream(seed=3), batches=320)   # 21,440 bars
    assert len(pane.bars) == PRICE_CAPACITY
    assert pane.bars.total == 320 * 67
    assert pane.bars["close"][-1] == last.close[-1]
    assert pane.bars["x"][-1] == 320 * 67 - 1
    assert np.all(np.diff(pane.bars["x"]) == 1.0)


def test_price_pane_marks_trades_by_outcome(qtbot) -> None:
    clock = BarClock(10_000)
    pane = PricePane(TimeWindow(clock))
    qtbot.addWidget(pane)
    stream = SnapshotStream(seed=5)
    trades = []
    for _ in range(30):
        batch = stream.next_batch(67)
        trades.extend(batch.trades)
        pane.apply_batch(batch, clock.extend(batch.ts))
    pane.redraw()
    wins = sum(1 for t in trades if t.kind == "exit" and t.pnl > 0)
    losses = sum(1 for t in trades if t.kind == "exit" and t.pnl <= 0)
    entries = sum(1 for t in trades if t.kind == "entry")
    counts = [len(m.data) for m in pane.markers]
    assert counts[0] + counts[1] == entries
    assert counts[2] + counts[3] == wins
    assert counts[4] + counts[5] == losses
    assert wins and losses and entries


def test_price_pane_draws_the_open_gaps_of_the_latest_batch(qtbot) -> None:
    clock = BarClock(10_000)
    pane = PricePane(TimeWindow(clock))
    qtbot.addWidget(pane)
    last = _feed(pane, clock, SnapshotStream(seed=2), batches=40)
    pane.redraw()
    assert pane.zones.zone_count == len(last.gaps) > 0


def test_price_readout_shows_ohlc_and_exchange_time(qtbot) -> None:
    clock = BarClock(1_000)
    pane = PricePane(TimeWindow(clock))
    qtbot.addWidget(pane)
    last = _feed(pane, clock, SnapshotStream(seed=1), batches=1, bars=10)
    pane.redraw()
    text = pane.readout.text()
    assert f"C {last.close[-1]:,.2f}" in text
    assert "2024-01-02 09:39:00 ET" in text


def test_equity_and_drawdown_panes_hold_every_bar(qtbot) -> None:
    clock = BarClock(500_000)
    time = TimeWindow(clock)
    equity, drawdown = EquityPane(time), DrawdownPane(time)
    qtbot.addWidget(equity)
    qtbot.addWidget(drawdown)
    stream = SnapshotStream(seed=4)
    for _ in range(50):
        batch = stream.next_batch(67)
        x = clock.extend(batch.ts)
        equity.apply_batch(batch, x)
        drawdown.apply_batch(batch, x)
    equity.redraw()
    assert len(equity.series.ring) == 50 * 67
    assert equity.series.ring["y"][-1] == batch.equity[-1]
    assert drawdown.series.ring["y"][-1] == pytest.approx(batch.drawdown[-1] * 100)
    assert "equity " + theme.format_money(batch.status.equity) in equity.header.text()


def test_drawdown_limits_are_drawn_as_labelled_negative_percentages(qtbot) -> None:
    clock = BarClock(1_000)
    pane = DrawdownPane(TimeWindow(clock))
    qtbot.addWidget(pane)
    batch = SnapshotStream().next_batch(10)
    pane.apply_batch(batch, clock.extend(batch.ts))
    pane.redraw()
    assert pane.soft_line.value() == pytest.approx(-10.0)
    assert pane.hard_line.value() == pytest.approx(-15.0)
    assert pane.soft_line.label.format == "soft limit -10.0%"
    assert pane.hard_line.label.format == "hard limit -15.0%"
    low, _ = pane.plot.getViewBox().viewRange()[1]
    assert low < -15.0          # the hard limit is always in view


def test_regime_pane_timeline_and_distribution(qtbot) -> None:
    clock = BarClock(10_000)
    pane = RegimePane(TimeWindow(clock))
    qtbot.addWidget(pane)
    last = _feed(pane, clock, SnapshotStream(seed=8), batches=10)
    pane.redraw()
    assert len(pane.ring) == 670
    assert pane.ring["regime"][-1] == last.regime[-1]
    share, pnl = pane.distribution()
    assert share.tolist() == pytest.approx([40.0, 30.0, 20.0, 10.0])
    assert pnl.tolist() == [1200.0, -300.0, 50.0, 400.0]


def test_regime_runs_match_a_loop() -> None:
    codes = np.array([0, 0, 1, 1, 1, 3, 0, 0], dtype=np.int8)
    x = np.arange(10, 18, dtype=np.float64)
    starts, ends, run_codes = regime_runs(x, codes)
    assert list(zip(starts, ends, run_codes)) == [(10, 12, 0), (12, 15, 1), (15, 16, 3), (16, 18, 0)]


def test_weights_pane_stacks_agent_weights(qtbot) -> None:
    clock = BarClock(10_000)
    pane = WeightsPane(clock)
    qtbot.addWidget(pane)
    last = _feed(pane, clock, SnapshotStream(seed=9), batches=40)
    x, tops = pane.stacked()
    expected = np.cumsum([last.weights[a] for a in pane.agents])
    assert tops[:, -1] == pytest.approx(expected)
    assert x[-1] == clock.total - 1
    assert np.all(np.diff(tops, axis=0) >= -1e-12)     # bands never cross


def test_weights_pane_refuses_negative_weights(qtbot) -> None:
    clock = BarClock(100)
    pane = WeightsPane(clock)
    qtbot.addWidget(pane)
    batch = SnapshotStream().next_batch(5)
    bad = type(batch)(**{**batch.__dict__, "weights": {"trend": -0.2}})
    with pytest.raises(ValueError, match="batch.weights\\['trend'\\] = -0.2"):
        pane.apply_batch(bad, clock.extend(bad.ts))


def test_fitness_pane_groups_bars_by_agent_and_regime(qtbot) -> None:
    pane = FitnessPane()
    qtbot.addWidget(pane)
    batch = SnapshotStream().next_batch(5)
    pane.apply_batch(batch, np.arange(5.0))
    pane.redraw()
    heights = pane.heights()
    assert heights.shape == (4, 4)
    assert heights[1, 3] == batch.fitness[pane.agents[1]]["expansion"]


# --- tables ---------------------------------------------------------------------------------
def test_fills_are_newest_on_top_and_bounded(qtbot) -> None:
    pane = fills_pane()
    pane.model.max_rows = 25
    qtbot.addWidget(pane)
    stream = SnapshotStream(seed=11)
    fills = []
    for _ in range(40):
        batch = stream.next_batch(67)
        fills.extend(batch.fills)
        pane.apply_batch(batch, np.empty(0))
        pane.redraw()
    rows = pane.model.rows()
    assert len(rows) == 25
    assert rows == list(reversed(fills))[:25]
    assert pane.model.index(0, 4).data() == f"{fills[-1][4]:,.2f}"


def test_positions_show_money_with_separators_and_signs(qtbot) -> None:
    pane = positions_pane()
    qtbot.addWidget(pane)
    batch = SnapshotStream().next_batch(1)
    state = type(batch)(**{**batch.__dict__, "positions": (("QQQ", 100.0, 1234.5, -56789.123),)})
    pane.apply_batch(state, np.empty(0))
    pane.redraw()
    assert [pane.model.index(0, c).data() for c in range(4)] == \
        ["QQQ", "100", "1,234.50", "-56,789.12"]


def test_event_filter_shows_only_the_chosen_type(qtbot) -> None:
    pane = EventsPane()
    qtbot.addWidget(pane)
    batch = SnapshotStream().next_batch(1)
    events = tuple(EventRow(i, kind, f"e{i}") for i, kind in
                   enumerate(["fill", "risk_event", "fill", "regime_flip", "fill"]))
    pane.apply_batch(type(batch)(**{**batch.__dict__, "events": events}), np.empty(0))
    pane.redraw()
    assert pane.shown_types() == ["fill", "regime_flip", "fill", "risk_event", "fill"]
    pane.filter_combo.setCurrentText("fill")
    assert pane.shown_types() == ["fill", "fill", "fill"]
    pane.filter_combo.setCurrentText("risk_event")
    assert pane.shown_types() == ["risk_event"]
    pane.filter_combo.setCurrentText(ALL_TYPES)
    assert len(pane.shown_types()) == 5


# --- formats --------------------------------------------------------------------------------
def test_money_and_percent_formats() -> None:
    assert theme.format_money(100432.1) == "100,432.10"
    assert theme.format_signed_money(-1234.5) == "-1,234.50"
    assert theme.format_pct(0.0043) == "+0.43%"
    assert theme.format_pct(-0.012, 1) == "-1.2%"
    assert theme.format_time_et(session_open_ns("2024-01-02")) == "09:30:00 ET"
    # 0 is the engine's time before its first bar (a risk event on restore), not 1969-12-31 19:00.
    assert theme.format_time_et(0, with_date=True) == "—"


def test_each_regime_and_agent_has_one_distinct_colour() -> None:
    regime_colours = {theme.regime_color(r).name() for r in range(4)}
    agent_colours = {theme.agent_color(a).name() for a in
                     ("trend", "mean_reversion", "volatility", "fvg")}
    assert len(regime_colours) == 4 and len(agent_colours) == 4
    assert not regime_colours & agent_colours
    assert theme.agent_color("my_agent") == theme.agent_color("my_agent")
    with pytest.raises(ValueError, match="unknown regime code 7"):
        theme.regime_color(7)


# --- drawing cost guards --------------------------------------------------------------------
def test_long_lines_are_clipped_to_the_view_and_downsampled(qtbot) -> None:
    clock = BarClock(500_000)
    pane = EquityPane(TimeWindow(clock))
    pane.resize(800, 300)
    qtbot.addWidget(pane)
    pane.show()
    stream = SnapshotStream(seed=12)
    for _ in range(30):
        batch = stream.next_batch(2_000)
        pane.apply_batch(batch, clock.extend(batch.ts))
    pane.redraw()
    pane.grab()
    shown_x, _ = pane.series.curve.curve.getData()
    # 60,000 bars held, about 240 in view: only those (and one on each side) go to Qt.
    assert len(pane.series.ring) == 60_000
    assert 200 < len(shown_x) < 300
    view = pane.plot.getViewBox()
    view.setXRange(0, 60_000, padding=0)
    pane.grab()
    shown_x, _ = pane.series.curve.curve.getData()
    # pyqtgraph keeps about 5 (min, max) pairs per pixel: far fewer than the 60,000 bars.
    assert len(shown_x) <= 12 * view.width()


def test_candle_drawing_is_reused_until_the_visible_bars_change(qtbot) -> None:
    widget, item = _candle_plot(qtbot, 1_000)
    widget.setXRange(100, 200, padding=0)
    widget.grab()
    paths = item._paths
    x = np.arange(1_100, dtype=np.float64)                 # 100 new bars, off screen
    close = np.r_[item._c, np.full(100, 100.0)]
    item.set_data(x, close - 0.05, close + 0.2, close - 0.2, close)
    widget.grab()
    assert item._paths is paths
    widget.setXRange(100, 201, padding=0)
    widget.grab()
    assert item._paths is not paths


def test_candles_redraw_when_the_last_visible_candle_changes(qtbot) -> None:
    widget, item = _candle_plot(qtbot, 300)
    widget.setXRange(0, 310, padding=0)
    widget.grab()
    paths = item._paths
    high = item._h.copy()
    high[-1] += 5.0                                        # the forming bar made a new high
    item.set_data(item._x, item._o, high, item._l, item._c)
    widget.grab()
    assert item._paths is not paths


def test_queued_log_rows_are_bounded_while_a_table_is_not_drawn(qtbot) -> None:
    pane = fills_pane()
    qtbot.addWidget(pane)
    pane.model.max_rows = 30
    stream = SnapshotStream(seed=13)
    fills = []
    for _ in range(200):                                   # hidden behind another tab
        batch = stream.next_batch(67)
        fills.extend(batch.fills)
        pane.apply_batch(batch, np.empty(0))
    assert pane.dirty and pane.model.rowCount() == 0
    pane.redraw()
    assert pane.model.rows() == list(reversed(fills))[:30]


def test_an_unchanged_state_table_asks_for_no_redraw(qtbot) -> None:
    pane = positions_pane()
    qtbot.addWidget(pane)
    batch = SnapshotStream().next_batch(1)
    state = type(batch)(**{**batch.__dict__, "positions": (("QQQ", 100.0, 400.0, 12.0),)})
    pane.apply_batch(state, np.empty(0))
    pane.redraw()
    pane.dirty = False
    pane.apply_batch(state, np.empty(0))
    assert not pane.dirty
    moved = type(batch)(**{**batch.__dict__, "positions": (("QQQ", 100.0, 400.0, 13.0),)})
    pane.apply_batch(moved, np.empty(0))
    assert pane.dirty


def test_fitness_bars_are_not_redrawn_for_invisible_drift(qtbot) -> None:
    pane = FitnessPane()
    qtbot.addWidget(pane)
    batch = SnapshotStream().next_batch(5)
    pane.apply_batch(batch, np.arange(5.0))
    pane.redraw()
    drawn = pane.heights().copy()
    drift = {a: {r: v + 1e-6 for r, v in scores.items()} for a, scores in batch.fitness.items()}
    pane.apply_batch(type(batch)(**{**batch.__dict__, "fitness": drift}), np.arange(5.0))
    pane.redraw()
    assert np.array_equal(pane.heights(), drawn)
    jump = {a: {r: v + 0.2 for r, v in scores.items()} for a, scores in batch.fitness.items()}
    pane.apply_batch(type(batch)(**{**batch.__dict__, "fitness": jump}), np.arange(5.0))
    pane.redraw()
    assert pane.heights() == pytest.approx(drawn + 0.2)
