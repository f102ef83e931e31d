"""`futbot live`: a crash-safe trading session, headless or in a terminal.

With `--broker paper` the session trades the embedded synthetic replay through the paper
broker, writing everything under the state directory (the SQLite database and one JSONL
event log per session) so the GUI can open it afterwards. Running the same command again
resumes the session where it stopped, whether it was stopped cleanly or killed. Ctrl-C and
SIGTERM stop after the bar in hand is committed, and the command exits 0.

With `--broker ibkr` the session trades IB's live 1-minute bars through TWS / IB Gateway
(`engine.live.ib_bridge`): it connects, adopts IB's positions and cash as the book (the
differences are printed and logged as a `reconciliation` event) and trades from the next
completed minute. Limitations: the indicators start cold (no historical warm-up), and a
session that has traded cannot be resumed, since resuming re-feeds the bars it traded and IB
does not give them back bar for bar; start a new session instead (the default name is new
on every run) and it takes over the account's positions through the reconciliation.
"""
from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from engine.config import Settings, load_settings, validate
from engine.engine import Engine, StepResult
from engine.live.feeds import ReplayFeed
from engine.live.loop import LiveTradingLoop, LoopSummary
from engine.observability.events import Event, EventLogger, iso
from engine.observability.metrics import EngineMetrics, MetricsServer
from engine.persistence.db import STATE_DIR, Database
from engine.persistence.session_store import SessionStore

if TYPE_CHECKING:
    from ib_async import IB

    from engine.live.ib_bridge import IBBridge

_SESSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("live", help="run a crash-safe trading session (paper broker on the embedded replay)")
    p.add_argument("--broker", choices=("paper", "ibkr"), default="paper", help="paper (default) or ibkr")
    p.add_argument("--symbol", default=None, help="symbol (a synthetic profile: QQQ, SPY, AAPL, MSFT, IWM)")
    p.add_argument("--config", type=Path, help="YAML settings overriding config/settings.yaml")
    p.add_argument("--state-dir", type=Path, default=STATE_DIR,
                   help="where the database and the event logs go (default: the project's state/)")
    p.add_argument("--session", default=None,
                   help="session name; an existing session resumes (default: paper-SYMBOL-DAYSd-sSEED)")
    p.add_argument("--replay-speed", type=replay_speed, default=60.0, metavar="N|max",
                   help="replay at N times real time, or 'max' (default 60: one 1-minute bar a second)")
    p.add_argument("--days", type=int, default=5, help="synthetic trading days to replay (default 5)")
    p.add_argument("--seed", type=int, default=7, help="synthetic seed (default 7)")
    p.add_argument("--headless", action="store_true", help="log lines only, no live status line (for services)")
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                   help="serve Prometheus metrics on 127.0.0.1:PORT (default: metrics.* in the settings)")
    ib = p.add_argument_group("ibkr", "TWS / IB Gateway connection (defaults: execution.ibkr in the settings)")
    ib.add_argument("--host", default=None, help="TWS / Gateway host")
    ib.add_argument("--port", type=int, default=None, help="TWS / Gateway API port")
    ib.add_argument("--client-id", type=int, default=None, help="API client id, unique per connection")
    ib.add_argument("--account", default=None, help="account id ('' = the only managed account)")
    p.set_defaults(run=run)


def replay_speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"replay speed {text!r}: expected a number > 0 or 'max'") from None
    if not 0.0 < speed < float("inf"):
        raise argparse.ArgumentTypeError(f"replay speed {text!r}: expected a number > 0 or 'max'")
    return speed


def run(args: argparse.Namespace) -> int:
    if args.broker == "ibkr":
        return run_ibkr(args)
    if args.days < 1:
        raise ValueError(f"--days {args.days}: expected at least 1 trading day")
    settings = _settings(args)
    symbol = settings.data.symbol
    name = args.session or f"paper-{symbol}-{args.days}d-s{args.seed}"
    if not _SESSION_NAME.fullmatch(name):
        raise ValueError(f"--session {name!r}: expected letters, digits, '.', '_' or '-' (at most 100)")

    from engine.data.synthetic import generate_bars

    series = generate_bars(symbol, days=args.days, seed=args.seed)
    state_dir: Path = args.state_dir
    events = EventLogger(state_dir / "events" / f"{name}.jsonl", keep=1_000)
    db = Database(state_dir / "futbot.sqlite")
    console = Console(headless=args.headless)
    engine = Engine(settings, events=events)
    server = _metrics_server(settings, args.metrics_port)
    on_step, on_events = _observers(console, server, engine, lambda: loop)
    loop = LiveTradingLoop(
        engine, ReplayFeed(series, args.replay_speed), SessionStore(db), name,
        broker="paper", feed_name=f"synthetic {symbol} days={args.days} seed={args.seed}",
        on_step=on_step, on_events=on_events,
    )
    try:
        summary = _serve(loop, server, console, events)
    finally:
        db.close()
    print(summary_line(summary), flush=True)
    return 0


