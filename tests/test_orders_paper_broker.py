"""PaperBroker: fill timing, limit orders, slippage, commission, volume cap, order states."""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import ExecutionSettings
from engine.data.bar import Bar
from engine.execution import Order, OrderStatus, OrderType, PaperBroker, Side, ns_since_epoch

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)


def bar(i: int, o: float, h: float, low: float, c: float, volume: float = 1e6, symbol: str = "QQQ") -> Bar:
    return Bar.at(symbol, T0 + timedelta(minutes=i), o, h, low, c, volume)


def ns(i: int) -> int:
    return (1_704_205_800 + 60 * i) * 1_000_000_000   # 2024-01-02 14:30 UTC + i minutes


def broker(**overrides: object) -> PaperBroker:
    """A broker with no costs unless a test asks for them."""
    fields: dict[str, object] = {"slippage_bps": 0.0, "commission_per_share": 0.0}
    fields.update(overrides)
    return PaperBroker(ExecutionSettings(**fields))


def market(order_id: str = "o1", side: Side = Side.BUY, qty: float = 100.0, symbol: str = "QQQ") -> Order:
    return Order(order_id, symbol, side, qty, ts=ns(0), agent="trend", regime="trend", reason="test")


def limit(order_id: str, side: Side, qty: float, price: float) -> Order:
    return Order(order_id, "QQQ", side, qty, OrderType.LIMIT, price, ts=ns(0))


FLAT = bar(1, 100.0, 101.0, 99.0, 100.5)


# --- the clock ---------------------------------------------------------------------------

def test_ns_since_epoch_is_exact_integer_nanoseconds() -> None:
    assert ns_since_epoch(T0) == ns(0)
    assert ns_since_epoch(T0 + timedelta(microseconds=7)) == ns(0) + 7_000


# --- fill timing -------------------------------------------------------------------------

def test_accepted_market_order_is_open_until_it_fills() -> None:
    b = broker()
    event = b.submit(market())
    assert (event.status, event.filled_qty, event.remaining) == (OrderStatus.ACCEPTED, 0.0, 100.0)
    assert [o.id for o in b.open_orders()] == ["o1"]


def test_next_open_market_order_waits_for_the_next_bars_open() -> None:
    b = broker()
    b.on_bar_open(bar(0, 10.0, 11.0, 9.0, 10.5), 0.0)
    b.submit(market())
    assert b.on_bar_close(bar(0, 10.0, 11.0, 9.0, 10.5), 0.0) == ()
    (fill,) = b.on_bar_open(bar(1, 10.2, 11.0, 9.0, 10.5), 0.0)
    assert (fill.price, fill.qty, fill.ts) == (10.2, 100.0, ns(1))
    assert b.open_orders() == ()


def test_close_mode_market_order_fills_at_the_close_of_its_own_bar() -> None:
    b = broker(fill="close")
    b.on_bar_open(bar(0, 10.0, 11.0, 9.0, 10.5), 0.0)
    b.submit(market())
    (fill,) = b.on_bar_close(bar(0, 10.0, 11.0, 9.0, 10.5), 0.0)
    assert (fill.price, fill.ts) == (10.5, ns(0))


def test_close_mode_never_fills_a_market_order_at_the_open() -> None:
    b = broker(fill="close")
    b.submit(market())
    assert b.on_bar_open(bar(1, 10.0, 11.0, 9.0, 10.5), 0.0) == ()
    assert len(b.on_bar_close(bar(1, 10.0, 11.0, 9.0, 10.5), 0.0)) == 1


def test_fill_carries_the_orders_identity_agent_and_regime() -> None:
    b = broker()
    b.submit(market(side=Side.SELL))
    (fill,) = b.on_bar_open(FLAT, 0.0)
    assert (fill.order_id, fill.symbol, fill.side, fill.agent, fill.regime) == ("o1", "QQQ", Side.SELL, "trend", "trend")


def test_a_bar_of_another_symbol_fills_nothing() -> None:
    b = broker()
    b.submit(market(symbol="SPY"))
    assert b.on_bar_open(FLAT, 0.0) == ()
    assert len(b.on_bar_open(bar(1, 400.0, 401.0, 399.0, 400.0, symbol="SPY"), 0.0)) == 1


def test_nothing_working_returns_the_shared_empty_tuple() -> None:
    b = broker(fill="close")
    empty = b.on_bar_open(FLAT, 0.0)
    assert empty == () and b.on_bar_open(FLAT, 0.0) is empty and b.on_bar_close(FLAT, 0.0) is empty


# --- slippage and commission -------------------------------------------------------------

