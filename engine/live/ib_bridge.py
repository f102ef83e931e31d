"""IBBridge: the IB connection on its own thread and asyncio loop, for the synchronous live loop.

`IBKRBroker` and `IBBarFeed` must run on the loop that owns the IB connection, while
`LiveTradingLoop` runs `Engine.step` synchronously on the engine thread. The bridge starts a
dedicated thread with its own loop, builds the broker there (ib_async binds its futures and
events to the loop it first runs on) and connects. The engine thread then talks to it through:

- `bridge.broker`, a `Broker` whose every call is carried out on the IB loop
  (`asyncio.run_coroutine_threadsafe`) and waited for, up to `call_timeout` seconds; a call
  that gets no answer in time raises `BridgeTimeout` naming the call.
- `bridge.feed`, a blocking iterator `Feed` of the 1-minute bars `IBBarFeed` builds, handed
  over through a thread-safe queue.

`reconcile_with_broker(engine, broker)` (engine thread, between bars) compares the engine's
portfolio with what IB holds, logs the differences as a `reconciliation` event and adopts IB's
positions and cash. The broker itself reconciles only when given a portfolio callable; the
bridge gives it none, since the portfolio belongs to the engine thread, so reconnects are not
reconciled (the broker still catches up on orders and fills).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from engine.data.bar import Bar
from engine.engine import Engine
from engine.execution.ibkr import ConnectionChange, IBKRBroker
from engine.execution.ibkr_feed import IBBarFeed
from engine.execution.ibkr_reconcile import Reconciliation
from engine.execution.orders import Fill, Order, OrderEvent
from engine.observability.events import Event
from engine.portfolio.portfolio import PortfolioSnapshot

log = logging.getLogger(__name__)

T = TypeVar("T")


class BridgeTimeout(TimeoutError):
    """A call forwarded to the IB thread got no answer in time."""


class BridgeFeedError(RuntimeError):
    """The IB bar feed stopped with an error on the IB thread."""


_END = object()   # queued by `close`: the engine thread's iterator stops
_WAKE = object()  # queued by `wake`: the engine thread serves its commands between bars


class IBBridge:
    """Owns the IB thread: `start()` connects (raises if IB does not answer), `close()` joins it.

    `make_broker(on_connection)` is called on the IB thread with its loop current and must
    build the `IBKRBroker` (and its `IB`) there, handing `on_connection` to the broker so the
    bridge hears of every connection change. The bridge's own `on_connection` is called on
    the IB thread. After a failed or timed-out `start()`, call `close()`.
    """

    def __init__(self, make_broker: Callable[[Callable[[ConnectionChange], None]], IBKRBroker], symbol: str, *, call_timeout: float = 10.0,
                 start_timeout: float = 60.0, on_connection: Callable[[ConnectionChange], None] | None = None,
                 make_feed: Callable[[IBKRBroker], IBBarFeed] | None = None) -> None:
        for name, value in (("call_timeout", call_timeout), ("start_timeout", start_timeout)):
            if not 0.0 < value < float("inf"):
                raise ValueError(f"IBBridge {name} = {value!r}: expected a finite number of seconds > 0")
        self.symbol = symbol
        self.call_timeout = call_timeout
        self.start_timeout = start_timeout
        self._make_broker = make_broker
        self._make_feed = make_feed or (lambda b: IBBarFeed(b.ib, symbol))
        self._on_connection = on_connection
        self._ib_broker: IBKRBroker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._pump: asyncio.Task[None] | None = None
        self._changes: list[ConnectionChange] = []
        self._changes_lock = threading.Lock()
        self.broker = BridgeBroker(self)
        self.feed = BridgeFeed()

    # --- life cycle (any thread but the IB thread) -----------------------------------------

    def start(self) -> None:
        """Start the IB thread, connect and subscribe to the bars; raises ConnectionError on failure."""
        if self._thread is not None:
            raise RuntimeError("IBBridge.start: already started (a bridge runs once)")
        self._thread = threading.Thread(target=self._main, name="futbot-ib", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout):
            raise BridgeTimeout(f"IB bridge: no connection within {self.start_timeout} s (start_timeout)")
        if self._start_error is not None:
            self._thread.join(self.start_timeout)
            raise self._start_error

    def close(self) -> None:
        """Stop the feed, close the broker (disconnect), stop the loop and join the thread."""
        thread, loop = self._thread, self._loop
        self.feed.close()
        if thread is None or loop is None or not thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(self.call_timeout)
        except (RuntimeError, TimeoutError) as exc:   # loop already stopping, or the shutdown hung
            log.warning("IB bridge: shutdown did not finish cleanly: %r", exc)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(self.call_timeout)
        if thread.is_alive():
            raise BridgeTimeout(f"IB bridge: the IB thread did not end within {self.call_timeout} s of close()")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._ready.is_set() \
            and self._start_error is None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    @property
    def connection_changes(self) -> list[ConnectionChange]:
        with self._changes_lock:
            return list(self._changes)

    # --- calls onto the IB loop ------------------------------------------------------------

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """`fn(*args)` run on the IB loop; its result, or its exception re-raised here."""
        loop = self._loop
        if not self.running or loop is None:
            raise RuntimeError(f"IB bridge: cannot call {_name(fn)}: the bridge is not running "
                               "(not started, failed to connect, or closed)")
        if threading.current_thread() is self._thread:
            raise RuntimeError(f"IB bridge: {_name(fn)} called on the IB thread itself: call it directly")

        async def invoke() -> T:
            return fn(*args)

        wait = self.call_timeout if timeout is None else timeout
        future = asyncio.run_coroutine_threadsafe(invoke(), loop)
        try:
            return future.result(wait)
        except TimeoutError:
            future.cancel()
            raise BridgeTimeout(f"IB bridge: {_name(fn)} got no answer from the IB thread within {wait} s "
                                "(call_timeout)") from None

    @property
    def ib_broker(self) -> IBKRBroker:
        """The broker itself, for use on the IB thread only (through `call`)."""
        if self._ib_broker is None:
            raise RuntimeError("IB bridge: no broker before start()")
        return self._ib_broker

    @property
    def connected(self) -> bool:
        """Whether the broker is connected to IB now (asked on the IB thread)."""
        return self.call(_is_connected, self.ib_broker)

    # --- the IB thread ---------------------------------------------------------------------

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)   # ib_async looks the loop up when no loop is running
        self._loop = loop
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:   # handed to start(), which raises it on the caller's thread
            self._start_error = exc
        self._ready.set()
        try:
            if self._start_error is None:
                loop.run_forever()
        finally:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            asyncio.set_event_loop(None)

    async def _open(self) -> None:
        broker = self._make_broker(self._connection_changed)
        self._ib_broker = broker
        await broker.start()
        self._pump = asyncio.get_running_loop().create_task(self._pump_bars(self._make_feed(broker)))

    def _connection_changed(self, change: ConnectionChange) -> None:
        with self._changes_lock:
            self._changes.append(change)
        log.info("IB connection: %s (%s, attempt %d)", "up" if change.connected else "down",
                 change.reason, change.attempt)
        if self._on_connection is not None:
            self._on_connection(change)

    async def _pump_bars(self, source: IBBarFeed) -> None:
        try:
            async for bar in source.bars():
                self.feed.put(bar)
        except asyncio.CancelledError:
            raise
        except Exception as exc:   # the engine thread raises it from its iterator
            self.feed.fail(BridgeFeedError(f"IB bar feed for {self.symbol} stopped: {type(exc).__name__}: {exc}"))
            raise

    async def _shutdown(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        if self._ib_broker is not None:
            await self._ib_broker.close()
        asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)


class BridgeBroker:
    """The `Broker` protocol for the engine thread; every call runs on the IB loop."""

    def __init__(self, bridge: IBBridge) -> None:
        self._bridge = bridge

    def submit(self, order: Order) -> OrderEvent:
        return self._forward("submit", order)

    def cancel(self, order_id: str) -> OrderEvent:
        return self._forward("cancel", order_id)

    def cancel_all(self) -> list[OrderEvent]:
        return self._forward("cancel_all")

    def open_orders(self) -> tuple[Order, ...]:
        return self._forward("open_orders")

    def on_bar_open(self, bar: Bar, atr: float) -> tuple[Fill, ...]:
        return self._forward("on_bar_open", bar, atr)

    def on_bar_close(self, bar: Bar, atr: float) -> tuple[Fill, ...]:
        return self._forward("on_bar_close", bar, atr)

    def drain_events(self) -> list[OrderEvent]:
        return self._forward("drain_events")

    def reconcile(self, local: PortfolioSnapshot) -> Reconciliation:
        return self._forward("reconcile", local)

    def _forward(self, method: str, *args: Any) -> Any:
        bridge = self._bridge
        return bridge.call(getattr(bridge.ib_broker, method), *args)


class BridgeFeed:
    """A blocking `Feed` of the bars the IB thread puts in; `close()` from any thread ends it."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._idle: Callable[[], None] | None = None

    def put(self, bar: Bar) -> None:
        self._queue.put(bar)

    def fail(self, error: BaseException) -> None:
        self._queue.put(error)

    def on_idle(self, callback: Callable[[], None]) -> None:
        self._idle = callback

    def wake(self) -> None:
        self._queue.put(_WAKE)

    def __iter__(self) -> Iterator[Bar]:
        while not self._closed.is_set():
            item = self._queue.get()
            if item is _END or self._closed.is_set():
                return
            if item is _WAKE:
                if self._idle is not None:
                    self._idle()
                continue
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Bar)
            yield item

    def replay_until(self, ts: int) -> None:
        """Nothing to re-feed: IB's live bars start now (see `futbot live --broker ibkr`)."""

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._queue.put(_END)


