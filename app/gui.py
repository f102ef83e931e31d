"""The workstation: wires the main window, the engine worker thread and the dialogs.

`futbot` with no sub-command lands here. The window opens on a replay of the embedded
market data through the full engine and paper broker, so everything moves at once with no
keys and no network. Mode "Paper live" trades the same bars as a crash-safe session in the
state database (`gui-paper-<SYMBOL>-<DAYS>d-s<SEED>`, like `futbot live`), resumed whenever
it is chosen again, in this run of the window or a later one.
"""
from __future__ import annotations

import argparse
import gc
import sys
import threading
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtWidgets import QApplication, QDialog, QVBoxLayout, QWidget

from app.facts import FactsTracker
from app.snapshot import SnapshotBatch
from app.theme import apply_dark_theme
from app.window import MainWindow
from app.worker import MODES, EngineWorker, KillInfo, start_worker
from engine.config import ConfigError, Settings, load_settings
from engine.data.bar import Bar, BarSeries
from engine.data.synthetic import PROFILES, generate_bars
from engine.agents.registry import available_agents
from engine.engine import Engine
from engine.live.feeds import ReplayFeed
from engine.live.loop import LiveTradingLoop
from engine.observability.checklist_rules import load_checklist_template
from engine.observability.events import EventLogger
from engine.observability.red_flags import RedFlagMonitor
from engine.persistence.checklist import ChecklistStore
from engine.persistence.db import Database
from engine.persistence.session_store import SessionStore
from engine.persistence.state_store import StateStore
from widgets.checklist_panel import ChecklistPanel
from widgets.config_dialog import DEFAULT_SAVE_PATH, ConfigDialog
from widgets.kill_dialog import KillSummary, RearmDialog

HALT_KEY = "kill_switch"
BAR_SECONDS = 60.0   # the embedded bars are one minute long


