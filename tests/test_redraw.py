"""Drawing on a timer: the redraw scheduler, the shared time window and the time labels."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QWidget

from widgets.redraw import RedrawScheduler
from widgets.regime_pane import visibly_changed
from widgets.time_axis import BarClock
from widgets.time_labels import covered_from_below
from widgets.time_window import DEFAULT_VISIBLE_BARS, RIGHT_MARGIN_BARS, TimeWindow


class FakePane(QWidget):
    """Counts its redraws; optionally fails."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.dirty = False
        self.redraws = 0
        self.fail = fail

    def redraw(self) -> None:
        self.redraws += 1
        if self.fail:
            raise RuntimeError("cannot draw")


def _panes(qtbot, n: int, **kwargs: bool) -> dict[str, FakePane]:
    panes = {f"p{i}": FakePane(**kwargs) for i in range(n)}
    for pane in panes.values():
        qtbot.addWidget(pane)
        pane.show()
    return panes


def _scheduler(panes: dict[str, FakePane], **kwargs: object) -> RedrawScheduler:
    # Parented to a pane, so its timer dies with the test's widgets.
    kwargs.setdefault("on_error", lambda *_: None)
    return RedrawScheduler(panes, parent=next(iter(panes.values())), **kwargs)


# --- scheduler ------------------------------------------------------------------------------
def test_each_tick_draws_one_dirty_pane_in_turn(qtbot) -> None:
    panes = _panes(qtbot, 3)
    scheduler = _scheduler(panes, max_hz=1000.0)
    for pane in panes.values():
        pane.dirty = True
    order = []
    for _ in range(3):
        scheduler._tick()
        order.append([p.redraws for p in panes.values()])
    assert order == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert not any(p.dirty for p in panes.values())


def test_timer_draws_dirty_panes_then_stops_when_idle(qtbot) -> None:
    panes = _panes(qtbot, 2)
    scheduler = _scheduler(panes, max_hz=1000.0, tick_ms=1)
    panes["p0"].dirty = panes["p1"].dirty = True
    scheduler.wake()
    qtbot.waitUntil(lambda: not scheduler.active, timeout=2000)
    assert [p.redraws for p in panes.values()] == [1, 1]


def test_a_pane_is_not_redrawn_faster_than_the_rate_cap(qtbot) -> None:
    panes = _panes(qtbot, 1)
    scheduler = _scheduler(panes, max_hz=0.01)
    pane = panes["p0"]
    pane.dirty = True
    scheduler.wake()
    scheduler._tick()
    pane.dirty = True
    scheduler._tick()                       # within 100 s of the last redraw: waits
    assert pane.redraws == 1 and pane.dirty
    assert scheduler.active                 # the timer keeps running while a pane waits


def test_hidden_panes_wait_and_are_drawn_when_shown(qtbot) -> None:
    panes = _panes(qtbot, 2)
    shown = {"p0": True, "p1": False}
    scheduler = _scheduler(panes, shown=shown.__getitem__,
                                max_hz=1000.0, tick_ms=1)
    panes["p0"].dirty = panes["p1"].dirty = True
    scheduler.wake()
    qtbot.waitUntil(lambda: not scheduler.active, timeout=2000)
    assert (panes["p0"].redraws, panes["p1"].redraws) == (1, 0)
    assert panes["p1"].dirty
    shown["p1"] = True
    panes["p1"].hide()
    panes["p1"].show()                      # a Show event wakes the scheduler
    qtbot.waitUntil(lambda: panes["p1"].redraws == 1, timeout=2000)


def test_flush_draws_every_dirty_pane_shown_or_not(qtbot) -> None:
    panes = _panes(qtbot, 3)
    scheduler = _scheduler(panes, shown=lambda _: False)
    panes["p0"].dirty = panes["p2"].dirty = True
    scheduler.flush()
    assert [p.redraws for p in panes.values()] == [1, 0, 1]


def test_a_failing_pane_is_reported_and_the_others_still_draw(qtbot) -> None:
    panes = _panes(qtbot, 1, fail=True) | {"ok": FakePane()}
    qtbot.addWidget(panes["ok"])
    errors: list[tuple[str, str]] = []
    scheduler = _scheduler(panes, on_error=lambda name, exc: errors.append((name, str(exc))))
    panes["p0"].dirty = panes["ok"].dirty = True
    scheduler.flush()
    assert errors == [("p0", "cannot draw")]
    assert panes["ok"].redraws == 1
    assert not panes["p0"].dirty           # not retried every tick