def test_bps_slippage_is_adverse_for_buys_and_sells() -> None:
    b = broker(slippage_bps=10.0)
    b.submit(market("b", Side.BUY, 50.0))
    b.submit(market("s", Side.SELL, 50.0))
    buy, sell = b.on_bar_open(bar(1, 100.0, 101.0, 99.0, 100.0), 0.0)
    # 10 bps of 100 = 0.10 per share, 50 shares -> 5.00 of slippage each way
    assert buy.price == pytest.approx(100.10) and sell.price == pytest.approx(99.90)
    assert buy.slippage == pytest.approx(5.0) and sell.slippage == pytest.approx(5.0)


def test_atr_slippage_adds_a_multiple_of_atr_to_the_bps_part() -> None:
    b = broker(slippage_bps=10.0, slippage_atr=0.5)
    b.submit(market(qty=10.0))
    (fill,) = b.on_bar_open(bar(1, 100.0, 101.0, 99.0, 100.0), 2.0)
    # 0.10 (bps) + 0.5 x 2.0 (ATR) = 1.10 per share
    assert fill.price == pytest.approx(101.10)
    assert fill.slippage == pytest.approx(11.0)


def test_commission_is_per_share_plus_bps_of_the_slipped_notional() -> None:
    b = broker(slippage_bps=10.0, commission_per_share=0.005, commission_bps=2.0)
    b.submit(market(qty=200.0))
    (fill,) = b.on_bar_open(bar(1, 100.0, 101.0, 99.0, 100.0), 0.0)
    # 200 x 0.005 = 1.00; notional 200 x 100.10 = 20,020 x 0.0002 = 4.004
    assert fill.commission == pytest.approx(5.004)


def test_non_finite_atr_is_an_error_only_when_atr_slippage_is_used() -> None:
    b = broker(slippage_atr=0.5)
    b.submit(market())
    with pytest.raises(ValueError, match=r"atr = nan.*slippage_atr"):
        b.on_bar_open(FLAT, math.nan)
    plain = broker(slippage_bps=1.0)
    plain.submit(market())
    assert len(plain.on_bar_open(FLAT, math.nan)) == 1


# --- limit orders ------------------------------------------------------------------------

def test_buy_limit_rests_while_the_bar_stays_above_it() -> None:
    b = broker()
    b.submit(limit("l", Side.BUY, 10.0, 98.0))
    assert b.on_bar_open(FLAT, 0.0) == ()          # low 99 > 98
    assert [o.id for o in b.open_orders()] == ["l"]


def test_buy_limit_touched_inside_the_bar_fills_at_the_limit() -> None:
    b = broker()
    b.submit(limit("l", Side.BUY, 10.0, 99.5))
    (fill,) = b.on_bar_open(FLAT, 0.0)            # open 100 > 99.5 >= low 99
    assert fill.price == 99.5


def test_buy_limit_opened_through_fills_at_the_better_open() -> None:
    b = broker()
    b.submit(limit("l", Side.BUY, 10.0, 102.0))
    (fill,) = b.on_bar_open(FLAT, 0.0)            # opens at 100 <= 102
    assert fill.price == 100.0


def test_sell_limit_mirrors_the_buy_rules() -> None:
    b = broker()
    b.submit(limit("rest", Side.SELL, 1.0, 101.5))
    b.submit(limit("touch", Side.SELL, 1.0, 100.8))
    b.submit(limit("through", Side.SELL, 1.0, 99.0))
    fills = {f.order_id: f.price for f in b.on_bar_open(FLAT, 0.0)}   # open 100, high 101
    assert fills == {"touch": 100.8, "through": 100.0}


def test_limit_slippage_never_crosses_the_limit() -> None:
    b = broker(slippage_bps=10.0)
    b.submit(limit("through", Side.BUY, 10.0, 100.0))
    (fill,) = b.on_bar_open(bar(1, 99.95, 100.5, 99.9, 100.0), 0.0)
    # 99.95 + 0.09995 would pay 100.04995 > limit: capped at 100, slippage 0.05 x 10
    assert fill.price == 100.0 and fill.slippage == pytest.approx(0.5)
    touched = broker(slippage_bps=10.0)
    touched.submit(limit("touch", Side.SELL, 10.0, 100.8))
    (fill,) = touched.on_bar_open(FLAT, 0.0)
    assert fill.price == 100.8 and fill.slippage == 0.0


def test_close_mode_limit_is_marketable_at_its_own_bars_close() -> None:
    b = broker(fill="close")
    b.submit(limit("yes", Side.BUY, 1.0, 100.5))
    b.submit(limit("no", Side.BUY, 1.0, 100.4))
    fills = b.on_bar_close(FLAT, 0.0)              # close 100.5
    assert [(f.order_id, f.price) for f in fills] == [("yes", 100.5)]


