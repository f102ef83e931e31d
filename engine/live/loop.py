"""LiveTradingLoop: bars from a feed through `Engine.step`, each step committed before it is told.

For every bar:
  commands (kill, re-arm) -> daily tasks due at the bar's open (pre-market checks, mid-day,
  a missed end of day) -> Engine.step -> tasks due at the bar's close (end of day at 16:00)
  -> ONE database transaction: orders, fills, trades, equity point, checkpoint
  -> only then: the `on_step` and `on_events` hooks (GUI, metrics, console).

Crash-only: starting and resuming are the same path. On start the loop looks up the
session's checkpoint; if there is one it cuts the event log back to the size it had at that
commit (lines of a step that never committed are written again when the step is redone),
re-feeds the feed's bars up to the checkpoint through `Engine.warm` to rebuild indicators,
regime and agents, restores the checkpoint and carries on with the next bar. Nothing in the
database or the log is lost or doubled, whatever moment the process dies at.

`stop()`, `request_kill()` and `request_rearm()` may be called from any thread; commands
are carried out between bars, and a stop after the current bar's commit.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.data.bar import Bar
from engine.engine import Engine, StepResult
from engine.execution.orders import Order
from engine.live.daily import DEFAULT_CHECKS, DayStats, PreMarketCheck, run_checks
from engine.live.feeds import Feed
from engine.live.scheduler import Due, SessionScheduler, Task
from engine.observability.events import Event
from engine.persistence import checkpoint
from engine.persistence.session_store import Checkpoint, SessionInfo, SessionStore

_NS = 1_000_000_000

StepHook = Callable[[StepResult], None]
EventsHook = Callable[[list[Event]], None]


@dataclass(frozen=True, slots=True)
class LoopSummary:
    session: str
    resumed_from: int | None   # step index of the checkpoint resumed from, None for a new session
    warmed: int                # bars re-fed to rebuild state
    steps: int                 # bars traded by this run
    skipped: int               # bars not newer than the last one traded (a feed repeating itself)
    last_index: int
    equity: float
    stopped: bool              # by request, rather than the feed running out


@dataclass(frozen=True, slots=True)
class _Kill:
    reason: str
    flatten: bool | None


@dataclass(frozen=True, slots=True)
class _Rearm:
    confirm: bool


class LiveTradingLoop:
    def __init__(self, engine: Engine, feed: Feed, store: SessionStore, session: str, *,
                 broker: str = "paper", feed_name: str = "", scheduler: SessionScheduler | None = None,
                 checks: Sequence[PreMarketCheck] = DEFAULT_CHECKS, on_step: StepHook | None = None,
                 on_events: EventsHook | None = None, bar_seconds: float = 60.0) -> None:
        if engine.index != -1:
            raise ValueError(f"LiveTradingLoop needs a fresh engine (index -1), got one at bar index {engine.index}: "
                             "a resume rebuilds the state by re-feeding bars from the start")
        if not bar_seconds > 0.0:
            raise ValueError(f"bar_seconds = {bar_seconds!r}: expected the bar length in seconds, > 0")
        self.engine = engine
        self.feed = feed
        self.store = store
        self.session_name = session
        self.broker_name = broker
        self.feed_name = feed_name
        self.scheduler = scheduler or SessionScheduler(engine.settings.data.timezone)
        self.checks = tuple(checks)
        self.on_step = on_step
        self.on_events = on_events
        # Called between bars after a `wake()`, before the loop's own commands run: an owner
        # hands over what it was asked meanwhile (the window's kill switch).
        self.on_idle: Callable[[], None] | None = None
        self._serving = False   # commands may run: the session is open and any checkpoint restored
        self._bar_ns = int(bar_seconds * _NS)
        self._stop = threading.Event()
        self.last_step_seconds = 0.0
        self.last_feed_lag_seconds = 0.0
        self._commands: queue.SimpleQueue[_Kill | _Rearm] = queue.SimpleQueue()
        self._day = DayStats(start_equity=engine.portfolio.equity)
        self._session: SessionInfo | None = None

    # -- control, from any thread ---------------------------------------------------------
    def stop(self) -> None:
        """Finish the bar in hand (and commit it), then return from `run`."""
        self._stop.set()
        self.feed.close()

    def request_kill(self, reason: str, flatten: bool | None = None) -> None:
        """Carried out (and committed) at once if the feed is waiting for a bar, else before the next."""
        self._commands.put(_Kill(reason, flatten))
        self.wake()

    def request_rearm(self, confirm: bool) -> None:
        self._commands.put(_Rearm(confirm))
        self.wake()

    def wake(self) -> None:
        """Between bars, serve commands now: `on_idle`, then the loop's own (see `Feed.wake`)."""
        self.feed.wake()

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> LoopSummary:
        """Trade the feed's bars until it ends or `stop()` is called; resumes a known session."""
        engine = self.engine
        info = self.store.open_session(self.session_name, engine.symbol, self.broker_name, self.feed_name)
        self._session = info
        saved = self.store.checkpoint(info.id)
        if saved is None:
            engine.use_order_prefix(info.order_prefix)
            self._log("start")
            self._commit_state()
        else:
            self._cut_event_log(saved.event_offset)
            self.feed.replay_until(saved.ts)
        self.store.set_status(info.id, "running")
        warmed = steps = skipped = 0
        pending = saved   # the checkpoint still to restore once the feed has re-fed its bars
        self._serving = pending is None
        self.feed.on_idle(self._idle)
        try:
            for bar in self.feed:
                if pending is not None:
                    if bar.ts <= pending.ts:
                        if engine.index < 0 or bar.ts > engine.last_ts:
                            engine.warm(bar)
                            warmed += 1
                        continue
                    self._resume(pending)
                    pending = None
                    self._serving = True
                self._run_commands()
                if self._stop.is_set():
                    break
                if engine.index >= 0 and bar.ts <= engine.last_ts:
                    skipped += 1
                    continue
                self._trade(bar)
                steps += 1
                if self._stop.is_set():
                    break
            if pending is not None and not self._stop.is_set():
                self._resume(pending)   # the feed holds no bar after the checkpoint (yet)
                pending = None
        finally:
            self._serving = False
            self.feed.close()
        stopped = self._stop.is_set()
        if pending is not None:
            # Stopped while re-feeding: the committed state was not touched and stays as it is.
            self.store.set_status(info.id, "stopped")
            return LoopSummary(info.name, pending.step, warmed, 0, 0, pending.step,
                               float(pending.doc["engine"]["portfolio"]["equity"]), True)
        self._run_commands()
        self._log("stop" if stopped else "feed_end")
        self._commit_state()
        self.store.set_status(info.id, "stopped" if stopped else "finished")
        return LoopSummary(info.name, None if saved is None else saved.step, warmed, steps, skipped,
                           engine.index, engine.portfolio.equity, stopped)

    def _trade(self, bar: Bar) -> None:
        engine = self.engine
        for due in self.scheduler.due(bar.ts):
            self._run_task(due, bar.ts)
        started = time.perf_counter()
        result = engine.step(bar)
        self.last_step_seconds = time.perf_counter() - started
        # How late the bar is handled: wall clock minus the bar's close (meaningful live; a
        # fast replay of old bars shows how far behind real time it runs).
        self.last_feed_lag_seconds = max(time.time() - (bar.ts + self._bar_ns) / _NS, 0.0)
        self._day.add(result)
        close = bar.ts + self._bar_ns
        for due in self.scheduler.due(close):
            self._run_task(due, close)
        assert self._session is not None
        self.store.commit_step(self._session.id, result, self._doc(), self._event_offset())
        self._publish(result)

    def _resume(self, saved: Checkpoint) -> None:
        engine = self.engine
        if engine.index != saved.step or (saved.step >= 0 and engine.last_ts != saved.ts):
            raise ValueError(
                f"session {self.session_name!r}: the feed re-fed {engine.index + 1} bars up to ts {engine.last_ts}, "
                f"but the checkpoint is after bar {saved.step + 1} at ts {saved.ts}: this feed is not the one "
                "the session traded")
        doc = saved.doc
        checkpoint.restore(engine, doc["engine"])
        loop = doc["loop"]
        self.scheduler.restore(loop["scheduler"])
        self._day = DayStats.from_dict(loop["day"])
        self._log("resume", from_step=saved.step)
        self._commit_state()

    # -- commands and tasks ---------------------------------------------------------------
    def _idle(self) -> None:
        # The feed calls this while it waits for a bar, in this thread: no step is in hand.
        if not self._serving:
            return   # still re-feeding a resumed session: commands wait until it is restored
        if self.on_idle is not None:
            self._call(self.on_idle)
        self._run_commands()

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            engine = self.engine
            before = {o.id for o in engine.broker.open_orders()}
            try:
                if isinstance(command, _Kill):
                    engine.kill(command.reason, command.flatten)
                else:
                    engine.rearm(command.confirm)
            except ValueError as exc:
                engine.events.log(engine.last_ts, "engine_error", where=type(command).__name__.strip("_").lower(),
                                  error=str(exc))
            sent = tuple(o for o in engine.broker.open_orders() if o.id not in before)
            self._commit_state(sent)

    def _run_task(self, due: Due, now: int) -> None:
        engine = self.engine
        day = due.day.isoformat()
        if due.task is Task.PRE_MARKET:
            if self._day.day is None:
                self._day.day = day
            results = run_checks(engine, self.checks)
            failed = [r.name for r in results if not r.ok]
            engine.events.log(now, "pre_market", day=day, passed=len(results) - len(failed), failed=failed,
                              checks=[{"name": r.name, "ok": r.ok, "detail": r.detail} for r in results])
        elif due.task is Task.MID_DAY:
            engine.events.log(now, "mid_day", **self._day.summary(), equity=engine.portfolio.equity,
                              position=engine.portfolio.position(engine.symbol),
                              trading_state=engine.risk.state.value, regime=engine.regime.current.label)
        else:
            summary = self._day.summary()
            summary["day"] = day
            engine.events.log(now, "daily_summary", **summary, drawdown=engine.portfolio.drawdown,
                              trading_state=engine.risk.state.value)
            self._day = DayStats(start_equity=engine.portfolio.equity)   # the session boundary

    # -- persistence and publishing -------------------------------------------------------
    def _doc(self) -> dict[str, Any]:
        return {"engine": checkpoint.capture(self.engine),
                "loop": {"scheduler": self.scheduler.state(), "day": self._day.to_dict()}}

    def _commit_state(self, orders: tuple[Order, ...] = ()) -> None:
        assert self._session is not None
        engine = self.engine
        self.store.commit_state(self._session.id, engine.index, engine.last_ts, self._doc(), orders,
                                self._event_offset())
        self._publish(None)

    def _publish(self, result: StepResult | None) -> None:
        """After the commit: hooks see only what is already safe in the database."""
        events = self.engine.events.drain()
        if result is not None and self.on_step is not None:
            self._call(self.on_step, result)
        if events and self.on_events is not None:
            self._call(self.on_events, events)

    def _call(self, hook: Callable[..., None], *args: object) -> None:
        try:
            hook(*args)
        except Exception as exc:  # a broken view must not stop trading; the error is logged
            self.engine.events.log(self.engine.last_ts, "engine_error", where="hook",
                                   error=f"{type(exc).__name__}: {exc}")

    def _event_offset(self) -> int | None:
        path = self.engine.events.path
        return None if path is None else os.path.getsize(path)

    def _cut_event_log(self, offset: int | None) -> None:
        path = self.engine.events.path
        if path is None or offset is None:
            return
        path = Path(path)
        if path.exists() and path.stat().st_size > offset:
            os.truncate(path, offset)

    def _log(self, what: str, **payload: object) -> None:
        engine = self.engine
        # Stamped with the last bar's time like every other event; wall time before the first bar.
        ts = engine.last_ts if engine.index >= 0 else time.time_ns()
        engine.events.log(ts, "session", what=what, session=self.session_name, step=engine.index, **payload)
