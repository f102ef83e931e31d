"""EngineWorker: owns the engine in its own QThread and talks to the GUI only by signals.

Commands arrive on a thread-safe queue that the worker drains between bars (the kill switch
jumps the queue and is handled before the next bar). Step results are gathered into one
frozen `SnapshotBatch` at most ~30 times a second, so a slow pane never slows the engine.

Two modes. "replay" steps the embedded bars through `Engine.step` with nothing persisted.
"paper live" runs a `LiveTradingLoop` in this thread: every bar is committed to SQLite
before the panes hear of it, and the session resumes after a restart. Commands then run in
the loop's `on_step` hook (between two committed bars), or, while the session waits for its
next bar, at once: `send` wakes the loop, which calls `on_idle`. The kill and re-arm are
handed to the loop, which carries them out and commits them before the next bar. Pause, speed,
symbol and mode changes stop the loop (it commits the bar in hand) and are carried out
once it has returned; start runs the loop again, which resumes the session. While paused,
a kill or re-arm runs the loop just long enough to resume, carry it out and commit it.
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
from engine.engine import Engine, StepResult
from engine.execution.orders import OrderStatus
from engine.live.feeds import Feed
from engine.live.loop import LiveTradingLoop, LoopSummary
from engine.observability.events import Event

EMIT_INTERVAL = 1.0 / 30.0
REPLAY = "replay"
PAPER_LIVE = "paper live"
MODES = (REPLAY, PAPER_LIVE)
# Commands that end a paper-live loop's run; they are carried out once it has returned.
_LOOP_ENDING = frozenset({"pause", "speed", "symbol", "mode", "stop"})

FeedFactory = Callable[[str], Iterator[Bar]]
EngineFactory = Callable[[Settings, str], Engine]
# (settings, symbol, bars per second or None for as fast as possible) -> a loop on a fresh engine
LoopFactory = Callable[[Settings, str, float | None], LiveTradingLoop]


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
    name: str                 # start, pause, speed, symbol, mode, kill, rearm, settings, stop
    value: Any = None


class _SettleFeed:
    """A session's feed that asks the loop to stop at the first bar after the checkpoint.

    The loop re-feeds the bars up to the checkpoint, restores it, carries out its queued
    commands, commits and returns without trading: the session's state, on screen while
    paused, with a kill or re-arm made safe in the database.
    """

    def __init__(self, inner: Feed, until: int | None, stop: Callable[[], None]) -> None:
        self._inner = inner
        self._until = until
        self._stop = stop

    def __iter__(self) -> Iterator[Bar]:
        for bar in self._inner:
            if self._until is None or bar.ts > self._until:
                self._stop()
                yield bar
                return
            yield bar

    def replay_until(self, ts: int) -> None:
        self._inner.replay_until(ts)

    def close(self) -> None:
        self._inner.close()

    def on_idle(self, callback: Callable[[], None]) -> None:
        self._inner.on_idle(callback)

    def wake(self) -> None:
        self._inner.wake()


class EngineWorker(QObject):
    batch_ready = Signal(object)     # SnapshotBatch
    failed = Signal(str)             # a plain-words error for the banner
    finished = Signal()              # the feed ran out
    applied = Signal(str)            # how a settings change was applied
    killed = Signal(object)          # KillInfo, once the kill has taken effect

    def __init__(self, settings: Settings, symbol: str, feed_factory: FeedFactory,
                 engine_factory: EngineFactory, *, mode: str = REPLAY, broker: str = "paper",
                 halt_store: HaltStore | None = None, loop_factory: LoopFactory | None = None) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"worker mode = {mode!r}: expected one of {MODES}")
        self.commands: queue.Queue[Command] = queue.Queue()
        self._urgent: queue.Queue[Command] = queue.Queue()
        self.settings = settings
        self.symbol = symbol
        self.feed_factory = feed_factory
        self.engine_factory = engine_factory
        self.loop_factory = loop_factory
        self.mode = mode
        self.broker_name = broker
        self.halt_store = halt_store
        self.speed = 60.0          # bars per second; 0 = as fast as possible
        self.running = False
        self._alive = True
        self.engine: Engine | None = None
        self._feed: Iterator[Bar] | None = None
        self._batch = BatchBuilder()
        self._last_emit = 0.0
        # Paper live: the loop while it runs, what it published, and what is owed to the GUI
        # once the loop has carried out a kill or re-arm handed to it.
        self._loop: LiveTradingLoop | None = None
        self._events: list[Event] = []
        self._deferred: list[Command] = []
        self._kill_owed: KillInfo | None = None
        self._rearm_owed = False

    # -- called from the GUI thread: only queue puts --------------------------------------
    def send(self, name: str, value: Any = None) -> None:
        (self._urgent if name == "kill" else self.commands).put(Command(name, value))
        loop = self._loop
        if loop is not None:
            loop.wake()   # a paper session waiting for its next bar serves the command now

    # -- the engine thread ----------------------------------------------------------------
    def run(self) -> None:
        try:
            self._reset(self.symbol)
            self._emit()
            next_bar = time.perf_counter()
            while self._alive:
                self._drain()
                if not self._alive:
                    break
                now = time.perf_counter()
                if not self.running:
                    time.sleep(0.01)
                    continue
                if self.mode == PAPER_LIVE:
                    self._trade_session()
                    continue
                if self.speed > 0.0:
                    if now < next_bar:
                        time.sleep(min(next_bar - now, EMIT_INTERVAL))
                        if time.perf_counter() - self._last_emit >= EMIT_INTERVAL and len(self._batch):
                            self._emit()
                        continue
                    next_bar = max(next_bar + 1.0 / self.speed, now - 0.25)
                if not self._step_one():
                    continue
                if time.perf_counter() - self._last_emit >= EMIT_INTERVAL:
                    self._emit()
        except Exception as exc:  # the window must hear of it, never a silent freeze
            self.failed.emit(f"engine stopped: {exc}")
            traceback.print_exc()

    def _step_one(self) -> bool:
        assert self.engine is not None and self._feed is not None
        bar = next(self._feed, None)
        if bar is None:
            self.running = False
            self._emit()
            self.finished.emit()
            return False
        try:
            self._batch.add(self.engine.step(bar))
        except Exception as exc:
            self.running = False
            self.engine.events.log(self.engine.last_ts, "engine_error", error=str(exc))
            self._emit()
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
        if self._loop is not None and cmd.name in _LOOP_ENDING:
            self._deferred.append(cmd)
            self._loop.stop()
        elif cmd.name == "start":
            self.running = True
        elif cmd.name == "pause":
            self.running = False
            self._emit()
        elif cmd.name == "speed":
            self.speed = float(cmd.value)
        elif cmd.name == "symbol":
            self._reset(str(cmd.value))
            self._emit()
        elif cmd.name == "mode":
            self._set_mode(str(cmd.value))
        elif cmd.name == "kill":
            self._kill(str(cmd.value or "kill switch pressed"))
        elif cmd.name == "rearm":
            self._rearm(bool(cmd.value))
        elif cmd.name == "settings":
            self.applied.emit(self._apply(cmd.value))
        elif cmd.name == "stop":
            self._alive = False

    def _set_mode(self, mode: str) -> None:
        if mode not in MODES:
            self.failed.emit(f"mode {mode!r} is not available in the window; choose one of {', '.join(MODES)}")
        elif mode == PAPER_LIVE and self.loop_factory is None:
            self.failed.emit("paper live is not wired in this window")
        elif mode != self.mode:
            self.mode = mode
            self._reset(self.symbol)
            self._emit()

    def _kill(self, reason: str) -> None:
        """Halt, cancel, flatten if configured; persist HALTED before anyone is told."""
        assert self.engine is not None
        engine = self.engine
        position = engine.portfolio.position(engine.symbol)
        if self.mode == PAPER_LIVE:
            # Between two committed bars the loop carries the kill out on exactly this state.
            flatten = engine.settings.risk.flatten_on_kill and position != 0.0
            self._kill_owed = KillInfo(datetime.now(timezone.utc), reason, len(engine.broker.open_orders()),
                                       ((engine.symbol, -position),) if flatten else ())
            if self._loop is not None:
                self._loop.request_kill(reason)
            else:
                self._settle(lambda loop: loop.request_kill(reason))
            return
        answers = engine.kill(reason)
        cancelled = sum(1 for a in answers if a.status is OrderStatus.CANCELLED)
        flattening = any(a.status is OrderStatus.ACCEPTED for a in answers) and position != 0.0
        self._killed(KillInfo(datetime.now(timezone.utc), reason, cancelled,
                              ((engine.symbol, -position),) if flattening else ()))

    def _killed(self, info: KillInfo) -> None:
        if self.halt_store is not None:
            self.halt_store(info)
        self._emit()
        self.killed.emit(info)

    def _rearm(self, confirm: bool) -> None:
        assert self.engine is not None
        if self.mode == PAPER_LIVE:
            self._rearm_owed = True
            if self._loop is not None:
                self._loop.request_rearm(confirm)
            else:
                self._settle(lambda loop: loop.request_rearm(confirm))
            return
        try:
            self.engine.rearm(confirm)
            if self.halt_store is not None:
                self.halt_store(None)
        except ValueError as exc:
            self.failed.emit(str(exc))
        self._emit()

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
        self._batch = BatchBuilder()
        self._events = []
        if self.mode == PAPER_LIVE:
            self._feed = None
            self._settle()
        else:
            self.engine = self.engine_factory(self.settings, symbol)
            self._feed = self.feed_factory(symbol)

    # -- paper live -----------------------------------------------------------------------
    def _open_loop(self, speed: float) -> LiveTradingLoop:
        assert self.loop_factory is not None
        loop = self.loop_factory(self.settings, self.symbol, speed if speed > 0.0 else None)
        loop.on_step = self._on_loop_step
        loop.on_events = self._on_loop_events
        loop.on_idle = self._on_loop_idle
        self.engine = loop.engine
        return loop

    def _run_loop(self, loop: LiveTradingLoop, what: str) -> LoopSummary | None:
        """Run the loop to its end; None (and paused) if it failed."""
        try:
            return loop.run()
        except Exception as exc:
            self.running = False
            self._emit()
            self.failed.emit(f"paper session {loop.session_name} {what}: {exc}; paused")
            traceback.print_exc()
            return None
        finally:
            loop.engine.events.close()   # the next run appends to (or cuts back) the same log

    def _trade_session(self) -> None:
        loop = self._open_loop(self.speed)
        self._loop = loop
        try:
            summary = self._run_loop(loop, "stopped")
        finally:
            self._loop = None
        if summary is not None:
            self._owed()
            if not summary.stopped:
                self.running = False
                self._emit()
                self.finished.emit()
            else:
                self._emit()
        deferred, self._deferred = self._deferred, []
        for cmd in deferred:
            self._handle(cmd)

    def _settle(self, request: Callable[[LiveTradingLoop], None] | None = None) -> None:
        """Resume the session without trading: its committed state, plus a kill or re-arm."""
        loop = self._open_loop(0.0)
        info = loop.store.find_session(loop.session_name)
        saved = None if info is None else loop.store.checkpoint(info.id)
        loop.feed = _SettleFeed(loop.feed, None if saved is None else saved.ts, loop.stop)
        if request is not None:
            request(loop)
        if self._run_loop(loop, "could not resume") is not None:
            self._owed()
            self._emit()

    def _on_loop_step(self, result: StepResult) -> None:
        # After the bar's commit: the loop has carried out every command handed to it.
        self._batch.add(result)
        self._owed()
        if time.perf_counter() - self._last_emit >= EMIT_INTERVAL:
            self._emit()
        self._drain()

    def _on_loop_idle(self) -> None:
        # Between bars, woken by `send` or by the loop having carried out a kill or re-arm.
        self._owed()
        self._drain()

    def _on_loop_events(self, events: list[Event]) -> None:
        self._events.extend(events)

    def _owed(self) -> None:
        """Tell the GUI of a kill or re-arm the loop has carried out and committed."""
        if self._kill_owed is not None:
            info, self._kill_owed = self._kill_owed, None
            self._killed(info)
        if self._rearm_owed:
            self._rearm_owed = False
            errors = [e for e in self._events if e.type == "engine_error" and e.payload.get("where") == "rearm"]
            if errors:
                self.failed.emit(str(errors[-1].payload["error"]))
            elif self.halt_store is not None:
                self.halt_store(None)
            self._emit()

    def _emit(self) -> None:
        assert self.engine is not None
        if self.mode == PAPER_LIVE:
            events, self._events = self._events, []
        else:
            events = self.engine.events.drain()
        self.batch_ready.emit(self._batch.build(
            self.engine, mode=self.mode, broker=self.broker_name, connected=True,
            running=self.running, speed=self.speed, events=events,
        ))
        self._last_emit = time.perf_counter()


def start_worker(worker: EngineWorker) -> QThread:
    thread = QThread()
    thread.setObjectName("engine")
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    thread.start()
    return thread
