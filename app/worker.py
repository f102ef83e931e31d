"""EngineWorker: owns the engine in its own QThread and talks to the GUI only by signals.

Commands arrive on a thread-safe queue that the loop drains between bars (the kill switch
jumps the queue and is handled before the next bar). Step results are gathered into one
frozen `SnapshotBatch` at most ~30 times a second, so a slow pane never slows the engine.
"""
from __future__ import annotations

import queue
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from app.batcher import BatchBuilder
from engine.config import Settings, restart_required_keys
from engine.data.bar import Bar
from engine.engine import Engine
from engine.execution.orders import OrderStatus

EMIT_INTERVAL = 1.0 / 30.0

FeedFactory = Callable[[str], Iterator[Bar]]
EngineFactory = Callable[[Settings, str], Engine]


@dataclass(frozen=True, slots=True)
class KillInfo:
    """What a kill did, for the re-arm dialog and the persisted HALTED state."""

    halted_at: datetime
    reason: str
    orders_cancelled: int
    positions_flattened: tuple[tuple[str, float], ...]


HaltStore = Callable[[KillInfo | None], None]


@dataclass(frozen=True, slots=True)
class Command:
    name: str                 # start, pause, speed, symbol, kill, rearm, settings, stop
    value: Any = None


class EngineWorker(QObject):
    batch_ready = Signal(object)     # SnapshotBatch
    failed = Signal(str)             # a plain-words error for the banner
    finished = Signal()              # the feed ran out
    applied = Signal(str)            # how a settings change was applied
    killed = Signal(object)          # KillInfo, once the kill has taken effect

    def __init__(self, settings: Settings, symbol: str, feed_factory: FeedFactory,
                 engine_factory: EngineFactory, *, mode: str = "replay", broker: str = "paper",
                 halt_store: HaltStore | None = None) -> None:
        super().__init__()
        self.commands: queue.Queue[Command] = queue.Queue()
        self._urgent: queue.Queue[Command] = queue.Queue()
        self.settings = settings
        self.symbol = symbol
        self.feed_factory = feed_factory
        self.engine_factory = engine_factory
        self.mode = mode
        self.broker_name = broker
        self.halt_store = halt_store
        self.speed = 60.0          # bars per second; 0 = as fast as possible
        self.running = False
        self._alive = True
        self.engine: Engine | None = None
        self._feed: Iterator[Bar] | None = None
        self._batch = BatchBuilder()

    # -- called from the GUI thread: only queue puts --------------------------------------
    def send(self, name: str, value: Any = None) -> None:
        (self._urgent if name == "kill" else self.commands).put(Command(name, value))

    # -- the engine thread ----------------------------------------------------------------
    def run(self) -> None:
        try:
            self._reset(self.symbol)
            self._emit([])
            next_bar = time.perf_counter()
            last_emit = 0.0
            while self._alive:
                self._drain()
                if not self._alive:
                    break
                now = time.perf_counter()
                if not self.running:
                    time.sleep(0.01)
                    continue
                if self.speed > 0.0:
                    if now < next_bar:
                        time.sleep(min(next_bar - now, EMIT_INTERVAL))
                        if time.perf_counter() - last_emit >= EMIT_INTERVAL and len(self._batch):
                            self._emit(self.engine.events.drain())
                            last_emit = time.perf_counter()
                        continue
                    next_bar = max(next_bar + 1.0 / self.speed, now - 0.25)
                if not self._step_one():
                    continue
                if time.perf_counter() - last_emit >= EMIT_INTERVAL:
                    self._emit(self.engine.events.drain())
                    last_emit = time.perf_counter()
        except Exception as exc:  # the window must hear of it, never a silent freeze
            self.failed.emit(f"engine stopped: {exc}")
            traceback.print_exc()

    def _step_one(self) -> bool:
        assert self.engine is not None and self._feed is not None
        bar = next(self._feed, None)
        if bar is None:
            self.running = False
            self._emit(self.engine.events.drain())
            self.finished.emit()
            return False
        try:
            self._batch.add(self.engine.step(bar))
        except Exception as exc:
            self.running = False
            self.engine.events.log(self.engine.last_ts, "engine_error", error=str(exc))
            self._emit(self.engine.events.drain())
            self.failed.emit(f"engine error on the bar at {bar.time:%Y-%m-%d %H:%M} UTC: {exc}; replay paused")
            traceback.print_exc()
            return False
        return True

    def _drain(self) -> None:
        for q in (self._urgent, self.commands):
            while True:
                try:
                    cmd = q.get_nowait()
                except queue.Empty:
                    break
                self._handle(cmd)

    def _handle(self, cmd: Command) -> None:
        assert self.engine is not None
        if cmd.name == "start":
            self.running = True
        elif cmd.name == "pause":
            self.running = False
            self._emit(self.engine.events.drain())
        elif cmd.name == "speed":
            self.speed = float(cmd.value)
        elif cmd.name == "symbol":
            self._reset(str(cmd.value))
            self._emit(self.engine.events.drain())
        elif cmd.name == "kill":
            self._kill(str(cmd.value or "kill switch pressed"))
        elif cmd.name == "rearm":
            try:
                self.engine.rearm(bool(cmd.value))
                if self.halt_store is not None:
                    self.halt_store(None)
            except ValueError as exc:
                self.failed.emit(str(exc))
            self._emit(self.engine.events.drain())
        elif cmd.name == "settings":
            self.applied.emit(self._apply(cmd.value))
        elif cmd.name == "stop":
            self._alive = False

    def _kill(self, reason: str) -> None:
        """Halt, cancel, flatten if configured; persist HALTED before anyone is told."""
        assert self.engine is not None
        position = self.engine.portfolio.position(self.engine.symbol)
        answers = self.engine.kill(reason)
        cancelled = sum(1 for a in answers if a.status is OrderStatus.CANCELLED)
        flattening = any(a.status is OrderStatus.ACCEPTED for a in answers) and position != 0.0
        info = KillInfo(datetime.now(timezone.utc), reason, cancelled,
                        ((self.engine.symbol, -position),) if flattening else ())
        if self.halt_store is not None:
            self.halt_store(info)
        self._emit(self.engine.events.drain())
        self.killed.emit(info)

    def _apply(self, settings: Settings) -> str:
        """Between two bars is the safe point: risk, policy and execution change in place."""
        needs_restart = restart_required_keys(self.settings, settings)
        self.settings = settings
        if needs_restart:
            return "saved; restart needed for: " + ", ".join(needs_restart)
        assert self.engine is not None
        self.engine.apply_settings(settings)
        return f"applied at bar {self.engine.index + 1:,}"

    def _reset(self, symbol: str) -> None:
        self.symbol = symbol
        self.engine = self.engine_factory(self.settings, symbol)
        self._feed = self.feed_factory(symbol)
        self._batch = BatchBuilder()

    def _emit(self, events: list) -> None:
        assert self.engine is not None
        self.batch_ready.emit(self._batch.build(
            self.engine, mode=self.mode, broker=self.broker_name, connected=True,
            running=self.running, speed=self.speed, events=events,
        ))


def start_worker(worker: EngineWorker) -> QThread:
    thread = QThread()
    thread.setObjectName("engine")
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    thread.start()
    return thread