def reconcile_with_broker(engine: Engine, broker: BridgeBroker, session: str) -> Reconciliation:
    """Engine thread, between bars: adopt IB's positions and cash, logging what differed.

    The log line is a `session` event with `what: "reconciliation"` (it belongs to the
    session's start or resume).

    A session that has not traded yet also takes IB's equity as the risk manager's starting
    point (peak and last equity), so adopting the account is not seen as a drawdown or a gain.
    """
    local = engine.portfolio.snapshot()
    rec = broker.reconcile(local)
    adopted = rec.adopt(local)
    fresh = local.last_ts is None
    if fresh and not adopted.equity > 0.0:
        raise ValueError(f"IB account {rec.account!r}: equity {adopted.equity!r} (cash {rec.broker_cash!r}): "
                         "expected a positive amount to trade with")
    engine.portfolio.restore(adopted)
    if fresh:
        engine.risk.restore(dataclasses.replace(engine.risk.snapshot(), last_equity=adopted.equity,
                                                peak_equity=adopted.equity))
    engine.events.log(
        engine.last_ts if engine.index >= 0 else rec.ts, "session", what="reconciliation",
        session=session, step=engine.index, account=rec.account,
        matches=rec.matches, broker_cash=rec.broker_cash, local_cash=rec.local_cash,
        cash_difference=rec.cash_difference,
        positions=[{"symbol": d.symbol, "local": d.local_qty, "broker": d.broker_qty} for d in rec.positions],
        untracked_orders=list(rec.untracked_orders), adopted_equity=adopted.equity,
    )
    return rec


