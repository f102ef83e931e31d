"""A scripted TWS behind ib_async's real `IB`.

`FakeIB` is `ib_async.IB` itself: its real `Wrapper` keeps the session state (trades keyed by
client/order id and permId, fills de-duplicated by execution id, positions, account values),
fires the real events (`orderStatusEvent`, `execDetailsEvent`, `commissionReportEvent`,
`errorEvent`, `connectedEvent`, `disconnectedEvent`, `Trade.*Event`) and runs its real
`connectAsync` start-up sequence. Only the socket `Client` is replaced: `FakeClient` hands each
request to `FakeTWS`, which answers by calling the wrapper's callbacks (what ib_async's decoder
would call for the wire messages), scheduled with `call_soon` on the running loop as a socket
read would be. A dropped connection goes through the real `Connection.connection_lost` path, so
ib_async forgets the session exactly as it does live.

TWS's side (orders, executions, positions, cash) survives drops and reconnects. Tests drive it
with `fill`, `reject`, `cancel_at_broker`, `drop`, `go_down`/`come_up`, `push_bar`,
`set_position`, `set_cash`; `placed` records every order TWS received, to count duplicates.
Every request records the thread and the running loop it was made on (there must be one), and
the loop of each ib_async request future then pending.
"""
from __future__ import annotations

import asyncio
import copy
import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ib_async import IB, CommissionReport, Contract, Execution, Order, OrderState
from ib_async.client import Client

QTY_EPS = 1e-9


@dataclass
class ServerOrder:
    client_id: int
    order_id: int
    perm_id: int
    contract: Contract
    order: Order
    account: str
    status: str = "Submitted"
    filled: float = 0.0
    avg_price: float = 0.0

    @property
    def remaining(self) -> float:
        return max(float(self.order.totalQuantity) - self.filled, 0.0)

    @property
    def done(self) -> bool:
        return self.status in ("Filled", "Cancelled", "ApiCancelled", "Inactive")


@dataclass
class ServerExecution:
    contract: Contract
    execution: Execution
    report: CommissionReport
    reported: bool = False       # commission report delivered (live or on request)


@dataclass
class RequestSeen:
    name: str
    thread: int
    loop: asyncio.AbstractEventLoop
    future_loops: list[asyncio.AbstractEventLoop] = field(default_factory=list)


