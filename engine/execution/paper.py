"""PaperBroker: simulated fills against bars, with explicit timing, slippage, commission and volume models.

Fill timing (`execution.fill`):
- `next_open` (default): a market order submitted during bar t fills at bar t+1's open, in
  `on_bar_open` of bar t+1. Nothing ever fills in `on_bar_close`.
- `close`: a market order submitted during bar t fills at bar t's close, in `on_bar_close` of
  bar t (a remainder left by the volume cap fills at later closes).

Limit orders rest until a bar trades through the limit. Each bar after the one it was submitted
in is checked in `on_bar_open` against that bar's whole range: a buy fills when low <= limit, at
the open if the bar opens at or below the limit, else at the limit (sells mirror this with the
high). With `fill: close` a limit order is also marketable at the close of the bar it was
submitted in: a buy fills at the close if close <= limit (sells: close >= limit).

Slippage applies to every fill and is always adverse, but a limit fill is never worse than its
limit: a limit that is merely touched fills exactly at the limit; one the bar opened through
gives up at most its price improvement (see `costs.slipped_price`). Commission is charged on
every fill (`costs.CostModel`).

Volume cap (`execution.max_volume_share`): the fills of one symbol on one bar add up to at most
that share of the bar's volume, shared by all orders in submission order; the rest keeps working
and fills on later bars (PARTIALLY_FILLED events until FILLED).

Fill.ts is the open time of the bar on which the fill happened, in ns UTC (the Bar's own `ts`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.config import ExecutionSettings
from engine.data.bar import Bar
from engine.execution.costs import CostModel, slipped_price
from engine.execution.orders import Fill, Order, OrderEvent, OrderStatus, OrderType, Side, order_problem

_NO_FILLS: tuple[Fill, ...] = ()
# Enum member lookups cost ~0.1 us each on Python 3.11; the matching loop uses these aliases.
_MARKET, _BUY = OrderType.MARKET, Side.BUY
_ACCEPTED, _PARTIAL, _FILLED = OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED


@dataclass(slots=True)
class _Working:
    order: Order
    remaining: float
    filled: float = 0.0


class PaperBroker:
    """Simulated broker. Keeps to the call order in `engine.execution.broker`."""

    __slots__ = ("_costs", "_fill_at_close", "_volume_share", "_working", "_finished", "_events",
                 "_bar", "_budget")

    def __init__(self, settings: ExecutionSettings | None = None) -> None:
        settings = settings or ExecutionSettings()
        self._costs = CostModel.from_settings(settings)
        self._fill_at_close = settings.fill == "close"
        self._volume_share = settings.max_volume_share
        self._working: dict[str, _Working] = {}
        self._finished: dict[str, OrderStatus] = {}   # ids stay unique after an order is done
        self._events: list[OrderEvent] = []
        self._bar: Bar | None = None                  # the broker's clock: the latest bar seen
        self._budget: dict[str, tuple[int, float]] = {}  # symbol -> (bar ts, volume left)

    # --- requests -------------------------------------------------------------------------

    def submit(self, order: Order) -> OrderEvent:
        problem = order_problem(order)
        if problem is None and (order.id in self._working or order.id in self._finished):
            event = OrderEvent(order.id, OrderStatus.REJECTED, 0.0, 0.0, order.ts,
                               f"order id {order.id!r} was already used: expected a unique client order id")
        elif problem is not None:
            event = OrderEvent(order.id, OrderStatus.REJECTED, 0.0, 0.0, order.ts, problem)
            if isinstance(order.id, str) and order.id and order.id not in self._working:
                self._finished.setdefault(order.id, OrderStatus.REJECTED)
        else:
            qty = float(order.qty)
            self._working[order.id] = _Working(order, qty)
            event = OrderEvent(order.id, _ACCEPTED, 0.0, qty, order.ts)
        self._events.append(event)
        return event

    def cancel(self, order_id: str) -> OrderEvent:
        working = self._working.pop(order_id, None)
        if working is None:
            done = self._finished.get(order_id)
            why = f"unknown order id {order_id!r}" if done is None else f"order {order_id!r} is already {done.value}"
            return OrderEvent(order_id, OrderStatus.REJECTED, 0.0, 0.0, self._now(), f"cannot cancel: {why}")
        return self._cancelled(working, "cancelled by request")

    def cancel_all(self) -> list[OrderEvent]:
        working, self._working = self._working, {}
        return [self._cancelled(w, "cancel all") for w in working.values()]

    def open_orders(self) -> tuple[Order, ...]:
        if not self._working:  # the common case on every bar: no generator, no new tuple
            return ()
        return tuple(w.order for w in self._working.values())

    def drain_events(self) -> list[OrderEvent]:
        events, self._events = self._events, []
        return events

    # --- the bar clock --------------------------------------------------------------------

    def on_bar_open(self, bar: Bar, atr: float) -> tuple[Fill, ...]:
        self._bar = bar
        if not self._working:
            return _NO_FILLS
        return self._match(bar, atr, at_open=True)

    def on_bar_close(self, bar: Bar, atr: float) -> tuple[Fill, ...]:
        self._bar = bar
        if not self._fill_at_close or not self._working:
            return _NO_FILLS
        return self._match(bar, atr, at_open=False)

    # --- matching -------------------------------------------------------------------------

    def _match(self, bar: Bar, atr: float, *, at_open: bool) -> tuple[Fill, ...]:
        fills: list[Fill] = []
        ts = bar.ts
        for working in list(self._working.values()):
            order = working.order
            if order.symbol != bar.symbol:
                continue
            reference = self._reference_price(order, bar, at_open)
            if reference is None:
                continue
            fill = self._execute(working, bar, reference, atr, ts)
            if fill is not None:
                fills.append(fill)
        return tuple(fills)

    def _reference_price(self, order: Order, bar: Bar, at_open: bool) -> float | None:
        """The pre-slippage price `order` trades at on this call, or None if it does not trade."""
        if order.type is _MARKET:
            fills_now = at_open != self._fill_at_close
            return (bar.open if at_open else bar.close) if fills_now else None
        limit = order.limit_price
        assert limit is not None  # order_problem guarantees it for accepted limit orders
        buy = order.side is _BUY
        if not at_open:
            marketable = bar.close <= limit if buy else bar.close >= limit
            return bar.close if marketable else None
        if buy:
            if bar.open <= limit:
                return bar.open
            return limit if bar.low <= limit else None
        if bar.open >= limit:
            return bar.open
        return limit if bar.high >= limit else None

    def _execute(self, working: _Working, bar: Bar, reference: float, atr: float, ts: int) -> Fill | None:
        order = working.order
        qty = working.remaining
        if self._volume_share is not None:
            left = self._volume_left(bar)
            if left <= 0.0:
                return None
            if left < qty:
                qty = left
            self._budget[bar.symbol] = (bar.ts, left - qty)
        slip = self._costs.slippage_per_share(reference, atr)
        price, paid = slipped_price(order.side, reference, slip, order.limit_price)
        fill = Fill(
            order.id, order.symbol, order.side, qty, price,
            self._costs.commission(qty, price), paid * qty, ts, order.agent, order.regime,
        )
        if qty == working.remaining:
            working.remaining = 0.0
            working.filled = float(order.qty)
            del self._working[order.id]
            self._finished[order.id] = _FILLED
            self._events.append(OrderEvent(order.id, _FILLED, working.filled, 0.0, ts))
        else:
            working.remaining -= qty
            working.filled += qty
            self._events.append(
                OrderEvent(order.id, _PARTIAL, working.filled, working.remaining, ts)
            )
        return fill

    def _volume_left(self, bar: Bar) -> float:
        assert self._volume_share is not None
        seen = self._budget.get(bar.symbol)
        if seen is not None and seen[0] == bar.ts:
            return seen[1]
        # A bar with no (or no valid) volume fills nothing under the cap.
        return bar.volume * self._volume_share if bar.volume > 0.0 else 0.0

    def _cancelled(self, working: _Working, reason: str) -> OrderEvent:
        order_id = working.order.id
        self._finished[order_id] = OrderStatus.CANCELLED
        event = OrderEvent(order_id, OrderStatus.CANCELLED, working.filled, working.remaining, self._now(), reason)
        self._events.append(event)
        return event

    def _now(self) -> int:
        return 0 if self._bar is None else self._bar.ts

    # --- persistence (a restart resumes the working orders exactly) ------------------------

    def to_dict(self) -> dict[str, Any]:
        """The broker's state between two bars, in plain JSON types.

        Events not drained yet are kept too: with `fill: close` a bar's fills are reported
        only on the next bar's drain.
        """
        bar = self._bar
        return {
            "working": [{"order": _order_dict(w.order), "remaining": w.remaining, "filled": w.filled}
                        for w in self._working.values()],
            "finished": [[order_id, status.value] for order_id, status in self._finished.items()],
            "events": [[e.order_id, e.status.value, e.filled_qty, e.remaining, e.ts, e.reason] for e in self._events],
            "bar": None if bar is None else [bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume],
            "budget": [[symbol, ts, left] for symbol, (ts, left) in self._budget.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], settings: ExecutionSettings | None = None) -> "PaperBroker":
        """A broker with `settings`' models in the state `to_dict` wrote."""
        missing = sorted({"working", "finished", "events", "bar", "budget"} - set(data))
        if missing:
            raise ValueError(f"paper broker state: missing keys {missing}")
        broker = cls(settings)
        for w in data["working"]:
            order = _order_from_dict(w["order"])
            broker._working[order.id] = _Working(order, float(w["remaining"]), float(w["filled"]))
        broker._finished = {str(i): OrderStatus(status) for i, status in data["finished"]}
        broker._events = [OrderEvent(str(i), OrderStatus(st), float(f), float(r), int(ts), str(why))
                          for i, st, f, r, ts, why in data["events"]]
        bar = data["bar"]
        broker._bar = None if bar is None else Bar(str(bar[0]), int(bar[1]), *(float(v) for v in bar[2:]))
        broker._budget = {str(symbol): (int(ts), float(left)) for symbol, ts, left in data["budget"]}
        return broker


def _order_dict(order: Order) -> dict[str, Any]:
    return {"id": order.id, "symbol": order.symbol, "side": order.side.value, "qty": order.qty,
            "type": order.type.value, "limit_price": order.limit_price, "ts": order.ts,
            "agent": order.agent, "regime": order.regime, "reason": order.reason}


def _order_from_dict(data: dict[str, Any]) -> Order:
    limit = data["limit_price"]
    return Order(str(data["id"]), str(data["symbol"]), Side(data["side"]), float(data["qty"]),
                 OrderType(data["type"]), None if limit is None else float(limit), int(data["ts"]),
                 str(data["agent"]), str(data["regime"]), str(data["reason"]))
