"""Prometheus metrics of one running engine, and the HTTP endpoint that serves them.

`EngineMetrics` keeps its own `CollectorRegistry`, so tests and several engines in one
process never collide in the global one. The engine thread updates it once per bar with
`observe`; the scrape thread only reads (prometheus_client guards every value with a lock).

Cost per bar is a handful of lock-protected float writes: every labelled child is created
once and cached, and the state, regime and weight gauges are written only when they change.

Label values are regime names, trading states, order sides, agent names, risk rule names
and the symbol: all fixed by code or configuration, never reasons, account ids or keys.

Wiring in a live loop (`s` the Settings):
    metrics = EngineMetrics()
    server = MetricsServer(metrics, s.metrics.host, s.metrics.port, allow_remote=s.metrics.allow_remote)
    each bar:  t = perf_counter(); result = engine.step(bar)
               metrics.observe(result, engine, perf_counter() - t, feed_lag_seconds=lag)
               metrics.observe_events(events)   # the list drained from engine.events for everyone
    kill:      metrics.observe_kill(engine, engine.kill(reason)); re-arm, restore: metrics.refresh(engine)
    broker:    metrics.set_broker_connected(change.connected) from the broker's connection callback
"""
from __future__ import annotations

import ipaddress
import math
import socket
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from engine.execution.orders import OrderEvent, OrderStatus, Side
from engine.observability.events import Event
from engine.regime.regime import Regime
from engine.risk.state import TradingState

if TYPE_CHECKING:  # the engine imports observability, never the other way at run time
    from engine.engine import Engine, StepResult

# 10 µs .. 100 ms: a quiet bar takes tens of µs, a GARCH refit ~10 ms, anything past
# 100 ms is a stall worth seeing in the +Inf bucket.
STEP_SECONDS_BUCKETS = (
    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
    1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
)
_RISK_EVENT_TYPES = frozenset({"risk_event", "kill_switch"})
_SUBMITTED = frozenset({OrderStatus.NEW, OrderStatus.ACCEPTED})
_INF = math.inf