class FakeTWS:
    def __init__(self, accounts: tuple[str, ...] = ("DU123",), server_version: int = 176) -> None:
        self.accounts = accounts
        self.server_version = server_version
        self.up = True
        self.client: FakeClient | None = None
        self.orders: list[ServerOrder] = []
        self.executions: list[ServerExecution] = []
        self.positions: dict[tuple[str, str], list[Any]] = {}   # (account, symbol) -> [contract, qty, avg]
        self.cash: dict[str, float] = {a: 0.0 for a in accounts}
        self.placed: list[Order] = []
        self.cancel_requests: list[int] = []
        self.bar_subscriptions: dict[int, Contract] = {}
        self.requests: list[RequestSeen] = []
        self.hold_commissions = False
        self.lose_next_order = False     # the next order is written to the socket but never arrives
        self._perm_ids = itertools.count(9001)
        self._exec_ids = itertools.count(1)
        self._con_ids: dict[str, int] = {}

    # --- connection ------------------------------------------------------------------------

    def attach(self, client: FakeClient) -> None:
        if not self.up:
            raise ConnectionRefusedError(111, "Connect call failed (fake TWS is down)")
        self.client = client

    def detach(self, client: FakeClient) -> None:
        if self.client is client:
            self.client = None
            self.bar_subscriptions.clear()

    def drop(self) -> None:
        """The socket goes away under ib_async (TWS restart, network loss)."""
        client = self.client
        assert client is not None, "drop() needs a connected client"
        self.detach(client)
        client.conn.connection_lost(None)

    def go_down(self) -> None:
        """Refuse new connections (and drop the current one)."""
        self.up = False
        if self.client is not None:
            self.drop()

    def come_up(self) -> None:
        self.up = True

    def next_valid_id(self) -> int:
        return max((o.order_id for o in self.orders), default=0) + 1

    # --- scripting -------------------------------------------------------------------------

    def order(self, ref: str) -> ServerOrder:
        """The latest order TWS holds with orderRef `ref`."""
        for o in reversed(self.orders):
            if o.order.orderRef == ref:
                return o
        raise KeyError(f"fake TWS has no order with orderRef {ref!r}")

    def fill(self, ref: str, price: float, qty: float | None = None, commission: float = 1.0,
             when: datetime | None = None) -> Execution:
        o = self.order(ref)
        assert not o.done, f"order {ref!r} is {o.status}"
        qty = o.remaining if qty is None else qty
        assert 0.0 < qty <= o.remaining + QTY_EPS
        o.avg_price = (o.avg_price * o.filled + price * qty) / (o.filled + qty)
        o.filled += qty
        o.status = "Filled" if o.remaining <= QTY_EPS else "Submitted"
        buy = o.order.action == "BUY"
        exec_id = f"0000e1a7.{next(self._exec_ids):08d}.01.01"
        execution = Execution(
            execId=exec_id, time=when or datetime.now(timezone.utc), acctNumber=o.account, exchange="ISLAND",
            side="BOT" if buy else "SLD", shares=qty, price=price, permId=o.perm_id, clientId=o.client_id,
            orderId=o.order_id, cumQty=o.filled, avgPrice=o.avg_price, orderRef=ref,
        )
        report = CommissionReport(execId=exec_id, commission=commission, currency="USD")
        record = ServerExecution(o.contract, execution, report)
        self.executions.append(record)
        self._book(o.account, o.contract, qty if buy else -qty, price, commission)
        calls: list[tuple[str, tuple[Any, ...]]] = [
            ("execDetails", (-1, copy.copy(o.contract), copy.copy(execution))),
            ("orderStatus", self._status_args(o)),
        ]
        if not self.hold_commissions:
            record.reported = True
            calls.append(("commissionReport", (copy.copy(report),)))
        calls += self._account_stream(o.account, o.contract.symbol)
        self._deliver(calls)
        return execution

    def release_commissions(self) -> None:
        """Send the commission reports held back by `hold_commissions`."""
        calls = []
        for record in self.executions:
            if not record.reported:
                record.reported = True
                calls.append(("commissionReport", (copy.copy(record.report),)))
        self._deliver(calls)

    def reject(self, ref: str, reason: str = "Order rejected - reason:Insufficient buying power",
               code: int = 201, final_status: str = "Cancelled") -> None:
        o = self.order(ref)
        o.status = final_status
        self._deliver([("error", (o.order_id, code, reason, "")), ("orderStatus", self._status_args(o))])

    def cancel_at_broker(self, ref: str, error_first: bool = False) -> None:
        """Cancel at TWS: the Cancelled status and error 202 ("Order Canceled"), in either order."""
        o = self.order(ref)
        o.status = "Cancelled"
        calls = [("orderStatus", self._status_args(o)), ("error", (o.order_id, 202, "Order Canceled - reason:", ""))]
        self._deliver(calls[::-1] if error_first else calls)

    def set_position(self, account: str, symbol: str, qty: float, avg_cost: float) -> None:
        self.positions[(account, symbol)] = [self._contract(symbol), qty, avg_cost]

    def set_cash(self, account: str, amount: float) -> None:
        self.cash[account] = amount

    def push_bar(self, symbol: str, start: datetime, o: float, h: float, low: float, c: float,
                 volume: float) -> None:
        calls = [("realtimeBar", (req_id, int(start.timestamp()), o, h, low, c, volume, (h + low) / 2, 1))
                 for req_id, contract in self.bar_subscriptions.items() if contract.symbol == symbol]
        self._deliver(calls)

    # --- requests from FakeClient ----------------------------------------------------------

    def seen(self, name: str, client: FakeClient) -> None:
        futures = client.wrapper._futures.values()
        self.requests.append(RequestSeen(name, threading.get_ident(), asyncio.get_running_loop(),
                                         [f.get_loop() for f in futures]))

    def place(self, client: FakeClient, order_id: int, contract: Contract, order: Order) -> None:
        if self.lose_next_order:
            self.lose_next_order = False
            return
        self.placed.append(copy.copy(order))
        contract = copy.copy(contract)
        contract.conId = self._contract(contract.symbol).conId
        order = copy.copy(order)
        order.orderId = order_id          # on the wire the id is its own field; ib_async sets it after sending
        order.permId = next(self._perm_ids)
        order.clientId = client.clientId
        account = order.account or self.accounts[0]
        o = ServerOrder(client.clientId, order_id, order.permId, contract, order, account)
        self.orders.append(o)
        self._deliver([("openOrder", (order_id, copy.copy(contract), copy.copy(order), OrderState(status=o.status))),
                       ("orderStatus", self._status_args(o))])

    def cancel(self, client: FakeClient, order_id: int) -> None:
        self.cancel_requests.append(order_id)
        for o in self.orders:
            if o.client_id == client.clientId and o.order_id == order_id and not o.done:
                self.cancel_at_broker(o.order.orderRef)

    def open_orders(self, client_id: int | None) -> None:
        calls: list[tuple[str, tuple[Any, ...]]] = []
        for o in self.orders:
            if not o.done and (client_id is None or o.client_id == client_id):
                calls.append(("openOrder", (o.order_id, copy.copy(o.contract), copy.copy(o.order),
                                            OrderState(status=o.status))))
                calls.append(("orderStatus", self._status_args(o)))
        calls.append(("openOrderEnd", ()))
        self._deliver(calls)

    def completed_orders(self) -> None:
        calls: list[tuple[str, tuple[Any, ...]]] = []
        for o in self.orders:
            if o.done:
                order = copy.copy(o.order)
                order.filledQuantity = o.filled
                calls.append(("completedOrder", (copy.copy(o.contract), order, OrderState(status=o.status))))
        calls.append(("completedOrdersEnd", ()))
        self._deliver(calls)

    def executions_for(self, req_id: int, client_id: int) -> None:
        mine = [e for e in self.executions if e.execution.clientId == client_id]
        calls: list[tuple[str, tuple[Any, ...]]] = [
            ("execDetails", (req_id, copy.copy(e.contract), copy.copy(e.execution))) for e in mine]
        calls.append(("execDetailsEnd", (req_id,)))
        for e in mine:
            if e.reported or not self.hold_commissions:
                e.reported = True
                calls.append(("commissionReport", (copy.copy(e.report),)))
        self._deliver(calls)

    def positions_for(self) -> None:
        calls: list[tuple[str, tuple[Any, ...]]] = [
            ("position", (account, copy.copy(contract), qty, avg))
            for (account, _), (contract, qty, avg) in self.positions.items()]
        calls.append(("positionEnd", ()))
        self._deliver(calls)

    def account_updates(self, account: str) -> None:
        cash = str(self.cash.get(account, 0.0))
        self._deliver([("updateAccountValue", ("TotalCashValue", cash, "USD", account)),
                       ("updateAccountValue", ("TotalCashValue", cash, "BASE", account)),
                       ("accountDownloadEnd", (account,))])

    def account_updates_multi(self, req_id: int, account: str) -> None:
        cash = str(self.cash.get(account, 0.0))
        self._deliver([("accountUpdateMulti", (req_id, account, "", "TotalCashValue", cash, "USD")),
                       ("accountUpdateMultiEnd", (req_id,))])

    # --- internals -------------------------------------------------------------------------

    def _contract(self, symbol: str) -> Contract:
        con_id = self._con_ids.setdefault(symbol, 100 + len(self._con_ids))
        return Contract(secType="STK", conId=con_id, symbol=symbol, exchange="SMART", currency="USD")

    def _book(self, account: str, contract: Contract, signed_qty: float, price: float, commission: float) -> None:
        self.cash[account] = self.cash.get(account, 0.0) - signed_qty * price - commission
        contract_, qty, avg = self.positions.get((account, contract.symbol), [self._contract(contract.symbol), 0.0, 0.0])
        new_qty = qty + signed_qty
        if abs(new_qty) <= QTY_EPS:
            self.positions.pop((account, contract.symbol), None)
            return
        if qty == 0.0 or (qty > 0) == (signed_qty > 0):   # opening or adding: cost includes commission
            avg = (avg * abs(qty) + price * abs(signed_qty) + commission) / abs(new_qty)
        elif (new_qty > 0) != (qty > 0):                   # flipped through zero
            avg = price
        self.positions[(account, contract.symbol)] = [contract_, new_qty, avg]

    def _account_stream(self, account: str, symbol: str) -> list[tuple[str, tuple[Any, ...]]]:
        """The position and cash updates TWS streams to a client subscribed at start-up."""
        contract, qty, avg = self.positions.get((account, symbol), [self._contract(symbol), 0.0, 0.0])
        cash = str(self.cash[account])
        return [("position", (account, copy.copy(contract), qty, avg)),
                ("updateAccountValue", ("TotalCashValue", cash, "USD", account)),
                ("updateAccountValue", ("TotalCashValue", cash, "BASE", account))]

    def _status_args(self, o: ServerOrder) -> tuple[Any, ...]:
        return (o.order_id, o.status, o.filled, o.remaining, o.avg_price, o.perm_id, 0,
                o.avg_price, o.client_id, "", 0.0)

    def _deliver(self, calls: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Answer the connected client on its loop, as bytes arriving on its socket would."""
        client = self.client
        if client is None or not calls:
            return
        asyncio.get_running_loop().call_soon(self._dispatch, client, calls)

    def _dispatch(self, client: FakeClient, calls: list[tuple[str, tuple[Any, ...]]]) -> None:
        if self.client is not client:
            return   # the connection went away before the data arrived
        wrapper = client.wrapper
        wrapper.tcpDataArrived()
        for name, args in calls:
            getattr(wrapper, name)(*args)
        wrapper.tcpDataProcessed()


class FakeClient(Client):
    """ib_async's Client with the socket replaced by `FakeTWS`."""

    def __init__(self, wrapper: Any, tws: FakeTWS) -> None:
        super().__init__(wrapper)
        self.tws = tws

    async def connectAsync(self, host: str, port: int, clientId: int, timeout: float | None = 2.0) -> None:
        self.host, self.port, self.clientId = host, int(port), int(clientId)
        self.connState = Client.CONNECTING
        await asyncio.sleep(0)   # the TCP connect
        try:
            self.tws.attach(self)
        except ConnectionRefusedError as exc:
            self.disconnect()
            self.apiError.emit(f"API connection failed: {exc!r}")
            raise
        self._serverVersion = self.decoder.serverVersion = self.tws.server_version
        self.connState = Client.CONNECTED
        self.wrapper.connectAck()
        self._accounts = list(self.tws.accounts)
        self.wrapper.managedAccounts(",".join(self.tws.accounts))
        self.updateReqId(self.tws.next_valid_id())
        self.wrapper.nextValidId(self._reqIdSeq)
        self._hasReqId = self._apiReady = True
        self.apiStart.emit()

    def disconnect(self) -> None:
        self.tws.detach(self)
        super().disconnect()

    def send(self, *fields: Any, makeEmpty: bool = True) -> None:
        raise NotImplementedError(f"fake TWS does not model request {fields[:2]!r}")

    def _request(self, name: str) -> FakeTWS:
        if not self.isConnected():
            raise ConnectionError("Not connected")
        self.tws.seen(name, self)
        return self.tws

    def placeOrder(self, orderId: int, contract: Contract, order: Order) -> None:
        self._request("placeOrder").place(self, orderId, contract, order)

    def cancelOrder(self, orderId: int, manualCancelOrderTime: str = "") -> None:
        self._request("cancelOrder").cancel(self, orderId)

    def reqPositions(self) -> None:
        self._request("reqPositions").positions_for()

    def reqOpenOrders(self) -> None:
        self._request("reqOpenOrders").open_orders(self.clientId)

    def reqAllOpenOrders(self) -> None:
        self._request("reqAllOpenOrders").open_orders(None)

    def reqCompletedOrders(self, apiOnly: bool) -> None:
        self._request("reqCompletedOrders").completed_orders()

    def reqAccountUpdates(self, subscribe: bool, acctCode: str) -> None:
        self._request("reqAccountUpdates").account_updates(acctCode)

    def reqAccountUpdatesMulti(self, reqId: int, account: str, modelCode: str, ledgerAndNLV: bool) -> None:
        self._request("reqAccountUpdatesMulti").account_updates_multi(reqId, account)

    def reqExecutions(self, reqId: int, execFilter: Any) -> None:
        self._request("reqExecutions").executions_for(reqId, self.clientId)

    def reqRealTimeBars(self, reqId: int, contract: Contract, barSize: int, whatToShow: str, useRTH: bool,
                        realTimeBarsOptions: Any) -> None:
        self._request("reqRealTimeBars").bar_subscriptions[reqId] = contract

    def cancelRealTimeBars(self, reqId: int) -> None:
        self._request("cancelRealTimeBars").bar_subscriptions.pop(reqId, None)

    def reqAutoOpenOrders(self, bAutoBind: bool) -> None:
        self._request("reqAutoOpenOrders")


class FakeIB(IB):
    """ib_async's IB, wired to a FakeTWS instead of a socket."""

    def __init__(self, tws: FakeTWS | None = None) -> None:
        super().__init__()
        self.tws = tws or FakeTWS()
        self.client = FakeClient(self.wrapper, self.tws)
        self.client.apiEnd += self.disconnectedEvent


async def settle(rounds: int = 5) -> None:
    """Let the scheduled TWS answers and their event handlers run."""
    for _ in range(rounds):
        await asyncio.sleep(0)
