"""The Broker protocol: what the engine needs from paper and live brokers alike.

The engine's order of calls on every bar is fixed, and both brokers rely on it:
  1. `on_bar_open(bar, atr)`  first thing: fills of orders that were working before this bar;
  2. the engine decides and may `submit` / `cancel`;
  3. `on_bar_close(bar, atr)` after this bar's orders are in (fills at this bar's close, if the
     fill model does that).
`drain_events()` returns every order status change since the previous call, in order, including
the ACCEPTED/REJECTED/CANCELLED events that `submit`/`cancel` also return, so one reader (the
event log, the store) sees the complete stream. A REJECTED answer to `cancel` (unknown or
finished order) changes no order's status and is only returned, never drained.

`on_bar_open`/`on_bar_close` return a tuple so the common case, nothing working, costs no
allocation (the empty tuple is shared).
"""
from __future__ import annotations

from typing import Protocol

from engine.data.bar import Bar
from engine.execution.orders import Fill, Order, OrderEvent


class Broker(Protocol):
    def submit(self, order: Order) -> OrderEvent:
        """ACCEPTED (or NEW for a live broker awaiting acknowledgement), or REJECTED with a reason."""
        ...

    def cancel(self, order_id: str) -> OrderEvent:
        """CANCELLED, or REJECTED with a reason (unknown id, order already finished)."""
        ...

    def cancel_all(self) -> list[OrderEvent]:
        """Cancel every working order; one CANCELLED event each."""
        ...

    def open_orders(self) -> tuple[Order, ...]:
        """Working orders, oldest first, as submitted (partial fills show in the events)."""
        ...

    def on_bar_open(self, bar: Bar, atr: float) -> tuple[Fill, ...]:
        ...

    def on_bar_close(self, bar: Bar, atr: float) -> tuple[Fill, ...]:
        ...

    def drain_events(self) -> list[OrderEvent]:
        ...
