"""The main window: toolbar, dockable live panes, status line and the engine error banner.

The window never acts on the engine. It shows `SnapshotBatch` values handed to
`apply_batch` and turns every user action into a Qt signal (an intent) for the app to route.
A batch goes into the panes' buffers at once and the status line and controls show it at
once (the trading state must never wait); the charts and tables are drawn by a
`RedrawScheduler`, a pane at a time.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFrame, QHBoxLayout, QLabel, QMainWindow,
                               QPushButton, QSizePolicy, QToolBar, QVBoxLayout, QWidget)

from app.snapshot import SnapshotBatch
from widgets.drawdown_pane import DrawdownPane
from widgets.equity_pane import EquityPane
from widgets.fitness_pane import FitnessPane
from widgets.price_pane import PricePane
from widgets.redraw import RedrawScheduler
from widgets.regime_pane import TIMELINE_CAPACITY, RegimePane
from widgets.status_bar import TradingStatusBar
from widgets.tables import EventsPane, TablePane, fills_pane, orders_pane, positions_pane
from widgets.time_axis import BarClock
from widgets.time_labels import TimeLabels
from widgets.time_window import TimeWindow
from widgets.weights_pane import WeightsPane

log = logging.getLogger(__name__)

KILL_SHORTCUT = "Ctrl+Shift+K"
LAYOUT_VERSION = 1
# Replay speed: "Nx" is N bars a second, the unit of `speed_changed` and Status.speed
# (0 = as fast as possible).
SPEEDS: tuple[tuple[str, float], ...] = (
    ("1x", 1.0), ("10x", 10.0), ("60x", 60.0), ("600x", 600.0), ("max", 0.0),
)
DEFAULT_SPEED = "60x"
MODES: tuple[tuple[str, str], ...] = (("Replay", "replay"), ("Paper live", "paper live"),
                                      ("IBKR", "ibkr"))
IBKR_UNAVAILABLE = "not available yet"


def default_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "FutBot", "workstation")


def check_batch(batch: SnapshotBatch, last_ts: int | None) -> None:
    """Refuse a batch whose columns disagree or whose bars are not newer than the last ones."""
    n = len(batch.ts)
    for name in ("open", "high", "low", "close", "volume", "regime", "equity", "drawdown"):
        length = len(getattr(batch, name))
        if length != n:
            raise ValueError(f"batch.{name} has {length} rows; expected {n} (one per bar in ts)")
    if n == 0:
        return
    ts = np.asarray(batch.ts)
    if ts.dtype != np.int64:
        raise ValueError(f"batch.ts has dtype {ts.dtype}; expected int64 ns UTC")
    if n > 1 and not np.all(np.diff(ts) > 0):
        raise ValueError("batch.ts is not strictly increasing")
    if last_ts is not None and ts[0] <= last_ts:
        raise ValueError(f"batch.ts[0] = {int(ts[0])} is not after the previous bar's ts {last_ts}")


class ErrorBanner(QFrame):
    """A dismissable red strip at the top of the panes for engine failures."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setStyleSheet("color: white; font-weight: bold;")
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(QLabel("⚠"))
        layout.addWidget(self.label, 1)
        layout.addWidget(dismiss)
        self.hide()