def test_next_open_limit_is_not_checked_against_its_own_bar() -> None:
    b = broker()
    b.on_bar_open(FLAT, 0.0)
    b.submit(limit("l", Side.BUY, 1.0, 200.0))
    assert b.on_bar_close(FLAT, 0.0) == ()


@settings(max_examples=200, deadline=None)
@given(
    o=st.floats(50, 150), up=st.floats(0, 10), down=st.floats(0, 10), c=st.floats(0, 1),
    offset=st.floats(-12, 12), buy=st.booleans(), bps=st.floats(0, 50),
)
def test_limit_fills_are_never_beyond_the_limit_nor_better_than_the_bar(
    o: float, up: float, down: float, c: float, offset: float, buy: bool, bps: float
) -> None:
    high, low = o + up, o - down
    close = low + c * (high - low)
    price = o + offset
    b = broker(slippage_bps=bps)
    b.submit(limit("l", Side.BUY if buy else Side.SELL, 5.0, price))
    fills = b.on_bar_open(Bar.at("QQQ", T0, o, high, low, close, 1e6), 0.0)
    reached = low <= price if buy else high >= price
    assert len(fills) == (1 if reached else 0)
    for fill in fills:
        # Slippage may push a fill past the bar's range, but never past the limit, and never
        # better than the best price the bar traded.
        assert (low <= fill.price <= price) if buy else (price <= fill.price <= high)


# --- volume cap --------------------------------------------------------------------------

def test_volume_cap_splits_an_order_over_bars() -> None:
    b = broker(max_volume_share=0.1)
    b.submit(market(qty=250.0))
    per_bar = [b.on_bar_open(bar(i, 100.0, 101.0, 99.0, 100.0, volume=1_000.0), 0.0) for i in (1, 2, 3)]
    assert [[f.qty for f in fills] for fills in per_bar] == [[100.0], [100.0], [50.0]]
    events = [(e.status, e.filled_qty, e.remaining) for e in b.drain_events()]
    assert events == [
        (OrderStatus.ACCEPTED, 0.0, 250.0),
        (OrderStatus.PARTIALLY_FILLED, 100.0, 150.0),
        (OrderStatus.PARTIALLY_FILLED, 200.0, 50.0),
        (OrderStatus.FILLED, 250.0, 0.0),
    ]


def test_volume_cap_is_shared_by_all_orders_on_a_bar_in_submission_order() -> None:
    b = broker(max_volume_share=0.1, fill="close")
    b.submit(market("first", qty=80.0))
    b.submit(market("second", qty=80.0))
    fills = b.on_bar_close(bar(1, 100.0, 101.0, 99.0, 100.0, volume=1_000.0), 0.0)
    assert [(f.order_id, f.qty) for f in fills] == [("first", 80.0), ("second", 20.0)]


def test_volume_cap_budget_is_shared_between_open_and_close_of_one_bar() -> None:
    b = broker(max_volume_share=0.1, fill="close")
    b.submit(limit("lim", Side.BUY, 70.0, 99.5))
    b.submit(market("mkt", qty=70.0))
    one = bar(1, 100.0, 101.0, 99.0, 100.0, volume=1_000.0)
    assert [f.qty for f in b.on_bar_open(one, 0.0)] == [70.0]       # the limit at open
    assert [f.qty for f in b.on_bar_close(one, 0.0)] == [30.0]      # 100 - 70 left for the market order


def test_a_bar_without_volume_fills_nothing_under_the_cap() -> None:
    b = broker(max_volume_share=0.5)
    b.submit(market())
    assert b.on_bar_open(bar(1, 100.0, 101.0, 99.0, 100.0, volume=0.0), 0.0) == ()
    assert b.on_bar_open(bar(2, 100.0, 101.0, 99.0, 100.0, volume=math.nan), 0.0) == ()


@settings(max_examples=100, deadline=None)
@given(
    qty=st.floats(1, 5_000), share=st.floats(0.01, 1.0),
    volumes=st.lists(st.floats(0, 2_000), min_size=1, max_size=30),
)
def test_volume_capped_fills_respect_the_cap_and_never_exceed_the_order(
    qty: float, share: float, volumes: list[float]
) -> None:
    b = broker(max_volume_share=share)
    b.submit(market(qty=qty))
    total = 0.0
    for i, volume in enumerate(volumes):
        fills = b.on_bar_open(bar(i + 1, 100.0, 101.0, 99.0, 100.0, volume=volume), 0.0)
        filled_here = sum(f.qty for f in fills)
        assert filled_here <= share * volume * (1 + 1e-12)
        total += filled_here
    assert total <= qty * (1 + 1e-12)
    events = b.drain_events()
    assert events[-1].filled_qty == pytest.approx(total)
    assert (events[-1].status is OrderStatus.FILLED) == (b.open_orders() == ())


