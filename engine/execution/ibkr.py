"""IBKRBroker: the Broker protocol over Interactive Brokers' TWS / IB Gateway, through ib_async.

Threads and loops. Everything here runs on the engine thread, inside that thread's own asyncio
loop: `await broker.start()` there, then call the Broker methods from code running in the same
loop (the live feed's `async for` body). ib_async reads the socket, creates its request futures
(`asyncio.Future()`) and fires its events in whatever loop is running, so they all bind to the
engine loop and never touch the GUI's. The thread should also make the loop its current one
(`asyncio.set_event_loop`): with no loop running, `ib_async.util.getLoop` quietly creates and
installs a new loop on a thread that has none, and eventkit's fallback raises there. Broker
methods called from any other thread raise.

Order identity. Each IB order carries our `Order.id` in `orderRef`. After a reconnect ib_async
has forgotten the old session; the broker looks at what IB reports (open and completed orders,
executions) by `orderRef`, catches up on status changes it missed, and sends again only the
orders IB has no trace of, so a resend never duplicates an order.

IB statuses map to ours as `ibkr_mapping.map_ib_status` says.

Fills. A Fill is emitted once per IB execution id, when both the execution and its commission
report are known. Executions arrive on `execDetailsEvent` (live) or, after a reconnect, only in
`ib.fills()`; the commission report fills in the same ib_async `Fill` object and fires
`commissionReportEvent`. The broker keeps executions waiting for their commission by execution
id and checks them on every event and every bar; seen execution ids are never emitted again.
`ibkr_mapping.to_fill` says how an execution becomes a Fill.

`cancel` answers with the order's current (working) status and the reason "cancel requested":
IB confirms cancellations asynchronously and the order may still fill before it does; the
CANCELLED event comes through `drain_events`.
"""
from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ib_async import IB, Contract, Trade
from ib_async import Fill as IBFill

from engine.config import IBKRSettings
from engine.data.bar import Bar
from engine.execution.ibkr_mapping import DONE_STATES, ib_order, last_error, map_ib_status, stock_contract, to_fill
from engine.execution.ibkr_reconcile import (
    BrokerPosition, Reconciliation, cash_from_account_values, reconcile,
)
from engine.execution.orders import Fill, Order, OrderEvent, OrderStatus, order_problem
from engine.portfolio.portfolio import PortfolioSnapshot

log = logging.getLogger(__name__)