class MainWindow(QMainWindow):
    start_requested = Signal()
    pause_requested = Signal()
    speed_changed = Signal(float)
    symbol_changed = Signal(str)
    mode_changed = Signal(str)
    kill_requested = Signal()
    rearm_requested = Signal()
    config_requested = Signal()
    backtest_requested = Signal()
    checklist_requested = Signal()

    def __init__(self, settings: QSettings | None = None, symbols: Sequence[str] = ("QQQ",),
                 ibkr_available: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("FutBot")
        self.resize(1600, 1000)
        self._settings = settings if settings is not None else default_settings()
        if not symbols or not all(isinstance(s, str) and s for s in symbols):
            raise ValueError(f"symbols = {symbols!r}; expected a non-empty list of symbol names")
        self._symbols = list(symbols)
        self._ibkr_available = ibkr_available
        self._last_ts: int | None = None
        self.clock = BarClock(TIMELINE_CAPACITY)
        self.time_window = TimeWindow(self.clock)

        # The price pane first: its view leads the shared time window.
        self.price = PricePane(self.time_window)
        self.equity = EquityPane(self.time_window)
        self.drawdown = DrawdownPane(self.time_window)
        self.regime = RegimePane(self.time_window)
        self.weights = WeightsPane(self.clock)
        self.fitness = FitnessPane()
        self.positions = positions_pane()
        self.orders = orders_pane()
        self.fills = fills_pane()
        self.events = EventsPane()
        self._panes: dict[str, PricePane | EquityPane | DrawdownPane | RegimePane | WeightsPane
                          | FitnessPane | TablePane] = {
            "price": self.price, "equity": self.equity, "drawdown": self.drawdown,
            "regime": self.regime, "weights": self.weights, "fitness": self.fitness,
            "positions": self.positions, "orders": self.orders, "fills": self.fills,
            "events": self.events,
        }
        self.redraws = RedrawScheduler(self._panes, self._on_draw_error, shown=self.pane_shown,
                                       parent=self)

        self.banner = ErrorBanner()
        self.dock_host = QMainWindow()
        self.dock_host.setObjectName("dockHost")
        self.dock_host.setWindowFlags(Qt.WindowType.Widget)
        self.dock_host.setDockNestingEnabled(True)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banner)
        column.addWidget(self.dock_host, 1)
        self.setCentralWidget(central)

        self.docks: dict[str, QDockWidget] = {}
        self._build_docks()
        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self.status_bar = TradingStatusBar()
        self.setStatusBar(self.status_bar)
        self._default_layout = self.dock_host.saveState(LAYOUT_VERSION)
        stacked = ("price", "equity", "drawdown")
        self.time_labels = TimeLabels(
            {name: self.docks[name] for name in stacked},
            {name: self._panes[name].plot.getAxis("bottom") for name in stacked},
            self.pane_shown, parent=self)
        self.restore_layout()

    # --- construction -------------------------------------------------------------------
    def _dock(self, name: str, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self.dock_host)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        # A tab brought to the front shows a pane without a Show event; draw what it missed.
        dock.visibilityChanged.connect(lambda visible: visible and self.redraws.wake())
        self.docks[name] = dock
        return dock

    def _build_docks(self) -> None:
        host = self.dock_host
        d = {name: self._dock(name, title, self._panes[name]) for name, title in (
            ("price", "Price"), ("equity", "Equity"), ("drawdown", "Drawdown"),
            ("regime", "Regime"), ("weights", "Agent weights"), ("fitness", "Agent fitness"),
            ("positions", "Positions"), ("orders", "Orders"), ("fills", "Fills"),
            ("events", "Events"))}
        host.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        host.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        host.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d["price"])
        host.splitDockWidget(d["price"], d["equity"], Qt.Orientation.Vertical)
        host.splitDockWidget(d["equity"], d["drawdown"], Qt.Orientation.Vertical)
        host.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, d["regime"])
        host.splitDockWidget(d["regime"], d["weights"], Qt.Orientation.Vertical)
        host.splitDockWidget(d["weights"], d["fitness"], Qt.Orientation.Vertical)
        host.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d["positions"])
        for name in ("orders", "fills", "events"):
            host.tabifyDockWidget(d["positions"], d[name])
        d["events"].raise_()
        host.resizeDocks([d["price"], d["regime"]], [1000, 560], Qt.Orientation.Horizontal)
        host.resizeDocks([d["price"], d["equity"], d["drawdown"], d["positions"]],
                         [430, 170, 130, 190], Qt.Orientation.Vertical)
        host.resizeDocks([d["regime"], d["weights"], d["fitness"]], [300, 220, 210],
                         Qt.Orientation.Vertical)

    def _action(self, text: str, signal: Signal, tip: str) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip)
        action.triggered.connect(signal.emit)
        return action

    def _build_actions(self) -> None:
        self.start_action = self._action("▶ Start", self.start_requested, "start or resume the feed")
        self.pause_action = self._action("❚❚ Pause", self.pause_requested, "pause the feed")
        self.backtest_action = self._action("Backtest…", self.backtest_requested,
                                            "run a backtest on stored data")
        self.config_action = self._action("Config…", self.config_requested, "edit the settings")
        self.checklist_action = self._action("Checklist…", self.checklist_requested,
                                             "burn-in checklist before going live")
        self.rearm_action = self._action("Re-arm…", self.rearm_requested,
                                         "leave HALTED and allow trading again")
        self.rearm_action.setEnabled(False)
        self.kill_action = self._action("KILL SWITCH", self.kill_requested,
                                        "flatten everything and halt trading")
        self.kill_action.setShortcut(QKeySequence(KILL_SHORTCUT))
        # Works wherever focus is, floating docks included.
        self.kill_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.addAction(self.kill_action)
        self.follow_action = QAction("Follow latest bar", self)
        self.follow_action.setCheckable(True)
        self.follow_action.setChecked(True)
        self.follow_action.setShortcut(QKeySequence(Qt.Key.Key_End))
        self.follow_action.toggled.connect(self.time_window.set_following)

    def _combo(self, items: Sequence[tuple[str, object]], tip: str) -> QComboBox:
        combo = QComboBox()
        combo.setToolTip(tip)
        for text, data in items:
            combo.addItem(text, data)
        return combo

    def _build_toolbar(self) -> None:
        bar = QToolBar("Controls")
        bar.setObjectName("controls")
        bar.setMovable(False)
        bar.toggleViewAction().setVisible(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        bar.addAction(self.start_action)
        bar.addAction(self.pause_action)
        bar.addSeparator()

        self.speed_combo = self._combo(SPEEDS, "replay speed in bars per second (max: as fast as possible)")
        self.speed_combo.setCurrentText(DEFAULT_SPEED)
        self.speed_combo.currentIndexChanged.connect(self._on_speed)
        self.symbol_combo = self._combo([(s, s) for s in self._symbols], "symbol")
        self.symbol_combo.currentTextChanged.connect(self.symbol_changed.emit)
        self.mode_combo = self._combo(MODES, "where orders go")
        self.mode_combo.currentIndexChanged.connect(
            lambda i: self.mode_changed.emit(self.mode_combo.itemData(i)))
        self.set_ibkr_available(self._ibkr_available)
        for label, combo in (("speed", self.speed_combo), ("symbol", self.symbol_combo),
                             ("mode", self.mode_combo)):
            bar.addWidget(QLabel(f" {label} "))
            bar.addWidget(combo)
        bar.addSeparator()
        for action in (self.backtest_action, self.config_action, self.checklist_action):
            bar.addAction(action)

        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        self.rearm_button = QPushButton("Re-arm…")
        self.rearm_button.setToolTip(self.rearm_action.toolTip())
        self.rearm_button.clicked.connect(self.rearm_action.trigger)
        self._rearm_slot = bar.addWidget(self.rearm_button)
        self._rearm_slot.setVisible(False)
        shortcut = QKeySequence(KILL_SHORTCUT).toString(QKeySequence.SequenceFormat.NativeText)
        self.kill_button = QPushButton(f"KILL SWITCH   {shortcut}")
        self.kill_button.setObjectName("killSwitch")
        self.kill_button.setToolTip(f"flatten everything and halt trading ({shortcut})")
        self.kill_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.kill_button.clicked.connect(self.kill_action.trigger)
        bar.addWidget(self.kill_button)

    def _build_menus(self) -> None:
        trading = self.menuBar().addMenu("&Trading")
        for action in (self.start_action, self.pause_action, None, self.backtest_action,
                       self.config_action, self.checklist_action, None, self.kill_action,
                       self.rearm_action):
            trading.addSeparator() if action is None else trading.addAction(action)
        view = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        view.addAction(self.follow_action)
        reset = QAction("Reset layout", self)
        reset.triggered.connect(self.reset_layout)
        view.addAction(reset)

    # --- intents ------------------------------------------------------------------------
    def _on_speed(self, index: int) -> None:
        self.speed_changed.emit(float(self.speed_combo.itemData(index)))

    def set_ibkr_available(self, available: bool) -> None:
        self._ibkr_available = available
        item = self.mode_combo.model().item(self.mode_combo.findData("ibkr"))
        item.setEnabled(available)
        item.setToolTip("" if available else IBKR_UNAVAILABLE)

    # --- data in ------------------------------------------------------------------------
    @Slot(object)
    def apply_batch(self, batch: SnapshotBatch) -> None:
        try:
            check_batch(batch, self._last_ts)
        except ValueError as exc:
            self.show_error(f"Bad snapshot from the engine, not shown: {exc}")
            return
        if len(batch):
            self._last_ts = int(batch.ts[-1])
        # The trading state first, and on screen now: a kill must never wait for the charts.
        state = self.status_bar.trading_state
        try:
            self.status_bar.set_status(batch.status)
        except ValueError as exc:
            self.show_error(f"Bad status from the engine: {exc}")
        self._sync_controls(batch)
        if self.status_bar.trading_state != state:
            self.status_bar.repaint()
        x = self.clock.extend(batch.ts)
        for name, pane in self._panes.items():
            # One failing pane must not stop the others or the engine; the user sees why.
            try:
                pane.apply_batch(batch, x)
            except Exception as exc:  # noqa: BLE001
                log.exception("%s pane failed on a snapshot", name)
                self.show_error(f"The {name} pane could not show the latest data: {exc}")
        self.redraws.wake()

    def _sync_controls(self, batch: SnapshotBatch) -> None:
        """Show the engine's truth in the controls without echoing it back as intents."""
        s = batch.status
        self.start_action.setEnabled(not s.running)
        self.pause_action.setEnabled(s.running)
        halted = s.trading_state == "HALTED"
        self.rearm_action.setEnabled(halted)
        self._rearm_slot.setVisible(halted)
        for combo, data in ((self.symbol_combo, s.symbol), (self.mode_combo, s.mode)):
            i = combo.findData(data)
            if i >= 0 and i != combo.currentIndex():
                combo.blockSignals(True)
                combo.setCurrentIndex(i)
                combo.blockSignals(False)
        speeds = [bars for _, bars in SPEEDS]
        if s.speed in speeds and speeds.index(s.speed) != self.speed_combo.currentIndex():
            self.speed_combo.blockSignals(True)
            self.speed_combo.setCurrentIndex(speeds.index(s.speed))
            self.speed_combo.blockSignals(False)
        if self.follow_action.isChecked() != self.time_window.following:
            self.follow_action.blockSignals(True)
            self.follow_action.setChecked(self.time_window.following)
            self.follow_action.blockSignals(False)
        self.setWindowTitle(f"FutBot — {s.symbol} — {s.mode}")

    def pane_shown(self, name: str) -> bool:
        """Whether the user can see the pane: its dock is open, not a tab behind another,
        and the window is not minimised."""
        dock = self.docks[name]
        if not dock.isVisible() or self.isMinimized():
            return False
        # Qt keeps the tabs behind the current one "visible" but parks them outside the dock
        # area, so the geometry tells which tab is in front.
        return dock.isFloating() or dock.geometry().intersects(self.dock_host.rect())

    def redraw_now(self) -> None:
        """Draw every pane with what it holds now, instead of on the redraw timer."""
        self.redraws.flush()

    # --- errors -------------------------------------------------------------------------
    def _on_draw_error(self, name: str, exc: Exception) -> None:
        self.show_error(f"The {name} pane could not show the latest data: {exc}")

    @Slot(str)
    def show_error(self, text: str) -> None:
        log.error("shown to the user: %s", text)
        self.banner.label.setText(text)
        self.banner.show()

    def dismiss_error(self) -> None:
        self.banner.hide()

    # --- layout -------------------------------------------------------------------------
    def save_layout(self) -> None:
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/docks", self.dock_host.saveState(LAYOUT_VERSION))
        self._settings.sync()

    def restore_layout(self) -> bool:
        """Restore the saved geometry and dock layout; False when there is none (first start)."""
        geometry = self._settings.value("window/geometry")
        state = self._settings.value("window/docks")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            return self.dock_host.restoreState(state, LAYOUT_VERSION)
        return False

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self.dock_host.restoreState(self._default_layout, LAYOUT_VERSION)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_layout()
        super().closeEvent(event)
