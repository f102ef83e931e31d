"""`futbot live --broker ibkr`: LiveTradingLoop through the IB bridge, against the fake TWS (tests/fake_ib.py).

Everything here is verified against ib_async's real `IB` fed by a scripted TWS in-process, never
against Interactive Brokers: the fake fills what the test tells it to, at the test's prices.

The sessions run lock-step: the test pushes one synthetic minute to the fake (a single 5-second
bar starting at :55 completes it), waits until the loop has committed that step, then fills every
order the fake holds at the next minute's open, as a market order would fill.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from app.commands import live as live_command
from app.main import main
from engine.config import load_settings
from engine.data.bar import Bar
from engine.data.synthetic import generate_bars
from engine.engine import Engine, StepResult
from engine.execution.ibkr import ConnectionChange, IBKRBroker
from engine.live.ib_bridge import BridgeTimeout, IBBridge, StartReconciler, describe_reconciliation
from engine.live.loop import LiveTradingLoop, LoopSummary
from engine.observability.events import EventLogger, read_events
from engine.persistence.db import Database
from engine.persistence.session_store import SessionStore
from fake_ib import FakeIB, FakeTWS

ACCOUNT = "DU123"
CASH = 96_000.0
HELD = 10.0          # QQQ shares the account already holds, at AVG_COST
AVG_COST = 400.0
WAIT = 5.0


@pytest.fixture(autouse=True)
def no_listener_errors(caplog: pytest.LogCaptureFixture):
    """eventkit swallows exceptions raised in event listeners and only logs them: fail on any."""
    caplog.set_level(logging.ERROR, logger="eventkit")
    yield
    crashes = [r for r in caplog.records if r.name.startswith("eventkit")]
    assert not crashes, [r.getMessage() for r in crashes]


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


def funded_tws() -> FakeTWS:
    tws = FakeTWS()
    tws.set_cash(ACCOUNT, CASH)
    tws.set_position(ACCOUNT, "QQQ", HELD, AVG_COST)
    return tws


def make_bridge(tws: FakeTWS, **kw: Any) -> IBBridge:
    def make_broker(on_connection: Callable[[ConnectionChange], None]) -> IBKRBroker:
        return IBKRBroker(FakeIB(tws), account=ACCOUNT, sleep=no_wait, reconnect_initial=0.5, reconnect_max=4.0,
                          on_connection=on_connection)
    kw.setdefault("call_timeout", WAIT)
    return IBBridge(make_broker, "QQQ", **kw)


def wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def push_minute(bridge: IBBridge, tws: FakeTWS, bar: Bar) -> None:
    start = datetime.fromtimestamp(bar.ts / 1e9, timezone.utc) + timedelta(seconds=55)
    bridge.call(tws.push_bar, "QQQ", start, bar.open, bar.high, bar.low, bar.close, bar.volume)


def open_refs(tws: FakeTWS) -> list[str]:
    return [o.order.orderRef for o in tws.orders if not o.done]


class Session:
    """A LiveTradingLoop on the bridge, its own database and event log, run on an engine thread."""

    def __init__(self, tmp_path: Path, bridge: IBBridge, name: str = "ib") -> None:
        self.bridge = bridge
        self.db = Database(tmp_path / "futbot.sqlite")
        self.store = SessionStore(self.db)
        self.log = tmp_path / "events" / f"{name}.jsonl"
        self.engine = Engine(load_settings(), broker=bridge.broker, events=EventLogger(self.log))
        self.steps: list[StepResult] = []
        self.reconciler = StartReconciler(self.engine, bridge.broker, lambda: self.loop.stop(),
                                          connection_changes=lambda: bridge.connection_changes)

        def on_step(result: StepResult) -> None:
            self.reconciler.after_step(result)
            self.steps.append(result)

        self.loop = LiveTradingLoop(self.engine, bridge.feed, self.store, name, broker="ibkr", feed_name="fake",
                                    on_step=on_step, on_events=self.reconciler)
        self.engine_thread_id = 0
        self.outcome: list[LoopSummary | BaseException] = []
        self.thread = threading.Thread(target=self._run, name="engine")

    def _run(self) -> None:
        self.engine_thread_id = threading.get_ident()
        try:
            self.outcome.append(self.loop.run())
        except BaseException as exc:
            self.outcome.append(exc)

    def start(self) -> None:
        self.thread.start()
        wait_for("the session start", lambda: self.reconciler.last is not None or self.reconciler.error is not None)

    def trade(self, tws: FakeTWS, bars: list[Bar], before_fill: Callable[[int], None] = lambda i: None) -> None:
        """Lock-step: each bar becomes a step, then the fake fills the working orders at the next open."""
        for i, bar in enumerate(bars):
            push_minute(self.bridge, tws, bar)
            wait_for(f"step {i}", lambda: len(self.steps) > i)
            if i + 1 < len(bars):
                before_fill(i)
                for ref in open_refs(tws):
                    self.bridge.call(tws.fill, ref, bars[i + 1].open)

    def finish(self) -> LoopSummary:
        self.loop.stop()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        self.engine.events.close()
        self.db.close()
        result = self.outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def events(self, what: str) -> list[dict[str, Any]]:
        return [e for e in read_events(self.log) if e["type"] == "session" and e["payload"]["what"] == what]


def first_bars(n: int) -> list[Bar]:
    return list(generate_bars("QQQ", days=1, seed=7))[:n]


def sid(store: SessionStore, name: str = "ib") -> int:
    info = store.find_session(name)
    assert info is not None
    return info.id


def test_a_session_through_the_bridge_trades_with_the_fake_and_commits_every_fill(tmp_path: Path) -> None:
    tws = funded_tws()
    bridge = make_bridge(tws)
    bridge.start()
    session = Session(tmp_path, bridge)
    try:
        session.start()
        bars = first_bars(40)
        session.trade(tws, bars)
        store = session.store
        orders = store.orders(sid(store))
        fills = store.fills(sid(store))
        engine = session.engine
        position, cash = engine.portfolio.position("QQQ"), engine.portfolio.cash
        summary = session.finish()
    finally:
        bridge.close()

    assert summary.steps == 40 and summary.last_index == 39 and summary.stopped
    assert [s.index for s in session.steps] == list(range(40))
    # Orders reached the fake carrying our ids, each once, and each was stored.
    refs = [o.orderRef for o in tws.placed]
    assert len(refs) >= 4 and len(set(refs)) == len(refs)
    assert set(refs) == {o.id for o in orders}
    # Every execution came back as exactly one committed fill, at the fake's price.
    executions = [(e.execution.orderRef, e.execution.shares, e.execution.price, e.report.commission)
                  for e in tws.executions]
    assert [(f.fill.order_id, f.fill.qty, f.fill.price, f.fill.commission) for f in fills] == executions
    # The book started from IB's and follows IB's: position and cash agree with the account.
    held = tws.positions.get((ACCOUNT, "QQQ"))
    assert position == (0.0 if held is None else held[1])
    assert cash == pytest.approx(tws.cash[ACCOUNT], abs=1e-6)
    # The reconciliation at start reported the account's shares and adopted them.
    (rec,) = session.events("reconciliation")
    assert rec["payload"]["positions"] == [{"symbol": "QQQ", "local": 0.0, "broker": HELD}]
    assert rec["payload"]["adopted_equity"] == pytest.approx(CASH + HELD * AVG_COST)
    # Every request reached the fake on the bridge's thread, never the engine's.
    assert {r.thread for r in tws.requests} == {bridge.thread.ident}
    assert session.engine_thread_id not in {r.thread for r in tws.requests}


def test_a_disconnect_mid_session_reconnects_and_sends_no_order_twice(tmp_path: Path) -> None:
    tws = funded_tws()
    bridge = make_bridge(tws)
    bridge.start()
    session = Session(tmp_path, bridge)
    dropped: list[str] = []

    def drop_once(i: int) -> None:
        refs = open_refs(tws)
        if dropped or not refs:
            return
        dropped.extend(refs)   # TWS keeps the working order through the drop
        bridge.call(tws.drop)
        wait_for("the reconnect", lambda: bridge.connected and bool(bridge.call(lambda: dict(tws.bar_subscriptions))))

    try:
        session.start()
        session.trade(tws, first_bars(30), before_fill=drop_once)
        store = session.store
        fills = store.fills(sid(store))
        session.finish()
    finally:
        bridge.close()

    assert dropped, "no order was working at any step: the drop never happened"
    refs = [o.orderRef for o in tws.placed]
    assert len(set(refs)) == len(refs) and dropped[0] in refs
    assert [(f.fill.order_id, f.fill.qty) for f in fills] == \
        [(e.execution.orderRef, e.execution.shares) for e in tws.executions]
    assert [(c.connected, c.reason) for c in bridge.connection_changes][:3] == \
        [(True, "connected"), (False, "connection lost"), (True, "connected")]
    # Positions and cash were compared again after the reconnect, not only at the start.
    assert session.reconciler.reconciliations == 2
    assert len(session.events("reconciliation")) == 2


def test_shutdown_joins_the_ib_thread_closes_its_loop_and_disconnects(tmp_path: Path) -> None:
    tws = funded_tws()
    bridge = make_bridge(tws)
    bridge.start()
    session = Session(tmp_path, bridge)
    session.start()
    session.trade(tws, first_bars(3))
    session.finish()
    bridge.close()
    assert bridge.thread is not None and not bridge.thread.is_alive()
    assert bridge.loop is not None and bridge.loop.is_closed()
    assert tws.client is None
    assert not [t for t in threading.enumerate() if t.name == "futbot-ib"]
    with pytest.raises(RuntimeError, match="not running"):
        bridge.broker.open_orders()
    bridge.close()   # a second close is harmless


def test_start_fails_clearly_when_tws_refuses_and_leaves_no_thread() -> None:
    tws = FakeTWS()
    tws.go_down()
    bridge = make_bridge(tws)
    with pytest.raises(ConnectionError, match="cannot connect to IB at 127.0.0.1:7497"):
        bridge.start()
    assert bridge.thread is not None and not bridge.thread.is_alive()
    assert bridge.loop is not None and bridge.loop.is_closed()


def test_a_call_the_ib_thread_does_not_answer_in_time_names_itself() -> None:
    bridge = make_bridge(funded_tws())
    bridge.start()
    try:
        with pytest.raises(BridgeTimeout, match=r"sleep got no answer from the IB thread within 0.05 s"):
            bridge.call(time.sleep, 0.3, timeout=0.05)
        assert bridge.call(lambda: 7) == 7   # the bridge still answers afterwards
    finally:
        bridge.close()


def test_reconciliation_failure_stops_the_session_before_any_bar(tmp_path: Path) -> None:
    tws = FakeTWS()   # an empty account: nothing to trade with
    bridge = make_bridge(tws)
    bridge.start()
    session = Session(tmp_path, bridge)
    try:
        session.thread.start()
        session.thread.join(WAIT)
        summary = session.finish()
    finally:
        bridge.close()
    assert isinstance(session.reconciler.error, ValueError)
    assert "expected a positive amount to trade with" in str(session.reconciler.error)
    assert summary.stopped and summary.steps == 0 and tws.placed == []


def test_describe_reconciliation_names_each_difference() -> None:
    tws = funded_tws()
    bridge = make_bridge(tws)
    bridge.start()
    try:
        engine = Engine(load_settings(), broker=bridge.broker)
        rec = bridge.broker.reconcile(engine.portfolio.snapshot())
    finally:
        bridge.close()
    assert describe_reconciliation(rec) == (
        "IB account DU123: adopted IB's book; differences: QQQ local +0 vs IB +10; cash local 100,000.00 vs IB 96,000.00")


# -- the command ----------------------------------------------------------------------------

def test_futbot_live_ibkr_trades_through_the_fake_and_refuses_to_resume(tmp_path: Path, monkeypatch, capsys) -> None:
    tws = funded_tws()
    monkeypatch.setattr(live_command, "new_ib", lambda: FakeIB(tws))
    loops: list[LiveTradingLoop] = []
    real = live_command.run_until_signalled

    def run_and_capture(loop: LiveTradingLoop) -> LoopSummary:
        loops.append(loop)
        return real(loop)

    monkeypatch.setattr(live_command, "run_until_signalled", run_and_capture)
    argv = ["live", "--broker", "ibkr", "--state-dir", str(tmp_path), "--session", "t1", "--headless",
            "--port", "4002", "--client-id", "3", "--account", ACCOUNT]
    codes: list[int] = []
    worker = threading.Thread(target=lambda: codes.append(main(argv)))
    worker.start()
    wait_for("the loop", lambda: bool(loops) and loops[0].engine.index == -1 and tws.client is not None
             and bool(tws.bar_subscriptions))
    loop = loops[0]
    bars = first_bars(3)
    for i, bar in enumerate(bars):
        start = datetime.fromtimestamp(bar.ts / 1e9, timezone.utc) + timedelta(seconds=55)
        client = tws.client
        assert client is not None
        loop_of_ib = tws.requests[-1].loop
        asyncio.run_coroutine_threadsafe(_push(tws, start, bar), loop_of_ib).result(WAIT)
        wait_for(f"step {i}", lambda: loop.engine.index == i)
    loop.stop()
    worker.join(WAIT)
    assert codes == [0]
    out = capsys.readouterr().out
    assert "IB account DU123: adopted IB's book; differences: QQQ local +0 vs IB +10" in out
    assert "session t1: stopped on request; new session; 3 bars traded" in out
    assert tws.client is None and (client.port, client.clientId) == (4002, 3)

    assert main(argv) == 2
    assert "--session 't1' has traded 3 bars: an IBKR session cannot be resumed" in capsys.readouterr().err


async def _push(tws: FakeTWS, start: datetime, bar: Bar) -> None:
    tws.push_bar("QQQ", start, bar.open, bar.high, bar.low, bar.close, bar.volume)