_NO_FILLS: tuple[Fill, ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """Connection state for the GUI and metrics."""

    connected: bool
    reason: str
    attempt: int    # reconnect attempt number, 0 for the first connection or a drop
    ts: int         # ns UTC


@dataclass(slots=True)
class _Tracked:
    order: Order
    status: OrderStatus
    filled: float = 0.0          # cumulative, as IB reported it
    executed: float = 0.0        # sum of the execution shares taken so far
    sent: bool = False
    cancel_requested: bool = False
    arrival: float = math.nan    # last bar close when submitted: the slippage reference


class IBKRBroker:
    """A live broker on ib_async. Keeps to the call order in `engine.execution.broker`."""

    def __init__(
        self,
        ib: IB | None = None,
        host: str = "127.0.0.1",
        port: int = 7497,
        client_id: int = 1,
        account: str = "",
        *,
        contract_for: Callable[[str], Contract] = stock_contract,
        tif: str = "DAY",
        connect_timeout: float = 10.0,
        reconnect_initial: float = 1.0,
        reconnect_max: float = 60.0,
        cash_currency: str = "USD",
        cash_tolerance: float = 0.01,
        portfolio: Callable[[], PortfolioSnapshot] | None = None,
        on_connection: Callable[[ConnectionChange], None] | None = None,
        on_reconciliation: Callable[[Reconciliation], None] | None = None,
        clock: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not (isinstance(port, int) and 0 < port < 65536):
            raise ValueError(f"IB port = {port!r}: expected an integer 1..65535")
        if not (isinstance(client_id, int) and client_id >= 0):
            raise ValueError(f"IB client_id = {client_id!r}: expected an integer >= 0")
        if not 0.0 < reconnect_initial <= reconnect_max < math.inf:
            raise ValueError(f"reconnect back-off = ({reconnect_initial!r}, {reconnect_max!r}): "
                             "expected 0 < initial <= max < inf seconds")
        self.ib = ib if ib is not None else IB()
        self.host, self.port, self.client_id, self.account = host, port, client_id, account
        self._contract_for = contract_for
        self._tif = tif
        self._connect_timeout = connect_timeout
        self._backoff = (reconnect_initial, reconnect_max)
        self._cash_currency = cash_currency
        self._cash_tolerance = cash_tolerance
        self._portfolio = portfolio
        self._on_connection = on_connection
        self._on_reconciliation = on_reconciliation
        self._clock = clock
        self._sleep = sleep
        self._tracked: dict[str, _Tracked] = {}      # every order of this broker's life, oldest first
        self._trades: dict[str, Trade] = {}          # order id -> IB's trade in the current session
        self._waiting: dict[str, tuple[str, IBFill]] = {}  # exec id -> (order id, fill) awaiting commission
        self._emitted: set[str] = set()              # exec ids already turned into Fills
        self._fills: list[Fill] = []
        self._events: list[OrderEvent] = []
        self._last_close = math.nan
        self._connected = False
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self.last_reconciliation: Reconciliation | None = None

    @classmethod
    def from_settings(cls, settings: IBKRSettings, ib: IB | None = None, **kwargs: Any) -> "IBKRBroker":
        """A broker for `settings` (`execution.ibkr`); `kwargs` are the keyword-only options."""
        return cls(ib, settings.host, settings.port, settings.client_id, settings.account,
                   connect_timeout=settings.connect_timeout, reconnect_initial=settings.reconnect_initial,
                   reconnect_max=settings.reconnect_max, cash_tolerance=settings.cash_tolerance, **kwargs)

    # --- connection ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected and self.ib.isConnected()

    @property
    def awaiting_commission(self) -> tuple[str, ...]:
        """Execution ids known but not yet turned into Fills because IB sent no commission report."""
        return tuple(self._waiting)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the broker and its IB connection are bound to (set by `start`)."""
        return self._loop

    async def start(self) -> None:
        """Connect on the running loop and reconcile; raises ConnectionError if IB does not answer.

        Later drops are retried with exponential back-off until `close`.
        """
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._closing = False
        ib = self.ib
        ib.orderStatusEvent += self._on_status
        ib.execDetailsEvent += self._on_execution
        ib.commissionReportEvent += self._on_commission
        try:
            await self._connect(attempt=0)
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectionError(
                f"cannot connect to IB at {self.host}:{self.port} with client id {self.client_id}: {exc!r}"
            ) from exc
        # Hooked only now, so a failed first connection does not start reconnecting behind the raise.
        ib.disconnectedEvent += self._on_disconnected

    async def close(self) -> None:
        """Stop reconnecting, unhook from IB's events and disconnect."""
        self._closing = True
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        ib = self.ib
        ib.orderStatusEvent -= self._on_status
        ib.execDetailsEvent -= self._on_execution
        ib.commissionReportEvent -= self._on_commission
        ib.disconnectedEvent -= self._on_disconnected
        ib.disconnect()
        self._set_connected(False, "closed", 0)

    async def _connect(self, attempt: int) -> None:
        await self.ib.connectAsync(self.host, self.port, clientId=self.client_id,
                                   timeout=self._connect_timeout, account=self.account)
        self._set_connected(True, "connected", attempt)
        self._resync()
        if self._portfolio is not None:
            self.last_reconciliation = self.reconcile(self._portfolio())
            if self._on_reconciliation is not None:
                self._on_reconciliation(self.last_reconciliation)

    def _on_disconnected(self) -> None:
        if self._closing:
            return
        self._set_connected(False, "connection lost", 0)
        if self._reconnect_task is None or self._reconnect_task.done():
            assert self._loop is not None
            self._reconnect_task = self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay, longest = self._backoff
        attempt = 0
        while not self._closing:
            attempt += 1
            await self._sleep(delay)
            try:
                await self._connect(attempt)
                return
            except (OSError, asyncio.TimeoutError) as exc:   # ConnectionError is an OSError
                log.warning("IB reconnect attempt %d failed: %r; next in %.1f s", attempt, exc,
                            min(delay * 2.0, longest))
                self._set_connected(False, f"reconnect failed: {exc!r}", attempt)
                delay = min(delay * 2.0, longest)

    def _set_connected(self, connected: bool, reason: str, attempt: int) -> None:
        self._connected = connected
        if self._on_connection is not None:
            self._on_connection(ConnectionChange(connected, reason, attempt, self._clock()))

    # --- Broker protocol -------------------------------------------------------------------

    def submit(self, order: Order) -> OrderEvent:
        self._check_thread("submit")
        problem = order_problem(order)
        if problem is None and order.id in self._tracked:
            problem = f"order id {order.id!r} was already used: expected a unique client order id"
        if problem is not None:
            event = OrderEvent(order.id, OrderStatus.REJECTED, 0.0, 0.0, self._clock(), problem)
        else:
            tracked = _Tracked(order, OrderStatus.NEW, arrival=self._last_close)
            self._tracked[order.id] = tracked
            reason = "" if self._send(tracked) else "not connected to IB: sent on reconnect"
            event = OrderEvent(order.id, OrderStatus.NEW, 0.0, float(order.qty), self._clock(), reason)
        self._events.append(event)
        return event

    def cancel(self, order_id: str) -> OrderEvent:
        self._check_thread("cancel")
        tracked = self._tracked.get(order_id)
        if tracked is None or not tracked.status.is_working:
            why = f"unknown order id {order_id!r}" if tracked is None else \
                f"order {order_id!r} is already {tracked.status.value}"
            return OrderEvent(order_id, OrderStatus.REJECTED, 0.0, 0.0, self._clock(), f"cannot cancel: {why}")
        if not tracked.sent:
            return self._change(tracked, OrderStatus.CANCELLED, tracked.filled, "cancelled before it reached IB")
        if not tracked.cancel_requested:
            tracked.cancel_requested = True
            trade = self._trades.get(order_id)
            if self.connected and trade is not None:
                self.ib.cancelOrder(trade.order)
        qty = float(tracked.order.qty)
        return OrderEvent(order_id, tracked.status, tracked.filled, qty - tracked.filled, self._clock(),
                          "cancel requested; IB confirms asynchronously")

    def cancel_all(self) -> list[OrderEvent]:
        return [self.cancel(t.order.id) for t in list(self._tracked.values()) if t.status.is_working]

    def open_orders(self) -> tuple[Order, ...]:
        return tuple(t.order for t in self._tracked.values() if t.status.is_working)

    def on_bar_open(self, bar: Bar, atr: float) -> tuple[Fill, ...]:
        return self._collect(bar)

    def on_bar_close(self, bar: Bar, atr: float) -> tuple[Fill, ...]:
        return self._collect(bar)

    def drain_events(self) -> list[OrderEvent]:
        events, self._events = self._events, []
        return events

    def reconcile(self, local: PortfolioSnapshot) -> Reconciliation:
        """`local` against IB's current positions and cash (the truth); see `Reconciliation.adopt`."""
        account = self.account or next(iter(self.ib.managedAccounts()), "")
        positions: dict[str, BrokerPosition] = {}
        for p in self.ib.positions(account):
            symbol = p.contract.symbol
            seen = positions.get(symbol)
            qty = p.position + (seen.qty if seen is not None else 0.0)
            positions[symbol] = BrokerPosition(symbol, qty, p.avgCost)
        cash = cash_from_account_values(self.ib.accountValues(account), account, self._cash_currency)
        untracked = tuple(t.order.orderRef or f"permId {t.order.permId}" for t in self.ib.openTrades()
                          if t.order.orderRef not in self._tracked)
        return reconcile(local, positions.values(), cash, ts=self._clock(), account=account,
                         cash_tolerance=self._cash_tolerance, untracked_orders=untracked)

    # --- sending and catching up -----------------------------------------------------------

    def _send(self, tracked: _Tracked) -> bool:
        """Place `tracked` with IB; False if the connection is down (it is sent on reconnect)."""
        if not self.connected:
            return False
        order = tracked.order
        try:
            trade = self.ib.placeOrder(self._contract_for(order.symbol), ib_order(order, self.account, self._tif))
        except ConnectionError as exc:
            log.warning("order %s not sent, connection down (%r); sent on reconnect", order.id, exc)
            return False
        tracked.sent = True
        self._trades[order.id] = trade
        return True

    def _resync(self) -> None:
        """After a (re)connect: adopt IB's view of our orders, pick up missed fills, send the rest."""
        self._trades.clear()
        found: dict[str, Trade] = {}
        for trade in self.ib.trades():
            ref = trade.order.orderRef
            if ref in self._tracked and (ref not in found or found[ref].orderStatus.status in DONE_STATES):
                found[ref] = trade   # an open trade wins over a completed record of the same order
        for fill in self.ib.fills():
            self._take_execution(fill.execution.orderRef, fill)
        for order_id, tracked in list(self._tracked.items()):
            if not tracked.status.is_working:
                continue
            trade = found.get(order_id)
            if trade is not None:
                tracked.sent = True
                self._trades[order_id] = trade
                self._on_status(trade)
                if tracked.cancel_requested and trade.orderStatus.status not in DONE_STATES:
                    self.ib.cancelOrder(trade.order)
            elif tracked.executed > 0.0:
                log.warning("order %s has executions at IB but no order record; left working", order_id)
            elif tracked.cancel_requested:
                self._change(tracked, OrderStatus.CANCELLED, 0.0, "cancelled before it reached IB")
            else:
                tracked.sent = False
                self._send(tracked)
        self._emit_ready()

    # --- IB events -------------------------------------------------------------------------

    def _on_status(self, trade: Trade) -> None:
        tracked = self._tracked.get(trade.order.orderRef)
        if tracked is None or not tracked.status.is_working:
            return
        self._trades[tracked.order.id] = trade
        status = trade.orderStatus
        qty = float(tracked.order.qty)
        # A completed-order record after a reconnect reports no quantities; the executions do.
        filled = max(float(status.filled), tracked.executed, tracked.filled)
        mapped = map_ib_status(status.status, filled, tracked.cancel_requested, last_error(trade))
        if mapped is None:
            return
        new, reason = mapped
        if new is OrderStatus.FILLED:
            filled = qty
        if new is tracked.status and filled == tracked.filled:
            return
        if new is OrderStatus.NEW and tracked.status is not OrderStatus.NEW:
            return   # a late PendingSubmit never takes an acknowledged order back
        self._change(tracked, new, filled, reason)

    def _on_execution(self, trade: Trade, fill: IBFill) -> None:
        self._take_execution(fill.execution.orderRef or trade.order.orderRef, fill)
        self._emit_ready()

    def _on_commission(self, trade: Trade, fill: IBFill, report: object) -> None:
        self._take_execution(fill.execution.orderRef or trade.order.orderRef, fill)
        self._emit_ready()

    def _take_execution(self, order_id: str, fill: IBFill) -> None:
        exec_id = fill.execution.execId
        tracked = self._tracked.get(order_id)
        if tracked is None or exec_id in self._emitted or exec_id in self._waiting:
            return
        tracked.executed += float(fill.execution.shares)
        self._waiting[exec_id] = (order_id, fill)

    def _emit_ready(self) -> None:
        """Turn every waiting execution whose commission report has arrived into a Fill."""
        for exec_id, (order_id, fill) in list(self._waiting.items()):
            if fill.commissionReport.execId != exec_id:
                continue
            del self._waiting[exec_id]
            self._emitted.add(exec_id)
            tracked = self._tracked[order_id]
            self._fills.append(to_fill(tracked.order, tracked.arrival, fill))

    # --- helpers ---------------------------------------------------------------------------

    def _change(self, tracked: _Tracked, status: OrderStatus, filled: float, reason: str) -> OrderEvent:
        tracked.status, tracked.filled = status, filled
        remaining = max(float(tracked.order.qty) - filled, 0.0)
        event = OrderEvent(tracked.order.id, status, filled, remaining, self._clock(), reason)
        self._events.append(event)
        if not status.is_working:
            self._trades.pop(tracked.order.id, None)
        return event

    def _collect(self, bar: Bar) -> tuple[Fill, ...]:
        self._check_thread("on_bar")
        self._last_close = bar.close
        if self._waiting:
            self._emit_ready()
        if not self._fills:
            return _NO_FILLS
        fills, self._fills = tuple(self._fills), []
        return fills

    def _check_thread(self, what: str) -> None:
        if self._thread is not None and threading.get_ident() != self._thread:
            raise RuntimeError(f"IBKRBroker.{what} called on thread {threading.get_ident()}: "
                               f"expected the thread of its event loop ({self._thread})")