def _is_connected(broker: IBKRBroker) -> bool:
    return broker.connected


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


class StartReconciler:
    """An `on_events` hook for `LiveTradingLoop`: reconciles when the session starts or resumes,
    and (through `after_step`, an `on_step` hook) again after every reconnect to IB.

    The loop reports the start (or the resume, after restoring its checkpoint) on the engine
    thread before trading the first bar, which is the moment the engine's portfolio is the one
    to compare. A reconnect is noticed after the next committed step, on the engine thread, so
    the portfolio is compared between two bars, never mid-step. If reconciling fails, `stop` is
    called (the loop then trades no further bar) and the error is kept in `error` and re-raised.
    `then` is the hook the events go on to.
    """

    def __init__(self, engine: Engine, broker: BridgeBroker, stop: Callable[[], None], *,
                 then: Callable[[list[Event]], None] | None = None,
                 report: Callable[[Reconciliation], None] | None = None,
                 connection_changes: Callable[[], list[ConnectionChange]] | None = None) -> None:
        self.engine = engine
        self.broker = broker
        self.stop = stop
        self.then = then
        self.report = report
        self.connection_changes = connection_changes
        self.session = ""
        self.last: Reconciliation | None = None
        self.error: BaseException | None = None
        self.reconciliations = 0
        self._ups_seen = 0

    def _ups(self) -> int:
        changes = self.connection_changes() if self.connection_changes is not None else []
        return sum(1 for c in changes if c.connected)

    def _reconcile(self) -> None:
        try:
            self.last = reconcile_with_broker(self.engine, self.broker, self.session)
        except Exception as exc:
            self.error = exc
            self.stop()
            raise
        self.reconciliations += 1
        if self.report is not None:
            self.report(self.last)

    def after_step(self, _result: object = None) -> None:
        """Reconcile once more if IB came back since the last check (the broker is the truth)."""
        if not self.session:
            return
        ups = self._ups()
        if ups > self._ups_seen:
            self._ups_seen = ups
            self._reconcile()

    def __call__(self, events: list[Event]) -> None:
        try:
            starts = [e for e in events if e.type == "session" and e.payload.get("what") in ("start", "resume")]
            if starts:
                self.session = str(starts[-1].payload.get("session", ""))
                self._ups_seen = self._ups()
                self._reconcile()
        finally:
            if self.then is not None:
                self.then(events)


def describe_reconciliation(rec: Reconciliation) -> str:
    """One line for the operator."""
    if rec.matches:
        return f"IB account {rec.account}: positions and cash match the local book"
    parts = [f"{d.symbol} local {d.local_qty:+,.0f} vs IB {d.broker_qty:+,.0f}" for d in rec.positions]
    diff = rec.cash_difference
    if diff is None:
        parts.append("IB reported no cash")
    elif not rec.cash_matches:
        parts.append(f"cash local {rec.local_cash:,.2f} vs IB {rec.broker_cash:,.2f}")
    if rec.untracked_orders:
        parts.append(f"open orders not ours: {', '.join(rec.untracked_orders)}")
    return f"IB account {rec.account}: adopted IB's book; differences: {'; '.join(parts)}"