# --- rejects, cancels and the event stream -----------------------------------------------

@pytest.mark.parametrize(
    ("order", "reason"),
    [
        (Order("q0", "QQQ", Side.BUY, 0.0), r"qty = 0\.0"),
        (Order("qn", "QQQ", Side.BUY, -5.0), r"qty = -5\.0"),
        (Order("qnan", "QQQ", Side.BUY, math.nan), r"qty = nan"),
        (Order("qinf", "QQQ", Side.BUY, math.inf), r"qty = inf"),
        (Order("nolim", "QQQ", Side.BUY, 1.0, OrderType.LIMIT), r"limit order has no limit_price"),
        (Order("nanlim", "QQQ", Side.BUY, 1.0, OrderType.LIMIT, math.nan), r"limit_price = nan"),
        (Order("neglim", "QQQ", Side.SELL, 1.0, OrderType.LIMIT, -1.0), r"limit_price = -1\.0"),
        (Order("mktlim", "QQQ", Side.BUY, 1.0, OrderType.MARKET, 10.0), r"market order has limit_price = 10\.0"),
        (Order("", "QQQ", Side.BUY, 1.0), r"order id = ''"),
        (Order("nosym", "", Side.BUY, 1.0), r"symbol = ''"),
        (Order("badside", "QQQ", "buy", 1.0), r"side = 'buy'"),  # type: ignore[arg-type]
    ],
)
def test_bad_orders_are_rejected_with_a_reason_naming_the_value(order: Order, reason: str) -> None:
    b = broker()
    event = b.submit(order)
    assert event.status is OrderStatus.REJECTED
    assert event.reason and re.search(reason, event.reason)
    assert b.open_orders() == ()
    assert b.drain_events() == [event]


def test_a_reused_order_id_is_rejected_even_after_the_first_order_finished() -> None:
    b = broker()
    b.submit(market("dup"))
    assert b.submit(market("dup")).reason.startswith("order id 'dup' was already used")
    b.on_bar_open(FLAT, 0.0)
    assert b.submit(market("dup")).status is OrderStatus.REJECTED
    assert len(b.on_bar_open(bar(2, 100.0, 101.0, 99.0, 100.0), 0.0)) == 0


def test_cancel_stops_a_working_order_and_reports_what_was_filled() -> None:
    b = broker(max_volume_share=0.1)
    b.submit(market(qty=250.0))
    b.on_bar_open(bar(1, 100.0, 101.0, 99.0, 100.0, volume=1_000.0), 0.0)
    event = b.cancel("o1")
    assert (event.status, event.filled_qty, event.remaining, event.ts) == (OrderStatus.CANCELLED, 100.0, 150.0, ns(1))
    assert b.open_orders() == ()
    assert b.on_bar_open(bar(2, 100.0, 101.0, 99.0, 100.0, volume=1_000.0), 0.0) == ()
    assert b.drain_events()[-1] == event


def test_cancel_of_an_unknown_or_finished_order_is_rejected_and_not_drained() -> None:
    b = broker()
    unknown = b.cancel("nope")
    assert unknown.status is OrderStatus.REJECTED and "unknown order id 'nope'" in unknown.reason
    b.submit(market())
    b.on_bar_open(FLAT, 0.0)
    b.drain_events()
    finished = b.cancel("o1")
    assert finished.status is OrderStatus.REJECTED and "already filled" in finished.reason
    assert b.drain_events() == []


def test_cancel_all_cancels_every_working_order() -> None:
    b = broker()
    b.submit(market("a"))
    b.submit(limit("b", Side.SELL, 1.0, 500.0))
    events = b.cancel_all()
    assert [(e.order_id, e.status) for e in events] == [("a", OrderStatus.CANCELLED), ("b", OrderStatus.CANCELLED)]
    assert b.open_orders() == () and b.cancel_all() == []


def test_drain_returns_each_status_change_once_in_order() -> None:
    b = broker()
    b.submit(market("a"))
    b.submit(market("b", qty=-1.0))
    b.on_bar_open(FLAT, 0.0)
    assert [(e.order_id, e.status) for e in b.drain_events()] == [
        ("a", OrderStatus.ACCEPTED), ("b", OrderStatus.REJECTED), ("a", OrderStatus.FILLED),
    ]
    assert b.drain_events() == []