def _serve(loop: LiveTradingLoop, server: MetricsServer | None, console: Console,
           events: EventLogger) -> LoopSummary:
    """Run the loop until it ends or a signal stops it, with the metrics endpoint up meanwhile."""
    try:
        if server is not None:
            server.start()
            print(f"metrics on http://{server.host}:{server.port}/metrics", flush=True)
        return run_until_signalled(loop)
    finally:
        if server is not None:
            server.stop()
        console.close()
        events.close()


def _observers(console: Console, server: MetricsServer | None, engine: Engine,
               loop: Callable[[], LiveTradingLoop]) -> tuple[Callable[[StepResult], None], Callable[[list[Event]], None]]:
    """The loop's hooks: the console, and the metrics when served (`loop` gives the loop, made later)."""
    if server is None:
        return console.step, console.events
    metrics = server.metrics

    def on_step(r: StepResult) -> None:
        console.step(r)
        running = loop()
        metrics.observe(r, engine, running.last_step_seconds, running.last_feed_lag_seconds)

    def on_events(batch: list[Event]) -> None:
        console.events(batch)
        metrics.observe_events(batch)

    return on_step, on_events


def _metrics_server(settings: Settings, port: int | None) -> MetricsServer | None:
    m = settings.metrics
    if port is None and not m.enabled:
        return None
    return MetricsServer(EngineMetrics(), m.host, m.port if port is None else port, allow_remote=m.allow_remote)


def _settings(args: argparse.Namespace, ibkr: dict[str, object] | None = None) -> Settings:
    """The settings with the command's overrides; `ibkr` values that are None keep the settings'."""
    base = load_settings(args.config).to_dict()
    if args.symbol:
        base["data"]["symbol"] = args.symbol
    for key, value in (ibkr or {}).items():
        if value is not None:
            base["execution"]["ibkr"][key] = value
    return validate(base)


def run_ibkr(args: argparse.Namespace) -> int:
    """`futbot live --broker ibkr`: the live loop on IB's bars and orders through an `IBBridge`."""
    from engine.execution.ibkr import ConnectionChange, IBKRBroker
    from engine.live.ib_bridge import IBBridge

    settings = _settings(args, ibkr={"host": args.host, "port": args.port, "client_id": args.client_id,
                                     "account": args.account})
    symbol = settings.data.symbol
    name = args.session or f"ibkr-{symbol}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    if not _SESSION_NAME.fullmatch(name):
        raise ValueError(f"--session {name!r}: expected letters, digits, '.', '_' or '-' (at most 100)")
    state_dir: Path = args.state_dir
    db = Database(state_dir / "futbot.sqlite")
    try:
        store = SessionStore(db)
        _refuse_ibkr_resume(store, name)
        ibkr = settings.execution.ibkr

        def make_broker(on_connection: Callable[[ConnectionChange], None]) -> IBKRBroker:
            return IBKRBroker.from_settings(ibkr, ib=new_ib(), on_connection=on_connection)

        def connection(change: ConnectionChange) -> None:
            print(f"{iso(change.ts)} IB {'connected' if change.connected else 'disconnected'}: {change.reason}",
                  flush=True)

        bridge = IBBridge(make_broker, symbol, start_timeout=ibkr.connect_timeout + 5.0, on_connection=connection)
        try:
            bridge.start()
            return _trade_ibkr(args, settings, name, store, bridge)
        finally:
            bridge.close()
    finally:
        db.close()


def new_ib() -> IB:
    """The IB connection object (tests put a fake TWS behind it here)."""
    from ib_async import IB

    return IB()


def _refuse_ibkr_resume(store: SessionStore, name: str) -> None:
    info = store.find_session(name)
    saved = None if info is None else store.checkpoint(info.id)
    if saved is not None and saved.step >= 0:
        raise ValueError(f"--session {name!r} has traded {saved.step + 1} bars: an IBKR session cannot be resumed "
                         "(IB does not re-feed its bars); start a new session, which adopts IB's positions")


