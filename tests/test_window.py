"""The main window: intents as signals, status colours, error banner, layout persistence."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QSettings, Qt

from app.window import IBKR_UNAVAILABLE, KILL_SHORTCUT, MainWindow
from gui_factory import SnapshotStream


def _settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "workstation.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    w = MainWindow(settings=_settings(tmp_path), symbols=("QQQ", "SPY"))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_batches_reach_every_pane(window: MainWindow) -> None:
    stream = SnapshotStream(seed=21)
    for _ in range(60):
        batch = stream.next_batch(67)
        window.apply_batch(batch)
    window.redraw_now()
    assert not window.banner.isVisible(), window.banner.label.text()
    assert len(window.price.bars) == 60 * 67
    assert len(window.equity.series.ring) == 60 * 67
    assert len(window.drawdown.series.ring) == 60 * 67
    assert len(window.regime.ring) == 60 * 67
    assert window.price.bars["close"][-1] == batch.close[-1]
    assert window.equity.series.ring["y"][-1] == batch.equity[-1]
    assert window.weights.agents and window.fitness.agents
    assert window.events.model.rowCount() > 0


def test_price_follows_the_newest_bar_until_the_user_pans_away(window: MainWindow) -> None:
    stream = SnapshotStream(seed=22)
    for _ in range(10):
        window.apply_batch(stream.next_batch(67))
    window.redraw_now()
    view = window.price.view
    assert view.viewRange()[0][1] >= window.price.bars["x"][-1]
    view.setXRange(100, 200, padding=0)
    view.sigRangeChangedManually.emit([True, False])     # what a mouse drag emits
    assert not window.time_window.following
    window.apply_batch(stream.next_batch(67))
    window.redraw_now()
    assert view.viewRange()[0] == pytest.approx([100, 200])
    window.follow_action.setChecked(True)
    assert window.time_window.following
    assert view.viewRange()[0][1] >= window.price.bars["x"][-1]


def test_time_charts_share_one_x_axis(window: MainWindow) -> None:
    stream = SnapshotStream(seed=23)
    for _ in range(5):
        window.apply_batch(stream.next_batch(67))
    window.price.view.setXRange(40, 90, padding=0)
    for plot in (window.equity.plot, window.drawdown.plot, window.regime.timeline):
        assert plot.getViewBox().viewRange()[0] == pytest.approx([40, 90], abs=1e-6)


def test_halted_turns_the_status_bar_red_and_says_halted(window: MainWindow) -> None:
    stream = SnapshotStream(seed=24)
    window.apply_batch(stream.next_batch(5))
    assert "ACTIVE" in window.status_bar.text()
    assert window.status_bar.styleSheet() == ""
    window.apply_batch(stream.next_batch(5, trading_state="HALTED"))
    assert "HALTED" in window.status_bar.text()
    assert "#d32f2f" in window.status_bar.styleSheet()
    assert window.rearm_action.isEnabled()
    window.apply_batch(stream.next_batch(5, trading_state="REDUCING"))
    assert "REDUCING" in window.status_bar.text()
    assert "#c98a00" in window.status_bar.styleSheet()
    assert not window.rearm_action.isEnabled()


def test_status_line_formats_money_percent_and_time(window: MainWindow) -> None:
    batch = SnapshotStream(seed=25).next_batch(3)
    status = replace(batch.status, equity=100432.1, day_pnl=432.1, day_pnl_pct=0.0043,
                     drawdown=-0.012)
    window.apply_batch(replace(batch, status=status))
    assert window.status_bar.text() == (
        "REPLAY · paper · connected · ACTIVE · equity 100,432.10 · day +432.10 (+0.43%) · "
        "dd -1.2% · 09:32:00 ET")


def test_kill_button_and_shortcut_both_request_the_kill(window: MainWindow, qtbot) -> None:
    assert KILL_SHORTCUT in window.kill_button.text()
    with qtbot.waitSignal(window.kill_requested, timeout=1000):
        qtbot.mouseClick(window.kill_button, Qt.MouseButton.LeftButton)
    window.activateWindow()
    with qtbot.waitSignal(window.kill_requested, timeout=1000):
        qtbot.keyClick(window, Qt.Key.Key_K,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)


def test_toolbar_emits_intents(window: MainWindow, qtbot) -> None:
    with qtbot.waitSignal(window.speed_changed) as speed:
        window.speed_combo.setCurrentText("10x")
    assert speed.args == [10.0]                      # bars per second
    with qtbot.waitSignal(window.speed_changed) as speed:
        window.speed_combo.setCurrentText("max")
    assert speed.args == [0.0]
    with qtbot.waitSignal(window.symbol_changed) as symbol:
        window.symbol_combo.setCurrentText("SPY")
    assert symbol.args == ["SPY"]
    with qtbot.waitSignal(window.mode_changed) as mode:
        window.mode_combo.setCurrentIndex(1)
    assert mode.args == ["paper live"]
    for action, signal in ((window.start_action, window.start_requested),
                           (window.pause_action, window.pause_requested),
                           (window.config_action, window.config_requested),
                           (window.backtest_action, window.backtest_requested),
                           (window.checklist_action, window.checklist_requested)):
        with qtbot.waitSignal(signal, timeout=500):
            action.trigger()


def test_ibkr_mode_is_disabled_with_a_reason(window: MainWindow) -> None:
    item = window.mode_combo.model().item(window.mode_combo.findData("ibkr"))
    assert not item.isEnabled()
    assert item.toolTip() == IBKR_UNAVAILABLE
    window.set_ibkr_available(True)
    assert item.isEnabled()


def test_engine_state_updates_controls_without_echoing_intents(window: MainWindow, qtbot) -> None:
    batch = SnapshotStream(seed=26).next_batch(3)
    with qtbot.assertNotEmitted(window.symbol_changed), qtbot.assertNotEmitted(window.speed_changed):
        window.apply_batch(replace(batch, status=replace(batch.status, symbol="SPY", speed=600.0)))
    assert window.symbol_combo.currentText() == "SPY"
    assert window.speed_combo.currentText() == "600x"
    assert not window.start_action.isEnabled() and window.pause_action.isEnabled()


def test_error_banner_shows_and_dismisses(window: MainWindow) -> None:
    assert not window.banner.isVisible()
    window.show_error("IBKR connection lost: reconnecting")
    assert window.banner.isVisible()
    assert window.banner.label.text() == "IBKR connection lost: reconnecting"
    window.dismiss_error()
    assert not window.banner.isVisible()


def test_a_bad_batch_is_refused_in_the_banner_not_silently(window: MainWindow) -> None:
    stream = SnapshotStream(seed=27)
    good = stream.next_batch(5)
    window.apply_batch(good)
    window.apply_batch(good)                 # the same bars again: not newer
    assert window.banner.isVisible()
    assert "is not after the previous bar" in window.banner.label.text()
    assert len(window.price.bars) == 5
    ragged = replace(stream.next_batch(5), close=np.zeros(4))
    window.apply_batch(ragged)
    assert "batch.close has 4 rows; expected 5" in window.banner.label.text()


def test_a_failing_pane_shows_an_error_and_the_others_still_update(window: MainWindow) -> None:
    stream = SnapshotStream(seed=28)
    batch = stream.next_batch(5)
    bad = replace(batch, regime_share={"sideways": 1.0})
    window.apply_batch(bad)
    assert "regime pane" in window.banner.label.text()
    assert "'sideways'" in window.banner.label.text()
    assert len(window.equity.series.ring) == 5


def test_layout_is_saved_and_restored(qtbot, tmp_path: Path) -> None:
    first = MainWindow(settings=_settings(tmp_path))
    qtbot.addWidget(first)
    first.show()
    first.docks["fitness"].close()
    first.dock_host.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, first.docks["equity"])
    assert first.dock_host.dockWidgetArea(first.docks["equity"]) == Qt.DockWidgetArea.RightDockWidgetArea
    first.close()

    second = MainWindow(settings=_settings(tmp_path))
    qtbot.addWidget(second)
    second.show()
    assert second.docks["fitness"].isHidden()
    assert second.dock_host.dockWidgetArea(second.docks["equity"]) == \
        Qt.DockWidgetArea.RightDockWidgetArea
    assert not second.docks["fitness"].toggleViewAction().isChecked()
    second.docks["fitness"].toggleViewAction().trigger()     # restorable from the View menu
    assert second.docks["fitness"].isVisible()


def test_reset_layout_brings_closed_panes_back(window: MainWindow) -> None:
    window.docks["regime"].close()
    window.reset_layout()
    assert window.docks["regime"].isVisible()
    assert window.dock_host.dockWidgetArea(window.docks["price"]) == \
        Qt.DockWidgetArea.LeftDockWidgetArea


def test_every_pane_is_a_dock_listed_in_the_view_menu(window: MainWindow) -> None:
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    titles = {a.text() for a in view_menu.actions()}
    assert {"Price", "Equity", "Drawdown", "Regime", "Agent weights", "Agent fitness",
            "Positions", "Orders", "Fills", "Events"} <= titles


# --- drawing on the timer -------------------------------------------------------------------
def test_batches_are_drawn_by_the_redraw_timer(window: MainWindow, qtbot) -> None:
    batch = SnapshotStream(seed=29).next_batch(67)
    window.apply_batch(batch)
    assert window.price.dirty                        # taking data in draws nothing yet
    qtbot.waitUntil(lambda: f"C {batch.close[-1]:,.2f}" in window.price.readout.text(),
                    timeout=3000)
    qtbot.waitUntil(lambda: not window.redraws.active, timeout=3000)
    assert window.price.view.viewRange()[0][1] >= window.price.bars["x"][-1]
    for name in ("price", "equity", "drawdown", "regime"):
        assert not window._panes[name].dirty


def test_a_tab_behind_another_is_drawn_when_brought_to_the_front(window: MainWindow,
                                                                 qtbot) -> None:
    assert window.pane_shown("events") and not window.pane_shown("fills")
    stream = SnapshotStream(seed=30)
    while not window.fills.dirty:
        window.apply_batch(stream.next_batch(67))
    qtbot.waitUntil(lambda: not window.redraws.active, timeout=3000)
    assert window.fills.model.rowCount() == 0 and window.fills.dirty
    window.docks["fills"].raise_()
    qtbot.waitUntil(lambda: window.fills.model.rowCount() > 0, timeout=3000)


def test_a_closed_pane_is_not_drawn(window: MainWindow, qtbot) -> None:
    window.docks["weights"].close()
    window.apply_batch(SnapshotStream(seed=31).next_batch(67))
    qtbot.waitUntil(lambda: not window.redraws.active, timeout=3000)
    assert window.weights.dirty and window.redraws.redraw_counts["weights"] == 0


def test_halted_is_painted_before_the_charts_are_touched(window: MainWindow, qtbot) -> None:
    stream = SnapshotStream(seed=32)
    window.apply_batch(stream.next_batch(5))
    qtbot.waitUntil(lambda: not window.redraws.active, timeout=3000)
    painted: list[str] = []

    class Spy(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                painted.append(window.status_bar.trading_state)
            return False

    spy = Spy()
    window.status_bar.installEventFilter(spy)
    window.apply_batch(stream.next_batch(5, trading_state="HALTED"))
    assert painted == ["HALTED"]                     # inside apply_batch, not later
    assert window.price.dirty


def test_time_labels_only_under_the_lowest_stacked_chart(window: MainWindow, qtbot) -> None:
    qtbot.waitUntil(lambda: window.time_labels.labelled() == ["drawdown"], timeout=3000)
    window.docks["drawdown"].close()
    qtbot.waitUntil(lambda: "equity" in window.time_labels.labelled(), timeout=3000)
    assert "price" not in window.time_labels.labelled()
    window.docks["equity"].setFloating(True)
    qtbot.waitUntil(lambda: "price" in window.time_labels.labelled(), timeout=3000)
    assert "equity" in window.time_labels.labelled()


def test_panning_a_linked_chart_stops_following(window: MainWindow) -> None:
    stream = SnapshotStream(seed=33)
    for _ in range(5):
        window.apply_batch(stream.next_batch(67))
    window.redraw_now()
    view = window.equity.plot.getViewBox()
    view.setXRange(10, 60, padding=0)
    view.sigRangeChangedManually.emit([True, False])
    assert not window.time_window.following
    window.apply_batch(stream.next_batch(67))
    window.redraw_now()
    assert window.price.view.viewRange()[0] == pytest.approx([10, 60], abs=1e-6)
    assert not window.follow_action.isChecked()