def test_scheduler_refuses_bad_rates(qtbot) -> None:
    with pytest.raises(ValueError, match="max_hz = 0; expected a rate > 0"):
        RedrawScheduler({}, on_error=lambda *_: None, max_hz=0)
    with pytest.raises(ValueError, match="tick_ms = -1; expected >= 0"):
        RedrawScheduler({}, on_error=lambda *_: None, tick_ms=-1)


# --- visibly changed ------------------------------------------------------------------------
def test_bars_are_redrawn_only_for_visible_changes() -> None:
    drawn = np.array([40.0, 30.0, 20.0, 10.0])
    assert not visibly_changed(drawn, drawn + 0.01)           # 0.025 % of the tallest bar
    assert visibly_changed(drawn, drawn + np.array([0, 0, 0, 0.5]))
    assert visibly_changed(drawn, np.r_[drawn, 1.0])          # a new agent or regime
    assert not visibly_changed(np.zeros(4), np.zeros(4))
    assert visibly_changed(np.zeros(4), np.array([0, 0, 1e-9, 0]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=12), st.floats(-1e6, 1e6))
def test_any_move_bigger_than_the_tolerance_is_redrawn(values: list[float], move: float) -> None:
    drawn = np.array(values)
    new = drawn.copy()
    new[0] += move
    scale = max(np.abs(drawn).max(), np.abs(new).max())
    # Reference: a plain loop over the bars.
    biggest = max(abs(a - b) for a, b in zip(drawn, new))
    assert visibly_changed(drawn, new) == (scale > 0 and biggest > 1e-3 * scale)


# --- time window ----------------------------------------------------------------------------
_keep: list[pg.PlotWidget] = []       # pytest-qt holds widgets weakly


def _views(qtbot, clock: BarClock, n: int) -> tuple[TimeWindow, list[pg.ViewBox]]:
    time = TimeWindow(clock)
    views = []
    _keep.clear()
    for _ in range(n):
        widget = pg.PlotWidget()
        widget.resize(600, 300)
        qtbot.addWidget(widget)
        widget.show()
        _keep.append(widget)
        view = widget.getViewBox()
        time.attach(view)
        views.append(view)
    return time, views


def test_following_moves_only_the_view_being_drawn(qtbot) -> None:
    clock = BarClock(10_000)
    clock.extend(np.arange(1_000, dtype=np.int64))
    time, (first, second) = _views(qtbot, clock, 2)
    before = second.viewRange()[0]
    time.follow(first)
    assert first.viewRange()[0] == pytest.approx(
        [999 + RIGHT_MARGIN_BARS - DEFAULT_VISIBLE_BARS, 999 + RIGHT_MARGIN_BARS])
    assert second.viewRange()[0] == pytest.approx(before)
    time.follow(second)
    assert second.viewRange()[0] == pytest.approx(first.viewRange()[0])


def test_user_pan_on_any_linked_chart_stops_following_and_moves_all(qtbot) -> None:
    clock = BarClock(10_000)
    clock.extend(np.arange(1_000, dtype=np.int64))
    time, (first, second) = _views(qtbot, clock, 2)
    time.follow(first)
    time.follow(second)
    second.setXRange(100, 300, padding=0)
    second.sigRangeChangedManually.emit([True, False])
    assert not time.following
    assert first.viewRange()[0] == pytest.approx([100, 300], abs=1e-6)
    clock.extend(np.arange(1_000, 1_100, dtype=np.int64))
    time.follow(first)                       # not following: stays where the user put it
    assert first.viewRange()[0] == pytest.approx([100, 300], abs=1e-6)
    time.set_following(True)
    assert second.viewRange()[0][1] == pytest.approx(1_099 + RIGHT_MARGIN_BARS)


def test_zooming_a_chart_drawn_a_moment_ago_keeps_following(qtbot) -> None:
    clock = BarClock(10_000)
    clock.extend(np.arange(1_000, dtype=np.int64))
    time, (view,) = _views(qtbot, clock, 1)
    time.follow(view)
    clock.extend(np.arange(1_000, 1_050, dtype=np.int64))      # arrived, not drawn yet
    lo, hi = view.viewRange()[0]
    view.setXRange(lo + 100, hi, padding=0)                    # zoom in on the right edge
    view.sigRangeChangedManually.emit([True, False])
    assert time.following


# --- time labels ----------------------------------------------------------------------------
def test_only_the_lowest_chart_of_a_column_is_labelled() -> None:
    rects = {
        "price": QRect(0, 0, 1000, 400),
        "equity": QRect(0, 406, 1000, 150),
        "drawdown": QRect(0, 562, 1000, 120),
    }
    assert covered_from_below(rects) == {"price", "equity"}
    del rects["drawdown"]
    assert covered_from_below(rects) == {"price"}
    rects["equity"] = QRect(1006, 0, 594, 300)                 # moved to the other column
    assert covered_from_below(rects) == set()