def _trade_ibkr(args: argparse.Namespace, settings: Settings, name: str, store: SessionStore,
                bridge: IBBridge) -> int:
    from engine.live.ib_bridge import StartReconciler, describe_reconciliation

    symbol = settings.data.symbol
    events = EventLogger(args.state_dir / "events" / f"{name}.jsonl", keep=1_000)
    console = Console(headless=args.headless)
    engine = Engine(settings, broker=bridge.broker, events=events)
    server = _metrics_server(settings, args.metrics_port)
    on_step, on_events = _observers(console, server, engine, lambda: loop)
    hook = StartReconciler(engine, bridge.broker, lambda: loop.stop(), then=on_events,
                           report=lambda rec: print(describe_reconciliation(rec), flush=True),
                           connection_changes=lambda: bridge.connection_changes)

    def step_hook(r: StepResult) -> None:
        on_step(r)
        hook.after_step(r)

    ibkr = settings.execution.ibkr
    loop = LiveTradingLoop(engine, bridge.feed, store, name, broker="ibkr",
                           feed_name=f"IB real-time bars {symbol} via {ibkr.host}:{ibkr.port}",
                           on_step=step_hook, on_events=hook)
    summary = _serve(loop, server, console, events)
    if hook.error is not None:
        print(f"futbot live: error: reconciliation with IB failed, nothing traded: {hook.error}", file=sys.stderr)
        return 1
    print(summary_line(summary), flush=True)
    return 0


def run_until_signalled(loop: LiveTradingLoop) -> LoopSummary:
    """Run the loop in a worker thread; SIGINT/SIGTERM on the main thread ask it to stop.

    The main thread only waits, so a signal handler never interrupts the loop halfway
    through a step or a commit.
    """
    outcome: list[LoopSummary | BaseException] = []

    def work() -> None:
        try:
            outcome.append(loop.run())
        except BaseException as exc:  # handed to the main thread, which re-raises it
            outcome.append(exc)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        loop.stop()

    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    worker = threading.Thread(target=work, name="futbot-live", daemon=True)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def summary_line(s: LoopSummary) -> str:
    how = "stopped on request" if s.stopped else "feed finished"
    resumed = "new session" if s.resumed_from is None else f"resumed after bar {s.resumed_from + 1} ({s.warmed} re-fed)"
    return (f"session {s.session}: {how}; {resumed}; {s.steps:,} bars traded, {s.last_index + 1:,} in all; "
            f"equity {s.equity:,.2f}")


class Console:
    """Log lines for the session events and daily summaries; a status line when not headless."""

    def __init__(self, headless: bool) -> None:
        self.status = not headless and sys.stderr.isatty()
        self._shown = 0.0

    def events(self, events: list[Event]) -> None:
        for e in events:
            line = describe(e)
            if line is not None:
                self._clear()
                print(line, flush=True)

    def step(self, r: StepResult) -> None:
        now = time.monotonic()
        if not self.status or now - self._shown < 0.25:
            return
        self._shown = now
        sys.stderr.write(f"\r{iso(r.ts)}  {r.regime.regime.label:<14} {r.trading_state.value:<8} "
                         f"pos {r.position:+8,.0f}  equity {r.equity:,.2f}  dd {r.drawdown:+.2%}   ")
        sys.stderr.flush()

    def _clear(self) -> None:
        if self.status and self._shown:
            sys.stderr.write("\r" + " " * 100 + "\r")

    def close(self) -> None:
        self._clear()


def describe(e: Event) -> str | None:
    """One readable line for the events an operator follows; None for the rest."""
    p = e.payload
    if e.type == "session":
        return f"{iso(e.ts)} session {p['session']}: {p['what']} at bar {p['step'] + 1}"
    if e.type == "pre_market":
        failed = f"; FAILED: {', '.join(p['failed'])}" if p["failed"] else ""
        return f"{p['day']} pre-market: {p['passed']}/{p['passed'] + len(p['failed'])} checks passed{failed}"
    if e.type == "daily_summary":
        shares = ", ".join(f"{k} {v:.0%}" for k, v in p["regime_shares"].items() if v)
        return (f"{p['day']} EOD: pnl {p['pnl']:+,.2f} ({p['return']:+.2%}), {p['trades']} trades ({p['wins']} won), "
                f"{p['fills']} fills, {p['trading_state']}; regimes: {shares or '-'}")
    if e.type in ("kill_switch", "rearm", "engine_error"):
        return f"{iso(e.ts)} {e.type}: {p}"
    return None
