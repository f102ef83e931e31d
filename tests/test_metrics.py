"""Prometheus metrics: scraped over HTTP after a synthetic session, they equal the engine's own numbers."""
from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from engine.config import load_settings
from engine.data.synthetic import generate_bars
from engine.engine import Engine, StepResult
from engine.execution.orders import Order, OrderEvent, OrderStatus, Side
from engine.execution.paper import PaperBroker
from engine.observability.events import Event
from engine.observability.metrics import STEP_SECONDS_BUCKETS, EngineMetrics, MetricsServer, is_loopback
from engine.portfolio.trades import PositionSide, Trade
from engine.regime.regime import Regime
from engine.risk.state import TradingState

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class EveryFourthRejected(PaperBroker):
    """A paper broker that refuses every fourth order, as a live broker sometimes does."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.submitted = 0
        self.rejected = 0

    def submit(self, order: Order) -> OrderEvent:
        self.submitted += 1
        if self.submitted % 4 == 0:
            self.rejected += 1
            return OrderEvent(order.id, OrderStatus.REJECTED, 0.0, 0.0, order.ts, "test: refused")
        return super().submit(order)


@dataclass
class Session:
    engine: Engine
    broker: EveryFourthRejected
    metrics: EngineMetrics
    results: list[StepResult]
    step_seconds: list[float]
    last_lag: float
    events: list[Event]
    tracked: list[tuple[float, float, float, float]]  # after each step: gauge and engine position, equity


def scrape(metrics: EngineMetrics) -> Samples:
    """GET /metrics from a real server on an ephemeral loopback port and parse the text."""
    with MetricsServer(metrics, "127.0.0.1", 0) as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as answer:
            text = answer.read().decode("utf-8")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def run(engine: Engine, metrics: EngineMetrics, days: int, seed: int) -> Session:
    results, durations, events, tracked = [], [], [], []
    get = metrics.registry.get_sample_value
    lag = math.nan
    for i, bar in enumerate(generate_bars("QQQ", days=days, seed=seed)):
        start = time.perf_counter()
        result = engine.step(bar)
        elapsed = time.perf_counter() - start
        lag = 0.25 * (i % 7)
        metrics.observe(result, engine, elapsed, feed_lag_seconds=lag)
        drained = engine.events.drain()
        metrics.observe_events(drained)
        results.append(result)
        durations.append(elapsed)
        events.extend(drained)
        tracked.append((get("futbot_position_shares", {"symbol": "QQQ"}), engine.portfolio.position("QQQ"),
                        get("futbot_equity_dollars"), engine.portfolio.equity))
    return Session(engine, engine.broker, metrics, results, durations, lag, events,  # type: ignore[arg-type]
                   tracked)


@pytest.fixture(scope="module")
def session() -> Session:
    settings = load_settings()
    engine = Engine(settings, broker=EveryFourthRejected(settings.execution))
    return run(engine, EngineMetrics(), days=3, seed=1)


@pytest.fixture(scope="module")
def samples(session: Session) -> Samples:
    return scrape(session.metrics)


def test_scraped_equity_cash_drawdown_and_position_equal_the_engine(session: Session, samples: Samples) -> None:
    p = session.engine.portfolio
    assert samples[("futbot_equity_dollars", ())] == p.equity
    assert samples[("futbot_cash_dollars", ())] == p.cash
    assert samples[("futbot_drawdown_ratio", ())] == -p.drawdown >= 0.0
    assert samples[("futbot_position_shares", (("symbol", "QQQ"),))] == p.position("QQQ")
    assert p.drawdown < 0.0


def test_position_and_equity_gauges_follow_the_engine_bar_by_bar(session: Session) -> None:
    assert len({position for _, position, _, _ in session.tracked}) > 3  # long, short and flat at times
    for gauge_position, position, gauge_equity, equity in session.tracked:
        assert gauge_position == position and gauge_equity == equity


def test_order_fill_and_trade_counters_equal_the_session(session: Session, samples: Samples) -> None:
    sides = Counter(o.side.value for r in session.results for o in r.orders)
    fills = sum(len(r.fills) for r in session.results)
    pnls = [t.pnl for r in session.results for t in r.trades]
    wins = sum(1 for pnl in pnls if pnl > 0.0)
    assert sides["buy"] > 0 and sides["sell"] > 0 and 0 < wins < len(pnls)
    assert samples[("futbot_orders_total", (("side", "buy"),))] == sides["buy"]
    assert samples[("futbot_orders_total", (("side", "sell"),))] == sides["sell"]
    assert samples[("futbot_fills_total", ())] == fills > 0
    assert samples[("futbot_trades_total", (("outcome", "win"),))] == wins
    assert samples[("futbot_trades_total", (("outcome", "loss"),))] == len(pnls) - wins


def test_every_accepted_order_is_counted_once_and_every_refused_one_as_a_reject(
        session: Session, samples: Samples) -> None:
    broker = session.broker
    assert broker.rejected > 0
    assert samples[("futbot_order_rejects_total", ())] == broker.rejected
    accepted = samples[("futbot_orders_total", (("side", "buy"),))] + samples[("futbot_orders_total", (("side", "sell"),))]
    assert accepted == broker.submitted - broker.rejected


def test_risk_events_are_counted_by_rule(session: Session, samples: Samples) -> None:
    by_rule = Counter(e.payload["rule"] for e in session.events if e.type in ("risk_event", "kill_switch"))
    assert by_rule, "the session should trip at least one risk rule"
    scraped = {dict(labels)["rule"]: value for (name, labels), value in samples.items()
               if name == "futbot_risk_events_total"}
    assert scraped == by_rule


def test_step_histogram_counts_every_step_into_the_right_buckets(session: Session, samples: Samples) -> None:
    durations = session.step_seconds
    assert samples[("futbot_engine_step_seconds_count", ())] == len(durations) == len(session.results)
    assert samples[("futbot_engine_step_seconds_sum", ())] == pytest.approx(math.fsum(durations), rel=1e-12)
    for bound in STEP_SECONDS_BUCKETS:
        below = sum(1 for d in durations if d <= bound)
        assert samples[("futbot_engine_step_seconds_bucket", (("le", repr(bound)),))] == below, bound
    assert samples[("futbot_engine_step_seconds_bucket", (("le", "+Inf"),))] == len(durations)


def test_buckets_span_ten_microseconds_to_a_tenth_of_a_second() -> None:
    assert STEP_SECONDS_BUCKETS[0] == 10e-6 and STEP_SECONDS_BUCKETS[-1] == 0.1
    assert list(STEP_SECONDS_BUCKETS) == sorted(set(STEP_SECONDS_BUCKETS))


def test_regime_and_state_gauges_are_one_hot_on_the_engine_current_ones(session: Session, samples: Samples) -> None:
    regimes = {g.label: samples[("futbot_regime", (("regime", g.label),))] for g in Regime}
    assert regimes == {g.label: float(g is session.engine.regime.current) for g in Regime}
    states = {s.value: samples[("futbot_trading_state", (("state", s.value),))] for s in TradingState}
    assert states == {s.value: float(s is session.engine.risk.state) for s in TradingState}


def test_agent_weights_equal_the_adaptor_table(session: Session, samples: Samples) -> None:
    table = session.engine.adaptor.table()
    assert any(abs(w - 0.25) > 1e-3 for per_agent in table.values() for w in per_agent.values()), \
        "weights never moved, so this test would not see a stale gauge"
    scraped = {(dict(labels)["regime"], dict(labels)["agent"]): value
               for (name, labels), value in samples.items() if name == "futbot_agent_weight"}
    assert scraped == {(regime, agent): w for regime, per_agent in table.items() for agent, w in per_agent.items()}


def test_feed_lag_is_the_last_given_and_broker_connection_follows_its_setter(session: Session, samples: Samples) -> None:
    assert samples[("futbot_feed_lag_seconds", ())] == session.last_lag
    assert samples[("futbot_broker_connected", ())] == 0.0
    metrics = EngineMetrics()
    metrics.set_broker_connected(True)
    assert metrics.registry.get_sample_value("futbot_broker_connected") == 1.0
    metrics.set_broker_connected(False)
    assert metrics.registry.get_sample_value("futbot_broker_connected") == 0.0
    with pytest.raises(ValueError, match="connected=1"):
        metrics.set_broker_connected(1)  # type: ignore[arg-type]


def test_kill_flips_the_state_gauge_to_halted_and_counts_the_flatten_order() -> None:
    settings = load_settings()
    engine = Engine(settings)
    metrics = EngineMetrics()
    bars = iter(generate_bars("QQQ", days=2, seed=1))
    for bar in bars:
        metrics.observe(engine.step(bar), engine, 1e-4)
        metrics.observe_events(engine.events.drain())
        if engine.portfolio.position("QQQ") != 0.0 and not engine.broker.open_orders():
            break
    position = engine.portfolio.position("QQQ")
    assert position != 0.0
    before = scrape(metrics)
    assert before[("futbot_trading_state", (("state", "HALTED"),))] == 0.0
    flatten_side = "sell" if position > 0.0 else "buy"

    metrics.observe_kill(engine, engine.kill("operator test"))
    metrics.observe_events(engine.events.drain())
    after = scrape(metrics)
    assert {s.value: after[("futbot_trading_state", (("state", s.value),))] for s in TradingState} == \
        {"ACTIVE": 0.0, "REDUCING": 0.0, "HALTED": 1.0}
    side = (("side", flatten_side),)
    assert after[("futbot_orders_total", side)] == before[("futbot_orders_total", side)] + 1
    assert after[("futbot_risk_events_total", (("rule", "kill_switch"),))] == 1.0

    metrics.observe(engine.step(next(bars)), engine, 1e-4)  # the flatten order fills at this open
    filled = scrape(metrics)
    assert filled[("futbot_fills_total", ())] == before[("futbot_fills_total", ())] + 1
    assert filled[("futbot_position_shares", (("symbol", "QQQ"),))] == 0.0 == engine.portfolio.position("QQQ")
    assert filled[("futbot_trading_state", (("state", "HALTED"),))] == 1.0


def test_a_cancel_answered_with_a_working_status_is_not_counted_as_a_new_order() -> None:
    # A live broker answers a cancel with the order's current status; IB confirms later.
    settings = load_settings()
    engine = Engine(settings)
    metrics = EngineMetrics()
    for bar in generate_bars("QQQ", days=2, seed=1):
        result = engine.step(bar)
        metrics.observe(result, engine, 1e-4)
        if result.orders:
            break
    order = result.orders[0]
    assert order in engine.broker.open_orders()
    counted = metrics.registry.get_sample_value("futbot_orders_total", {"side": order.side.value})
    pending = OrderEvent(order.id, OrderStatus.ACCEPTED, 0.0, order.qty, order.ts, "cancel requested")
    metrics.observe_kill(engine, [pending])
    assert metrics.registry.get_sample_value("futbot_orders_total", {"side": order.side.value}) == counted == 1.0


def test_a_refused_flatten_order_counts_as_a_reject(session: Session) -> None:
    metrics = EngineMetrics()
    refused = OrderEvent("x-1", OrderStatus.REJECTED, 0.0, 0.0, 0, "test: refused")
    cancelled = OrderEvent("x-0", OrderStatus.CANCELLED, 0.0, 5.0, 0)
    metrics.observe_kill(session.engine, [cancelled, refused])
    assert metrics.registry.get_sample_value("futbot_order_rejects_total") == 1.0
    assert metrics.registry.get_sample_value("futbot_orders_total", {"side": "sell"}) == 0.0


@pytest.mark.parametrize("bad", [-1e-6, math.nan, math.inf])
def test_observe_refuses_a_step_time_that_is_not_a_finite_duration(session: Session, bad: float) -> None:
    with pytest.raises(ValueError, match=r"step_seconds=.*expected a finite duration >= 0"):
        EngineMetrics().observe(session.results[-1], session.engine, bad)


@pytest.mark.parametrize("bad", [math.nan, -math.inf])
def test_observe_refuses_a_feed_lag_that_is_not_finite(session: Session, bad: float) -> None:
    with pytest.raises(ValueError, match=r"feed_lag_seconds=.*expected a finite number"):
        EngineMetrics().observe(session.results[-1], session.engine, 1e-4, feed_lag_seconds=bad)


def test_a_risk_event_without_a_rule_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"risk_event event payload rule=None"):
        EngineMetrics().observe_events([Event(0, "risk_event", {"what": "x"})])


def test_each_metrics_object_has_its_own_registry_unless_given_one(session: Session) -> None:
    first, second = EngineMetrics(), EngineMetrics()
    first.observe(session.results[-1], session.engine, 1e-4)
    assert first.registry.get_sample_value("futbot_engine_step_seconds_count") == 1.0
    assert second.registry.get_sample_value("futbot_engine_step_seconds_count") == 0.0
    shared = CollectorRegistry()
    assert EngineMetrics(shared).registry is shared
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        EngineMetrics(shared)


@hyp_settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), max_size=60))
def test_histogram_buckets_equal_a_direct_count(session: Session, durations: list[float]) -> None:
    metrics = EngineMetrics()
    for d in durations:
        metrics.observe(session.results[-1], session.engine, d)
    get = metrics.registry.get_sample_value
    assert get("futbot_engine_step_seconds_count") == len(durations)
    for bound in STEP_SECONDS_BUCKETS:
        assert get("futbot_engine_step_seconds_bucket", {"le": repr(bound)}) == sum(1 for d in durations if d <= bound)


step_contents = st.tuples(
    st.integers(0, 2), st.integers(0, 2), st.integers(0, 3),
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), max_size=3),
)


@hyp_settings(max_examples=60, deadline=None)
@given(st.lists(step_contents, max_size=20))
def test_counters_equal_what_the_steps_held(session: Session, steps: list[tuple[int, int, int, list[float]]]) -> None:
    base = session.results[-1]
    order = next(o for r in session.results for o in r.orders)
    fill = next(f for r in session.results for f in r.fills)
    metrics = EngineMetrics()
    for buys, sells, fills, pnls in steps:
        orders = (replace(order, side=Side.BUY),) * buys + (replace(order, side=Side.SELL),) * sells
        trades = tuple(Trade("QQQ", PositionSide.LONG, 1.0, 0, 100.0, 1, 100.0, pnl, 0.0, "", "", 1) for pnl in pnls)
        metrics.observe(replace(base, orders=orders, fills=(fill,) * fills, trades=trades), session.engine, 1e-4)
    flat = [pnl for *_, pnls in steps for pnl in pnls]
    get = metrics.registry.get_sample_value
    assert get("futbot_orders_total", {"side": "buy"}) == sum(step[0] for step in steps)
    assert get("futbot_orders_total", {"side": "sell"}) == sum(step[1] for step in steps)
    assert get("futbot_fills_total") == sum(step[2] for step in steps)
    assert get("futbot_trades_total", {"outcome": "win"}) == sum(1 for pnl in flat if pnl > 0.0)
    assert get("futbot_trades_total", {"outcome": "loss"}) == sum(1 for pnl in flat if pnl <= 0.0)


def test_the_state_gauge_reads_the_risk_manager_after_the_step_not_the_pre_trade_check(session: Session) -> None:
    # A trade closed at the bar's close may trip the circuit breaker after the risk check.
    now = session.engine.risk.state
    stale = next(s for s in TradingState if s is not now)
    metrics = EngineMetrics()
    metrics.observe(replace(session.results[-1], trading_state=stale), session.engine, 1e-4)
    get = metrics.registry.get_sample_value
    assert get("futbot_trading_state", {"state": now.value}) == 1.0
    assert get("futbot_trading_state", {"state": stale.value}) == 0.0


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.0.2.7", ""])
def test_the_server_refuses_a_host_beyond_loopback_unless_allowed(host: str) -> None:
    metrics = EngineMetrics()
    with pytest.raises(ValueError, match=rf"metrics host={host!r} is not a loopback address"):
        MetricsServer(metrics, host, 0)
    assert not MetricsServer(metrics, host, 0, allow_remote=True).running


@pytest.mark.parametrize("port", [-1, 65_536, 80.0, True])
def test_the_server_refuses_a_port_outside_0_to_65535(port: object) -> None:
    with pytest.raises(ValueError, match=r"metrics port=.*expected an integer 0\.\.65535"):
        MetricsServer(EngineMetrics(), "127.0.0.1", port)  # type: ignore[arg-type]


def test_the_server_stops_cleanly_and_frees_its_port() -> None:
    server = MetricsServer(EngineMetrics(), "127.0.0.1", 0)
    server.start()
    port = server.port
    assert port != 0 and server.running
    with pytest.raises(RuntimeError, match="already running"):
        server.start()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert b"futbot_equity_dollars" in answer.read()
    thread = server._thread
    server.stop()
    assert not server.running and thread is not None and not thread.is_alive()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
    server.stop()  # a second stop is a no-op
    with MetricsServer(EngineMetrics(), "127.0.0.1", port) as again:  # the port is free to bind again
        assert again.port == port


def test_a_port_already_in_use_is_named_in_the_error() -> None:
    with MetricsServer(EngineMetrics(), "127.0.0.1", 0) as first:
        second = MetricsServer(EngineMetrics(), "127.0.0.1", first.port)
        with pytest.raises(OSError, match=rf"cannot listen on 127\.0\.0\.1:{first.port}"):
            second.start()
        assert not second.running