class EngineMetrics:
    """Gauges, counters and the step-time histogram of one engine (one symbol)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._equity = Gauge("futbot_equity_dollars", "Account equity marked at the last bar.", registry=r)
        self._cash = Gauge("futbot_cash_dollars", "Cash balance.", registry=r)
        self._drawdown = Gauge("futbot_drawdown_ratio",
                               "Depth below peak equity as a fraction (0.05 = 5 % below the peak).", registry=r)
        self._position = Gauge("futbot_position_shares", "Signed position (negative = short).",
                               ["symbol"], registry=r)
        self._state = Gauge("futbot_trading_state", "Risk manager trading state: 1 for the current one.",
                            ["state"], registry=r)
        self._regime = Gauge("futbot_regime", "Market regime: 1 for the current one.", ["regime"], registry=r)
        self._weight = Gauge("futbot_agent_weight", "Meta-policy weight of an agent in a regime.",
                             ["agent", "regime"], registry=r)
        self._feed_lag = Gauge("futbot_feed_lag_seconds",
                               "Delay between a bar's end and its arrival at the engine.", registry=r)
        self._connected = Gauge("futbot_broker_connected", "1 while the broker connection is up.", registry=r)
        self._orders = Counter("futbot_orders_total", "Orders the engine submitted that the broker did not reject.",
                               ["side"], registry=r)
        self._fills = Counter("futbot_fills_total", "Executions booked by the portfolio.", registry=r)
        self._rejects = Counter("futbot_order_rejects_total", "Orders the broker rejected.", registry=r)
        self._risk_events = Counter("futbot_risk_events_total",
                                    "Risk manager events (state changes, limits hit or released, kill, re-arm).",
                                    ["rule"], registry=r)
        self._trades = Counter("futbot_trades_total", "Closed round trips; a win has net pnl > 0.",
                               ["outcome"], registry=r)
        self._step_seconds = Histogram("futbot_engine_step_seconds", "Wall time of one Engine.step.",
                                       buckets=STEP_SECONDS_BUCKETS, registry=r)

        # Cached children: creating one takes a lock and a dict lookup by label tuple.
        self._orders_by_side = {side: self._orders.labels(side=side.value) for side in Side}
        self._wins = self._trades.labels(outcome="win")
        self._losses = self._trades.labels(outcome="loss")
        self._state_children = {s: self._state.labels(state=s.value) for s in TradingState}
        self._regime_children = {g: self._regime.labels(regime=g.label) for g in Regime}
        self._position_children: dict[str, Gauge] = {}
        self._rule_children: dict[str, Counter] = {}
        self._weight_children: dict[tuple[Regime, str], Gauge] = {}
        self._seen_weights: dict[Regime, dict[str, float]] = {}
        self._seen_state: TradingState | None = None
        self._seen_regime: Regime | None = None
        self._counted_working: frozenset[str] = frozenset()
        self._connected.set(0.0)

    # -- updates from the engine thread -----------------------------------------------------

    def observe(self, result: StepResult, engine: Engine, step_seconds: float,
                feed_lag_seconds: float | None = None) -> None:
        """Count one step's orders, fills and trades and set every gauge from it.

        `feed_lag_seconds` is left as it was when None (a replay has no feed lag).
        """
        if not 0.0 <= step_seconds < _INF:
            raise ValueError(f"observe step_seconds={step_seconds!r}: expected a finite duration >= 0")
        if feed_lag_seconds is not None:
            # A lag may be slightly negative when the exchange clock runs ahead of ours.
            if not -_INF < feed_lag_seconds < _INF:
                raise ValueError(f"observe feed_lag_seconds={feed_lag_seconds!r}: expected a finite number")
            self._feed_lag.set(feed_lag_seconds)
        self._step_seconds.observe(step_seconds)
        if result.orders:
            for order in result.orders:
                self._orders_by_side[order.side].inc()
            # Every order counted so far that may still be working; see observe_kill.
            self._counted_working = frozenset(o.id for o in engine.broker.open_orders())
        if result.fills:
            self._fills.inc(len(result.fills))
        if result.trades:
            for trade in result.trades:
                (self._wins if trade.pnl > 0.0 else self._losses).inc()
        # The risk state is read from the engine: a trade closed at this bar's close may
        # have tripped the circuit breaker after the step's risk check.
        self._set_gauges(engine.symbol, result.position, result.cash, result.equity, result.drawdown,
                         engine.risk.state, result.regime.regime, engine.adaptor.weights)

    def refresh(self, engine: Engine) -> None:
        """Set every gauge from the engine as it is now: after a kill, a re-arm or a restore."""
        p = engine.portfolio
        self._set_gauges(engine.symbol, p.position(engine.symbol), p.cash, p.equity, p.drawdown,
                         engine.risk.state, engine.regime.current, engine.adaptor.weights)

    def observe_events(self, events: Iterable[Event]) -> None:
        """Count risk events and order rejects in events drained from `engine.events`.

        The caller drains once and hands the same list to every reader (GUI, metrics).
        """
        for event in events:
            kind = event.type
            if kind in _RISK_EVENT_TYPES:
                rule = event.payload.get("rule")
                child = self._rule_children.get(rule) if isinstance(rule, str) else None
                if child is None:
                    if not isinstance(rule, str) or not rule:
                        raise ValueError(f"{kind} event payload rule={rule!r}: expected a risk rule name")
                    child = self._rule_children[rule] = self._risk_events.labels(rule=rule)
                child.inc()
            elif kind == "order_rejected":
                self._rejects.inc()

    def observe_kill(self, engine: Engine, answers: Iterable[OrderEvent]) -> None:
        """Count what `engine.kill` did (its flatten order or that order's rejection) and refresh.

        Call it with the answers `engine.kill` returned, before the next step, on metrics that
        observed every step since the engine started or was restored. The flatten order's
        side is read from the broker's working orders. A cancel answer may carry a working
        status (a live broker confirms cancels later), so an order counted by `observe`
        is never counted again. The cancels themselves are not counted (there is no cancel
        counter); the kill's risk event arrives via `observe_events`.
        """
        working = {order.id: order for order in engine.broker.open_orders()}
        for answer in answers:
            # cancel_all answers only for working orders and never REJECTED: a REJECTED
            # answer is the flatten order's.
            if answer.status is OrderStatus.REJECTED:
                self._rejects.inc()
            elif (answer.status in _SUBMITTED and answer.order_id in working
                  and answer.order_id not in self._counted_working):
                self._orders_by_side[working[answer.order_id].side].inc()
                self._counted_working |= {answer.order_id}
        self.refresh(engine)

    def set_broker_connected(self, connected: bool) -> None:
        if not isinstance(connected, bool):
            raise ValueError(f"set_broker_connected connected={connected!r}: expected True or False")
        self._connected.set(1.0 if connected else 0.0)

    def _set_gauges(self, symbol: str, position: float, cash: float, equity: float, drawdown: float,
                    state: TradingState, regime: Regime, weights: Mapping[Regime, Mapping[str, float]]) -> None:
        self._equity.set(equity)
        self._cash.set(cash)
        self._drawdown.set(0.0 - drawdown)  # the portfolio's drawdown is <= 0; alerts read a depth
        child = self._position_children.get(symbol)
        if child is None:
            child = self._position_children[symbol] = self._position.labels(symbol=symbol)
        child.set(position)
        if state is not self._seen_state:
            if self._seen_state is not None:
                self._state_children[self._seen_state].set(0.0)
            self._state_children[state].set(1.0)
            self._seen_state = state
        if regime is not self._seen_regime:
            if self._seen_regime is not None:
                self._regime_children[self._seen_regime].set(0.0)
            self._regime_children[regime].set(1.0)
            self._seen_regime = regime
        seen = self._seen_weights
        for g, per_agent in weights.items():
            if seen.get(g) != per_agent:  # weights move once per adaptation interval at most
                self._set_weights(g, per_agent)

    def _set_weights(self, regime: Regime, per_agent: Mapping[str, float]) -> None:
        for agent, weight in per_agent.items():
            child = self._weight_children.get((regime, agent))
            if child is None:
                child = self._weight_children[(regime, agent)] = self._weight.labels(agent=agent, regime=regime.label)
            child.set(weight)
        self._seen_weights[regime] = dict(per_agent)


class MetricsServer:
    """Serves `metrics.registry` at http://host:port/metrics from a daemon thread.

    Port 0 picks a free port (read `port` after `start`). The endpoint has no
    authentication, so a host that is not loopback is refused unless `allow_remote`.
    """

    def __init__(self, metrics: EngineMetrics, host: str = "127.0.0.1", port: int = 9108,
                 *, allow_remote: bool = False) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65_535:
            raise ValueError(f"metrics port={port!r}: expected an integer 0..65535 (0 = any free port)")
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"metrics host={host!r} is not a loopback address: the endpoint has no "
                             "authentication; use 127.0.0.1 or ::1, or pass allow_remote=True")
        self.metrics = metrics
        self.host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the real one when 0 was asked for)."""
        return self._server.server_port if self._server is not None else self._port

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError(f"metrics server already running on {self.host}:{self.port}")
        try:
            self._server, self._thread = start_http_server(self._port, addr=self.host, registry=self.metrics.registry)
        except OSError as exc:
            raise OSError(exc.errno, f"metrics server cannot listen on {self.host}:{self._port}: "
                                     f"{exc.strerror or exc}") from exc

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the socket and join the thread; a no-op when not running."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback one (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)
