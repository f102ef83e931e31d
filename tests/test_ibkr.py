"""IBKRBroker and the IB bar feed, against ib_async's real IB wired to a scripted TWS (tests/fake_ib.py).

The arithmetic they rely on is tested on its own: tests/test_ibkr_reconcile.py, tests/test_ibkr_bars.py.

Nothing here talks to a real TWS: the order flow, reconnect and loop behaviour are verified
against ib_async's own wrapper and events fed by the fake, not against Interactive Brokers.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

import pytest

from engine.data.bar import Bar, ns_since_epoch
from engine.execution.ibkr import ConnectionChange, IBKRBroker
from engine.execution.ibkr_mapping import map_ib_status
from engine.execution.ibkr_feed import IBBarFeed
from engine.execution.ibkr_reconcile import Reconciliation
from engine.execution.orders import Fill, Order, OrderStatus, OrderType, Side
from engine.portfolio.portfolio import Portfolio
from fake_ib import FakeIB, settle

ACCOUNT = "DU123"
T0 = datetime(2024, 3, 4, 14, 30, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def no_listener_errors(caplog: pytest.LogCaptureFixture):
    """eventkit swallows exceptions raised in event listeners and only logs them: fail on any."""
    caplog.set_level(logging.ERROR, logger="eventkit")
    yield
    crashes = [r for r in caplog.records if r.name.startswith("eventkit")]
    assert not crashes, [r.getMessage() for r in crashes]


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


def make_broker(ib: FakeIB, **kwargs: object) -> IBKRBroker:
    kwargs.setdefault("sleep", no_wait)
    kwargs.setdefault("reconnect_initial", 0.5)
    kwargs.setdefault("reconnect_max", 4.0)
    return IBKRBroker(ib, account=ACCOUNT, **kwargs)  # type: ignore[arg-type]


async def started_broker() -> tuple[FakeIB, IBKRBroker]:
    """A broker connected to a fresh fake TWS."""
    ib = FakeIB()
    broker = make_broker(ib)
    await broker.start()
    return ib, broker


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def buy(order_id: str, qty: float = 100.0, **kw: object) -> Order:
    return Order(order_id, "QQQ", Side.BUY, qty, agent="trend", regime="trend", **kw)  # type: ignore[arg-type]


def sell(order_id: str, qty: float = 100.0) -> Order:
    return Order(order_id, "QQQ", Side.SELL, qty, agent="mr", regime="mean_reversion")


def bar(minute: int, close: float) -> Bar:
    return Bar.at("QQQ", T0 + timedelta(minutes=minute), close, close, close, close, 1_000.0)


def statuses(events: list) -> list[tuple[OrderStatus, float, float]]:
    return [(e.status, e.filled_qty, e.remaining) for e in events]


async def until_connected(broker: IBKRBroker, rounds: int = 200) -> None:
    for _ in range(rounds):
        if broker.connected:
            await settle()
            return
        await asyncio.sleep(0)
    raise AssertionError("broker did not reconnect")


# --- status mapping ---------------------------------------------------------------------------

@pytest.mark.parametrize("ib_status, filled, cancel_requested, error, expected", [
    ("PendingSubmit", 0.0, False, None, (OrderStatus.NEW, "")),
    ("ApiPending", 0.0, False, None, (OrderStatus.NEW, "")),
    ("PreSubmitted", 0.0, False, None, (OrderStatus.ACCEPTED, "")),
    ("Submitted", 0.0, False, None, (OrderStatus.ACCEPTED, "")),
    ("Submitted", 5.0, False, None, (OrderStatus.PARTIALLY_FILLED, "")),
    ("Filled", 10.0, False, None, (OrderStatus.FILLED, "")),
    ("Cancelled", 0.0, True, None, (OrderStatus.CANCELLED, "cancelled by request")),
    ("ApiCancelled", 0.0, True, (202, "Order Canceled"), (OrderStatus.CANCELLED, "cancelled by request")),
    ("Cancelled", 0.0, False, (201, "Error 201: rejected"), (OrderStatus.REJECTED, "Error 201: rejected")),
    ("Cancelled", 3.0, False, (201, "Error 201: rejected"), (OrderStatus.CANCELLED, "Error 201: rejected")),
    ("Cancelled", 0.0, False, (202, "Order Canceled"), (OrderStatus.CANCELLED, "Order Canceled")),
    ("Cancelled", 0.0, False, None, (OrderStatus.CANCELLED, "cancelled by IB or TWS")),
    ("Inactive", 0.0, False, (10349, "Error 10349: TIF"), (OrderStatus.REJECTED, "Error 10349: TIF")),
    ("PendingCancel", 0.0, True, None, None),
    ("ValidationError", 0.0, False, (110, "Warning 110"), None),
])
def test_ib_statuses_map_to_ours(ib_status, filled, cancel_requested, error, expected):
    assert map_ib_status(ib_status, filled, cancel_requested, error) == expected


def test_inactive_without_an_error_still_explains_itself():
    status, reason = map_ib_status("Inactive", 0.0, False, None)  # type: ignore[misc]
    assert status is OrderStatus.REJECTED and "Inactive" in reason


# --- orders and fills ---------------------------------------------------------------------------

def test_submit_and_full_fill_with_commission():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.on_bar_close(bar(0, 400.0), 1.0)           # the arrival price: last close before submit
        answer = broker.submit(buy("o1", 100.0))
        assert (answer.status, answer.remaining) == (OrderStatus.NEW, 100.0)
        await settle()
        assert ib.tws.placed[0].orderRef == "o1" and ib.tws.placed[0].action == "BUY"
        assert ib.tws.placed[0].account == ACCOUNT and ib.tws.placed[0].orderType == "MKT"
        when = T0 + timedelta(minutes=1, seconds=2)
        ib.tws.fill("o1", 400.25, commission=0.35, when=when)
        await settle()
        fills = broker.on_bar_open(bar(1, 401.0), 1.0)
        assert fills == (Fill("o1", "QQQ", Side.BUY, 100.0, 400.25, 0.35, 0.25 * 100.0, ns_since_epoch(when),
                              "trend", "trend"),)
        assert statuses(broker.drain_events()) == [
            (OrderStatus.NEW, 0.0, 100.0), (OrderStatus.ACCEPTED, 0.0, 100.0), (OrderStatus.FILLED, 100.0, 0.0)]
        assert broker.open_orders() == ()
        assert broker.on_bar_close(bar(1, 401.0), 1.0) == ()   # handed out once
        await broker.close()
    run(scenario)


def test_limit_order_goes_to_ib_as_a_limit_order():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(Order("l1", "QQQ", Side.SELL, 5.0, OrderType.LIMIT, 410.5))
        await settle()
        sent = ib.tws.placed[0]
        assert (sent.orderType, sent.lmtPrice, sent.action, sent.totalQuantity) == ("LMT", 410.5, "SELL", 5.0)
        await broker.close()
    run(scenario)


def test_partial_fills_report_cumulative_quantity():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(buy("o1", 100.0))
        await settle()
        ib.tws.fill("o1", 10.0, qty=30.0, commission=0.3)
        await settle()
        first = broker.on_bar_open(bar(1, 10.0), 0.1)
        ib.tws.fill("o1", 10.2, qty=50.0, commission=0.5)
        ib.tws.fill("o1", 10.1, qty=20.0, commission=0.2)
        await settle()
        rest = broker.on_bar_open(bar(2, 10.0), 0.1)
        assert [(f.qty, f.price, f.commission) for f in first + rest] == [
            (30.0, 10.0, 0.3), (50.0, 10.2, 0.5), (20.0, 10.1, 0.2)]
        assert statuses(broker.drain_events())[1:] == [
            (OrderStatus.ACCEPTED, 0.0, 100.0), (OrderStatus.PARTIALLY_FILLED, 30.0, 70.0),
            (OrderStatus.PARTIALLY_FILLED, 80.0, 20.0), (OrderStatus.FILLED, 100.0, 0.0)]
        await broker.close()
    run(scenario)


def test_a_fill_waits_for_its_commission_report_and_is_emitted_once():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(buy("o1", 10.0))
        await settle()
        ib.tws.hold_commissions = True
        ib.tws.fill("o1", 50.0, commission=1.25)
        await settle()
        assert broker.on_bar_open(bar(1, 50.0), 0.1) == ()
        assert len(broker.awaiting_commission) == 1
        ib.tws.release_commissions()
        await settle()
        fills = broker.on_bar_close(bar(1, 50.0), 0.1) + broker.on_bar_open(bar(2, 50.0), 0.1)
        assert [(f.qty, f.commission) for f in fills] == [(10.0, 1.25)]
        assert broker.awaiting_commission == ()
        await broker.close()
    run(scenario)


def test_reject_carries_ibs_reason():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(buy("o1"))
        await settle()
        ib.tws.reject("o1", "Order rejected - reason:Insufficient buying power")
        await settle()
        last = broker.drain_events()[-1]
        assert last.status is OrderStatus.REJECTED
        assert "201" in last.reason and "Insufficient buying power" in last.reason
        assert broker.open_orders() == ()
        await broker.close()
    run(scenario)


def test_inactive_order_is_rejected_with_ibs_message():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(buy("o1"))
        await settle()
        ib.tws.reject("o1", "Order held: no trading permissions", code=10197, final_status="Inactive")
        await settle()
        last = broker.drain_events()[-1]
        assert (last.status, last.filled_qty) == (OrderStatus.REJECTED, 0.0)
        assert "no trading permissions" in last.reason
        await broker.close()
    run(scenario)


def test_bad_and_duplicate_orders_are_rejected_without_reaching_ib():
    async def scenario() -> None:
        ib, broker = await started_broker()
        assert broker.submit(buy("o1")).status is OrderStatus.NEW
        duplicate = broker.submit(buy("o1"))
        bad = broker.submit(buy("o2", qty=-5.0))
        await settle()
        assert duplicate.status is OrderStatus.REJECTED and "already used" in duplicate.reason
        assert bad.status is OrderStatus.REJECTED and "qty = -5.0" in bad.reason
        assert [o.orderRef for o in ib.tws.placed] == ["o1"]
        await broker.close()
    run(scenario)


def test_cancel_is_confirmed_by_ib_asynchronously():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(buy("o1"))
        await settle()
        broker.drain_events()
        answer = broker.cancel("o1")
        assert answer.status is OrderStatus.ACCEPTED and "cancel requested" in answer.reason
        assert [o.id for o in broker.open_orders()] == ["o1"]             # still working until IB confirms
        assert broker.cancel("o1").status is OrderStatus.ACCEPTED   # asked once, answered again
        await settle()
        assert len(ib.tws.cancel_requests) == 1
        assert statuses(broker.drain_events()) == [(OrderStatus.CANCELLED, 0.0, 100.0)]
        assert broker.open_orders() == ()
        again = broker.cancel("o1")
        assert again.status is OrderStatus.REJECTED and "already cancelled" in again.reason
        unknown = broker.cancel("nope")
        assert unknown.status is OrderStatus.REJECTED and "unknown order id 'nope'" in unknown.reason
        await broker.close()
    run(scenario)


def test_cancel_all_after_a_partial_fill_keeps_the_filled_quantity():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(buy("o1", 100.0))
        broker.submit(sell("o2", 10.0))
        await settle()
        ib.tws.fill("o1", 10.0, qty=40.0)
        await settle()
        assert [a.order_id for a in broker.cancel_all()] == ["o1", "o2"]
        await settle()
        done = [e for e in broker.drain_events() if e.status is OrderStatus.CANCELLED]
        assert statuses(done) == [(OrderStatus.CANCELLED, 40.0, 60.0), (OrderStatus.CANCELLED, 0.0, 10.0)]
        await broker.close()
    run(scenario)


@pytest.mark.parametrize("error_first, reason", [(False, "cancelled by IB or TWS"), (True, "Order Canceled")])
def test_cancel_by_tws_user_is_a_cancel_not_a_reject(error_first, reason):
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(buy("o1"))
        await settle()
        ib.tws.cancel_at_broker("o1", error_first=error_first)
        await settle()
        last = broker.drain_events()[-1]
        assert last.status is OrderStatus.CANCELLED and reason in last.reason
        await broker.close()
    run(scenario)


def test_slippage_is_the_adverse_move_from_the_last_close_and_never_negative():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.on_bar_close(bar(0, 100.0), 1.0)
        broker.submit(sell("s1", 10.0))
        broker.submit(buy("b1", 10.0))
        await settle()
        ib.tws.fill("s1", 99.5)      # sold 0.5 lower: adverse
        ib.tws.fill("b1", 99.0)      # bought 1.0 lower: an improvement, not negative slippage
        await settle()
        fills = {f.order_id: f for f in broker.on_bar_open(bar(1, 100.0), 1.0)}
        assert fills["s1"].slippage == pytest.approx(5.0) and fills["b1"].slippage == 0.0
        await broker.close()
    run(scenario)


def test_a_commission_rebate_is_folded_into_the_price_so_cash_stays_exact():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(sell("s1", 100.0))
        await settle()
        ib.tws.fill("s1", 20.0, commission=-0.5)
        await settle()
        (fill,) = broker.on_bar_open(bar(1, 20.0), 0.1)
        assert fill.commission == 0.0
        assert fill.qty * fill.price - fill.commission == pytest.approx(100 * 20.0 + 0.5)
        await broker.close()
    run(scenario)


def test_local_portfolio_fed_by_the_fills_agrees_with_ib_afterwards():
    async def scenario() -> None:
        ib = FakeIB()
        ib.tws.set_cash(ACCOUNT, 50_000.0)
        portfolio = Portfolio(50_000.0)
        broker = make_broker(ib)
        await broker.start()
        broker.submit(buy("o1", 100.0))
        await settle()
        ib.tws.fill("o1", 250.0, qty=60.0, commission=0.6)
        ib.tws.fill("o1", 251.0, commission=0.4)
        await settle()
        broker.submit(sell("o2", 30.0))
        await settle()
        ib.tws.fill("o2", 255.0, commission=0.3)
        await settle()
        for fill in broker.on_bar_open(bar(1, 255.0), 1.0):
            portfolio.apply_fill(fill)
        # by hand: 50,000 - 60*250 - 0.6 - 40*251 - 0.4 + 30*255 - 0.3
        assert portfolio.cash == pytest.approx(50_000 - 15_000 - 0.6 - 10_040 - 0.4 + 7_650 - 0.3)
        check = broker.reconcile(portfolio.snapshot())
        assert check.matches, check
        await broker.close()
    run(scenario)


# --- connection, reconnect, de-duplication ----------------------------------------------------

def test_broker_from_settings_uses_the_ibkr_section():
    from engine.config import IBKRSettings
    settings = IBKRSettings(host="10.0.0.5", port=4002, client_id=9, account="DU9", reconnect_initial=2.0,
                            reconnect_max=30.0)
    broker = IBKRBroker.from_settings(settings, FakeIB())
    assert (broker.host, broker.port, broker.client_id, broker.account) == ("10.0.0.5", 4002, 9, "DU9")
    assert broker._backoff == (2.0, 30.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"port": 0}, "IB port = 0"), ({"client_id": -1}, "IB client_id = -1"),
    ({"reconnect_initial": 5.0, "reconnect_max": 1.0}, "expected 0 < initial <= max"),
])
def test_bad_connection_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IBKRBroker(FakeIB(), **kwargs)  # type: ignore[arg-type]


def test_first_connection_failure_raises_and_does_not_keep_trying():
    async def scenario() -> None:
        ib = FakeIB()
        ib.tws.go_down()
        broker = make_broker(ib, port=4002, client_id=7)
        with pytest.raises(ConnectionError, match="127.0.0.1:4002 with client id 7"):
            await broker.start()
        await settle()
        assert not broker.connected and broker._reconnect_task is None
    run(scenario)


def test_reconnect_backs_off_exponentially_and_reports_the_state():
    async def scenario() -> None:
        ib = FakeIB()
        delays: list[float] = []
        changes: list[ConnectionChange] = []

        async def sleep(seconds: float) -> None:
            delays.append(seconds)
            if len(delays) == 6:
                ib.tws.come_up()
            await asyncio.sleep(0)

        broker = make_broker(ib, sleep=sleep, on_connection=changes.append)
        await broker.start()
        ib.tws.go_down()
        await until_connected(broker)
        assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
        assert [(c.connected, c.attempt) for c in changes] == [
            (True, 0), (False, 0), (False, 1), (False, 2), (False, 3), (False, 4), (False, 5), (True, 6)]
        assert "connection lost" in changes[1].reason and "reconnect failed" in changes[2].reason
        await broker.close()
        assert changes[-1].connected is False and not broker.connected
    run(scenario)


def test_disconnect_mid_order_reconnect_does_not_duplicate_and_picks_up_the_fill_once():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(buy("o1", 100.0))
        await settle()
        ib.tws.drop()
        await asyncio.sleep(0)
        ib.tws.come_up()
        ib.tws.fill("o1", 99.0, commission=0.5)            # filled while we were away: nobody hears it
        queued = broker.submit(buy("o2", 5.0))             # submitted while away: queued
        assert queued.status is OrderStatus.NEW and "sent on reconnect" in queued.reason
        await until_connected(broker)
        assert [o.orderRef for o in ib.tws.placed] == ["o1", "o2"]    # o1 never sent twice
        fills = broker.on_bar_open(bar(5, 99.0), 1.0)
        assert [(f.order_id, f.qty, f.price, f.commission) for f in fills] == [("o1", 100.0, 99.0, 0.5)]
        events = broker.drain_events()
        assert (OrderStatus.FILLED, 100.0, 0.0) in statuses([e for e in events if e.order_id == "o1"])
        assert [o.id for o in broker.open_orders()] == ["o2"]
        # Another drop: IB reports the same execution again; it is not a new fill.
        ib.tws.drop()
        await until_connected(broker)
        assert broker.on_bar_open(bar(6, 99.0), 1.0) == ()
        assert [o.orderRef for o in ib.tws.placed] == ["o1", "o2"]
        await broker.close()
    run(scenario)


def test_a_working_order_survives_a_reconnect_and_stays_controllable():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(buy("o1", 100.0))
        await settle()
        ib.tws.fill("o1", 10.0, qty=25.0)
        await settle()
        assert len(broker.on_bar_open(bar(1, 10.0), 0.1)) == 1
        ib.tws.drop()
        await until_connected(broker)
        assert len(ib.tws.placed) == 1 and [o.id for o in broker.open_orders()] == ["o1"]
        assert broker.on_bar_open(bar(2, 10.0), 0.1) == ()          # the old partial is not repeated
        ib.tws.fill("o1", 10.5, qty=25.0)
        await settle()
        assert [f.qty for f in broker.on_bar_open(bar(3, 10.0), 0.1)] == [25.0]
        broker.cancel("o1")                                           # through the new session's trade
        await settle()
        assert statuses(broker.drain_events())[-1] == (OrderStatus.CANCELLED, 50.0, 50.0)
        await broker.close()
    run(scenario)


def test_an_order_ib_never_received_is_sent_again_once_on_reconnect():
    async def scenario() -> None:
        ib, broker = await started_broker()
        ib.tws.lose_next_order = True
        broker.submit(buy("o1"))
        await settle()
        assert ib.tws.placed == []
        ib.tws.drop()
        await until_connected(broker)
        assert [o.orderRef for o in ib.tws.placed] == ["o1"]
        ib.tws.drop()
        await until_connected(broker)
        assert [o.orderRef for o in ib.tws.placed] == ["o1"]
        await broker.close()
    run(scenario)


def test_cancel_while_disconnected_is_sent_after_reconnect():
    async def scenario() -> None:
        ib, broker = await started_broker()
        broker.submit(buy("o1"))
        await settle()
        ib.tws.go_down()
        assert broker.cancel("o1").reason.startswith("cancel requested")
        queued = broker.submit(buy("o2"))
        cancelled = broker.cancel("o2")                 # never left this process: cancelled at once
        assert queued.status is OrderStatus.NEW and cancelled.status is OrderStatus.CANCELLED
        ib.tws.come_up()
        await until_connected(broker)
        assert [o.orderRef for o in ib.tws.placed] == ["o1"]
        assert statuses([e for e in broker.drain_events() if e.order_id == "o1"])[-1][0] is OrderStatus.CANCELLED
        assert broker.open_orders() == ()
        await broker.close()
    run(scenario)


def test_broker_methods_refuse_other_threads():
    async def scenario() -> None:
        broker = make_broker(FakeIB())
        await broker.start()
        errors: list[BaseException] = []

        def elsewhere() -> None:
            try:
                broker.submit(buy("o1"))
            except RuntimeError as exc:
                errors.append(exc)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert len(errors) == 1 and "expected the thread of its event loop" in str(errors[0])
        await broker.close()
    run(scenario)


# --- reconciliation ----------------------------------------------------------------------------

def test_broker_reconciles_on_start_and_after_every_reconnect():
    async def scenario() -> None:
        ib = FakeIB()
        ib.tws.set_cash(ACCOUNT, 20_000.0)
        ib.tws.set_position(ACCOUNT, "QQQ", 15.0, 390.0)
        book = Portfolio(20_000.0)
        seen: list[Reconciliation] = []
        broker = make_broker(ib, portfolio=book.snapshot, on_reconciliation=seen.append)
        await broker.start()
        first = seen[-1]
        assert broker.last_reconciliation is first
        assert [(d.symbol, d.local_qty, d.broker_qty, d.broker_avg_cost) for d in first.positions] == [
            ("QQQ", 0.0, 15.0, 390.0)]
        assert first.cash_matches and not first.matches
        book.restore(first.adopt(book.snapshot()))
        ib.tws.set_cash(ACCOUNT, 19_000.0)           # changed at IB while we are disconnected
        ib.tws.drop()
        await until_connected(broker)
        assert len(seen) == 2
        assert seen[1].positions == () and seen[1].cash_difference == pytest.approx(-1_000.0)
        await broker.close()
    run(scenario)


def test_reconciliation_flags_open_orders_no_local_order_matches():
    async def scenario() -> None:
        ib = FakeIB()
        other = make_broker(ib)
        await other.start()
        other.submit(buy("left-by-a-crash"))
        await settle()
        await other.close()
        broker = make_broker(ib)
        await broker.start()
        check = broker.reconcile(Portfolio(1.0).snapshot())
        assert check.untracked_orders == ("left-by-a-crash",) and not check.matches
        await broker.close()
    run(scenario)


# --- bars ---------------------------------------------------------------------------------------

S = 1_000_000_000
M0 = ns_since_epoch(T0)


def test_feed_yields_minutes_from_ib_and_resubscribes_after_a_reconnect():
    async def scenario() -> None:
        ib, broker = await started_broker()
        feed = IBBarFeed(ib, "QQQ")
        stream = feed.bars().__aiter__()
        got: list[Bar] = []
        reader = asyncio.ensure_future(stream.__anext__())
        await settle()
        for i in range(12):
            ib.tws.push_bar("QQQ", T0 + timedelta(seconds=5 * i), 10.0 + i, 11.0 + i, 9.0 + i, 10.5 + i, 1.0)
        await settle()
        got.append(await reader)
        ib.tws.drop()
        await until_connected(broker)
        assert len(ib.tws.bar_subscriptions) == 1                  # subscribed again
        reader = asyncio.ensure_future(stream.__anext__())
        for i in range(12):
            ib.tws.push_bar("QQQ", T0 + timedelta(minutes=1, seconds=5 * i), 20.0, 21.0, 19.0, 20.5, 2.0)
        await settle()
        got.append(await reader)
        await stream.aclose()
        assert ib.tws.bar_subscriptions == {}
        assert got == [Bar("QQQ", M0, 10.0, 22.0, 9.0, 21.5, 12.0),
                       Bar("QQQ", M0 + 60 * S, 20.0, 21.0, 19.0, 20.5, 24.0)]
        await broker.close()
    run(scenario)


# --- the engine on the live broker ---------------------------------------------------------------

def test_engine_on_ibkr_makes_the_paper_brokers_trades_when_ib_fills_at_the_next_open():
    """One path: the same Engine over the same bars, paper broker vs IB (the fake fills at the next open)."""
    from engine.config import load_settings, validate
    from engine.data.synthetic import generate_bars
    from engine.engine import Engine
    from engine.execution.paper import PaperBroker

    data = load_settings().to_dict()
    data["agents"] = {"enabled": ["sma_cross"], "params": {"sma_cross": {"fast": 3, "slow": 10}}}
    data["adaptation"]["enabled"] = False
    data["execution"].update(fill="next_open", slippage_bps=0.0, slippage_atr=0.0,
                             commission_per_share=0.0, commission_bps=0.0)
    settings = validate(data)
    series = generate_bars("QQQ", days=2, seed=5)
    bars = list(series)
    paper = Engine(settings, symbol="QQQ", broker=PaperBroker(settings.execution))
    expected = [paper.step(b) for b in bars]

    async def live() -> list:
        ib, broker = await started_broker()
        engine = Engine(settings, symbol="QQQ", broker=broker)
        results = []
        for i, b in enumerate(bars):
            results.append(engine.step(b))
            await settle()
            if i + 1 < len(bars):
                nxt = bars[i + 1]
                for order in broker.open_orders():
                    ib.tws.fill(order.id, nxt.open, commission=0.0, when=nxt.time)
                await settle()
        await broker.close()
        return results

    got = asyncio.run(live())
    assert [r.position for r in got] == [r.position for r in expected]
    assert [r.cash for r in got] == pytest.approx([r.cash for r in expected], rel=1e-12)
    def trades(results: list) -> list[tuple]:
        return [(t.entry_ts, t.entry_price, t.exit_ts, t.exit_price, t.qty) for r in results for t in r.trades]

    assert trades(got) == trades(expected) and len(trades(expected)) > 5


# --- the engine thread's own loop ---------------------------------------------------------------

def test_ib_runs_on_the_engine_threads_own_loop_never_the_main_one(monkeypatch):
    main_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(main_loop)                 # the GUI thread's loop, as qasync would set it
    policy = asyncio.get_event_loop_policy()
    real_get = policy.get_event_loop
    lookups: list[tuple[int, asyncio.AbstractEventLoop]] = []

    def spying_get_event_loop() -> asyncio.AbstractEventLoop:
        loop = real_get()
        lookups.append((threading.get_ident(), loop))
        return loop

    monkeypatch.setattr(policy, "get_event_loop", spying_get_event_loop)
    ib = FakeIB()
    result: dict[str, object] = {}

    async def engine_session() -> None:
        changes: list[ConnectionChange] = []
        broker = make_broker(ib, on_connection=changes.append)
        await broker.start()
        broker.submit(buy("o1"))
        await settle()
        ib.tws.fill("o1", 10.0)
        await settle()
        result["fills"] = broker.on_bar_open(bar(1, 10.0), 0.1)
        stream = IBBarFeed(ib, "QQQ").bars().__aiter__()
        reader = asyncio.ensure_future(stream.__anext__())
        await settle()
        for i in range(12):
            ib.tws.push_bar("QQQ", T0 + timedelta(seconds=5 * i), 10.0, 10.0, 10.0, 10.0, 1.0)
        result["bar"] = await reader
        await stream.aclose()
        ib.tws.drop()
        await until_connected(broker)
        result["reconnect_loop"] = broker._reconnect_task.get_loop()  # type: ignore[union-attr]
        result["broker_loop"] = broker.loop
        await broker.close()

    def engine_thread() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        result["thread"], result["loop"] = threading.get_ident(), loop
        try:
            loop.run_until_complete(engine_session())
        except BaseException as exc:  # surfaced in the main thread below
            result["error"] = exc
        finally:
            loop.close()

    worker = threading.Thread(target=engine_thread)
    worker.start()
    worker.join(timeout=20)
    worker_lookups = list(lookups)
    asyncio.get_event_loop_policy().get_event_loop()   # control: the spy does see a lookup
    control = lookups[len(worker_lookups):]
    main_loop.close()
    asyncio.set_event_loop(None)
    assert "error" not in result, result.get("error")
    loop, thread = result["loop"], result["thread"]
    assert len(result["fills"]) == 1  # type: ignore[arg-type]
    assert result["bar"] == Bar("QQQ", ns_since_epoch(T0), 10.0, 10.0, 10.0, 10.0, 12.0)
    assert result["broker_loop"] is loop and result["reconnect_loop"] is loop
    requests = ib.tws.requests
    assert {r.name for r in requests} >= {"placeOrder", "reqPositions", "reqOpenOrders", "reqExecutions",
                                          "reqRealTimeBars", "cancelRealTimeBars"}
    assert all(r.thread == thread and r.loop is loop for r in requests)
    future_loops = [f for r in requests for f in r.future_loops]
    assert future_loops and all(f is loop for f in future_loops)   # ib_async's request futures
    # No fallback loop lookup happened anywhere: ib_async and eventkit always found the running loop.
    assert worker_lookups == []
    assert control == [(threading.get_ident(), main_loop)]
