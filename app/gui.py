"""The workstation: wires the main window, the engine worker thread and the dialogs.

`futbot` with no sub-command lands here. The window opens on a replay of the embedded
market data through the full engine and paper broker, so everything moves at once with no
keys and no network.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QApplication, QDialog, QVBoxLayout, QWidget

from app.facts import FactsTracker
from app.snapshot import SnapshotBatch
from app.theme import apply_dark_theme
from app.window import MainWindow
from app.worker import EngineWorker, KillInfo, start_worker
from engine.config import ConfigError, Settings, load_settings
from engine.data.bar import Bar
from engine.data.synthetic import PROFILES, generate_bars
from engine.engine import Engine
from engine.observability.checklist_rules import load_checklist_template
from engine.observability.events import EventLogger
from engine.observability.red_flags import RedFlagMonitor
from engine.persistence.checklist import ChecklistStore
from engine.persistence.db import Database
from engine.persistence.state_store import StateStore
from widgets.checklist_panel import ChecklistPanel
from widgets.config_dialog import DEFAULT_SAVE_PATH, ConfigDialog
from widgets.kill_dialog import KillSummary, RearmDialog

HALT_KEY = "kill_switch"


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
        symbols = sorted(set(PROFILES) | {symbol})
        self.window = MainWindow(symbols=symbols)
        # Created here, before the engine thread starts, so the two threads never race to
        # create the schema of a new database file.
        self._engine_store = StateStore(Database(self.db_path))
        self.worker = EngineWorker(settings, symbol, self._feed, self._engine, halt_store=self._store_halt)
        self.worker.speed = args.speed
        self.thread = start_worker(self.worker)
        self.facts = FactsTracker(settings)
        self.flags = RedFlagMonitor()
        gui_db = Database(self.db_path)
        template = load_checklist_template()
        self.checklist = ChecklistPanel(ChecklistStore(gui_db, template), template)
        self.checklist_window = _holder("Burn-in checklist", self.checklist, self.window)
        self.last_kill: KillInfo | None = None
        self._connect()
        if not args.paused:
            self.worker.send("start")

    # -- runs in the engine thread (called by the worker) ----------------------------------
    def _feed(self, symbol: str) -> Iterator[Bar]:
        return iter(generate_bars(symbol, days=self.args.days, seed=self.args.seed))

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
        w, worker = self.window, self.worker
        worker.batch_ready.connect(self._on_batch)
        worker.failed.connect(w.show_error)
        worker.killed.connect(self._on_killed)
        worker.finished.connect(self._on_finished)
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

    @Slot()
    def _on_finished(self) -> None:
        self.window.show_error("replay finished: the embedded data is exhausted")

    @Slot(object)
    def _on_batch(self, batch: SnapshotBatch) -> None:
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
        if mode.lower() != "replay":
            self.window.show_error(f"mode {mode!r} is not available in the window yet; "
                                   "use `futbot live --broker paper` for paper trading")

    def shutdown(self) -> None:
        self.worker.send("stop")
        self.thread.quit()
        self.thread.wait(5_000)


def _holder(title: str, widget: QWidget, parent: QWidget) -> QDialog:
    box = QDialog(parent)
    box.setWindowTitle(title)
    box.setModal(False)
    box.resize(760, 560)
    QVBoxLayout(box).addWidget(widget)
    return box


def _now() -> datetime:
    return datetime.now(timezone.utc)


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
    app.aboutToQuit.connect(station.shutdown)
    return app.exec()