class Workstation(QObject):
    """Owns the window, the worker thread and the GUI-side stores.

    A QObject living in the GUI thread, so the worker's signals reach its slots through
    queued connections: nothing of the engine thread ever runs GUI code.
    """

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        super().__init__()
        self.settings = settings
        self.args = args
        state_dir: Path = args.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = state_dir / "futbot.sqlite"
        symbol = (args.symbol or settings.data.symbol).upper()
        self._symbols = sorted(set(PROFILES) | {symbol})
        self._stream: str | None = None
        self._drawn = False      # the window shows bars of the current stream
        self._retired: list[MainWindow] = []
        # Python's cycle collector runs in whichever thread happens to allocate; if that is the
        # engine thread while Qt objects are garbage, Qt crashes or deadlocks. Collect on a GUI
        # timer instead (automatic collection is off while the workstation runs).
        self._gc_was_enabled = gc.isenabled()
        self._gc = GarbageCollector(interval=1.0)
        self.window = MainWindow(symbols=self._symbols)
        # Created here, before the engine thread starts, so the two threads never race to
        # create the schema of a new database file.
        engine_db = Database(self.db_path)
        self._engine_store = StateStore(engine_db)
        # Agent discovery scans installed packages' entry points: done once here, in the GUI
        # thread, before the engine thread starts building engines from the registry.
        available_agents()
        self._sessions = SessionStore(engine_db)
        self._bars: dict[str, BarSeries] = {}
        self.worker = EngineWorker(settings, symbol, self._feed, self._engine, halt_store=self._store_halt,
                                   loop_factory=self._paper_loop)
        self.worker.speed = args.speed
        self.thread = start_worker(self.worker)
        self.facts = FactsTracker(settings)
        self.flags = RedFlagMonitor()
        gui_db = Database(self.db_path)
        template = load_checklist_template()
        self.checklist = ChecklistPanel(ChecklistStore(gui_db, template), template)
        # A window of its own (no parent): it outlives main-window renewals on a mode change.
        self.checklist_window = _holder("Burn-in checklist", self.checklist)
        self.last_kill: KillInfo | None = None
        self._connect()
        if not args.paused:
            self.worker.send("start")

    # -- runs in the engine thread (called by the worker) ----------------------------------
    def _feed(self, symbol: str) -> Iterator[Bar]:
        return iter(self._series(symbol))

    def _series(self, symbol: str) -> BarSeries:
        if symbol not in self._bars:
            self._bars[symbol] = generate_bars(symbol, days=self.args.days, seed=self.args.seed)
        return self._bars[symbol]

    def session_name(self, symbol: str) -> str:
        return f"gui-paper-{symbol}-{self.args.days}d-s{self.args.seed}"

    def _paper_loop(self, settings: Settings, symbol: str, bars_per_second: float | None) -> LiveTradingLoop:
        name = self.session_name(symbol)
        engine = Engine(settings, symbol=symbol,
                        events=EventLogger(self.args.state_dir / "events" / f"{name}.jsonl", keep=1_000))
        speed = None if bars_per_second is None else bars_per_second * BAR_SECONDS
        loop = LiveTradingLoop(
            engine, ReplayFeed(self._series(symbol), speed, max_gap_seconds=BAR_SECONDS), self._sessions, name,
            broker="paper", feed_name=f"synthetic {symbol} days={self.args.days} seed={self.args.seed}",
            bar_seconds=BAR_SECONDS,
        )
        halted = self._engine_store.load(HALT_KEY)
        if halted and not self._session_halted(name):
            # A kill survives a restart, whichever mode it was pulled in: the loop halts the
            # session again as soon as it has resumed it.
            loop.request_kill(f"still halted after restart: {halted['reason']}", flatten=False)
        return loop

    def _session_halted(self, name: str) -> bool:
        info = self._sessions.find_session(name)
        saved = None if info is None else self._sessions.checkpoint(info.id)
        return saved is not None and bool(saved.doc["engine"]["risk"]["killed"])

    def _engine(self, settings: Settings, symbol: str) -> Engine:
        engine = Engine(settings, symbol=symbol, events=EventLogger(self.args.state_dir / "events.jsonl"))
        halted = self._engine_store.load(HALT_KEY)
        if halted:
            # A kill survives a restart: the engine starts HALTED until someone re-arms it.
            engine.kill(f"still halted after restart: {halted['reason']}", flatten=False)
        return engine

    def _store_halt(self, info: KillInfo | None) -> None:
        if info is None:
            self._engine_store.delete(HALT_KEY)
        else:
            self._engine_store.save(HALT_KEY, {"reason": info.reason, "at": info.halted_at.isoformat()})

    # -- GUI thread -------------------------------------------------------------------------
    def _connect(self) -> None:
        worker = self.worker
        worker.batch_ready.connect(self._on_batch)
        worker.failed.connect(self._on_failed)
        worker.killed.connect(self._on_killed)
        worker.finished.connect(self._on_finished)
        self._connect_window()

    def _connect_window(self) -> None:
        w, worker = self.window, self.worker
        w.start_requested.connect(lambda: worker.send("start"))
        w.pause_requested.connect(lambda: worker.send("pause"))
        w.speed_changed.connect(lambda v: worker.send("speed", v))
        w.symbol_changed.connect(lambda s: worker.send("symbol", s))
        w.kill_requested.connect(lambda: worker.send("kill", "kill switch pressed"))
        w.rearm_requested.connect(self._rearm)
        w.config_requested.connect(self._config)
        w.backtest_requested.connect(self._backtest)
        w.checklist_requested.connect(self._show_checklist)
        w.mode_changed.connect(self._mode)

    def _renew_window(self) -> None:
        """Another mode or symbol starts its own time line: fresh charts in the same layout."""
        old = self.window
        old.save_layout()
        self.window = MainWindow(symbols=self._symbols)
        self.window.setGeometry(old.geometry())
        self._connect_window()
        if old.isVisible():
            self.window.show()
        old.hide()
        # Kept, hidden: letting Python's garbage collector tear down a window full of
        # pyqtgraph items (in cycles, in arbitrary order) can crash the process.
        self._retired.append(old)

    @Slot()
    def _on_finished(self) -> None:
        self.window.show_error(f"{self.worker.mode} finished: the embedded data is exhausted")

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self.window.show_error(text)

    @Slot(object)
    def _on_batch(self, batch: SnapshotBatch) -> None:
        stream = batch.status.stream
        if stream != self._stream:
            if self._drawn:
                self._renew_window()
            self._stream, self._drawn = stream, False
        self._drawn = self._drawn or len(batch) > 0
        self.window.apply_batch(batch)
        facts, observation = self.facts.update(batch)
        self.checklist.set_live_facts(facts)
        alerts = self.flags.observe(observation)
        if alerts:
            self.checklist.add_alerts(alerts)

    @Slot(object)
    def _on_killed(self, info: KillInfo) -> None:
        self.last_kill = info

    def _rearm(self) -> None:
        info = self.last_kill
        summary = KillSummary(info.halted_at, info.reason, info.orders_cancelled, info.positions_flattened) \
            if info is not None else KillSummary(_now(), "halted (restored after restart or by a risk limit)", 0, ())
        dialog = RearmDialog(summary, self.settings.risk.flatten_on_kill, self.window)
        dialog.rearm_confirmed.connect(lambda: self.worker.send("rearm", True))
        dialog.flatten_choice_changed.connect(self._flatten_choice)
        dialog.exec()

    def _flatten_choice(self, flatten: bool) -> None:
        data = self.settings.to_dict()
        data["risk"]["flatten_on_kill"] = flatten
        self.settings = Settings.model_validate(data)
        self.worker.send("settings", self.settings)

    def _config(self) -> None:
        dialog = ConfigDialog(self.settings, load_settings(), self.window)
        dialog.settings_applied.connect(self._apply_settings)
        self.worker.applied.connect(dialog.set_apply_status)
        dialog.exec()
        self.worker.applied.disconnect(dialog.set_apply_status)

    def _apply_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.worker.send("settings", settings)

    def _backtest(self) -> None:
        from widgets.backtest_dialog import BacktestDialog

        BacktestDialog(self.settings, parent=self.window).exec()

    def _show_checklist(self) -> None:
        self.checklist_window.show()
        self.checklist_window.raise_()

    def _mode(self, mode: str) -> None:
        if mode in MODES:
            self.worker.send("mode", mode)
        else:
            self.window.show_error(f"mode {mode!r} is not available in the window yet; "
                                   f"choose one of: {', '.join(MODES)}")

    def shutdown(self) -> None:
        self.worker.send("stop")
        self.thread.quit()
        self.thread.wait(5_000)
        # Only once the engine thread is gone may the collector run anywhere again.
        self._gc.timer.stop()
        if self._gc_was_enabled:
            gc.enable()


def _holder(title: str, widget: QWidget) -> QDialog:
    box = QDialog()
    box.setWindowTitle(title)
    box.setModal(False)
    box.resize(760, 560)
    QVBoxLayout(box).addWidget(widget)
    return box


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _prepare_backtest() -> None:
    from engine.backtest.backtester import prepare  # imported here: numba loads off the path to the first frame
    prepare()


def run_gui(args: argparse.Namespace) -> int:
    config = args.config if args.config is not None else (DEFAULT_SAVE_PATH if DEFAULT_SAVE_PATH.exists() else None)
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_dark_theme(app)
    station = Workstation(settings, args)
    station.window.show()
    # The compiled backtest loop loads (or, once after install, compiles) while the trader
    # looks at the window, not when they press Run in the backtest dialog.
    threading.Thread(target=_prepare_backtest, name="backtest-prepare", daemon=True).start()
    app.aboutToQuit.connect(station.shutdown)
    return app.exec()
