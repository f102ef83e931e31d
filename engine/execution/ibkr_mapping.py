"""Translation between FutBot's orders and fills and ib_async's objects.

Status mapping (IB -> ours): PendingSubmit / ApiPending -> NEW; PreSubmitted / Submitted ->
ACCEPTED, or PARTIALLY_FILLED once something filled; Filled -> FILLED; Cancelled / ApiCancelled
-> CANCELLED, except an order we never asked to cancel that IB cancelled with an error (ib_async
turns an order error into Cancelled and logs the error on the trade) and that filled nothing,
which is REJECTED with IB's message; Inactive -> REJECTED with IB's message. PendingCancel and
validation warnings change nothing.

Fills: `Fill.ts` is the execution time (ns UTC). `Fill.slippage` is the adverse difference
between the fill price and the arrival price (the last bar close seen when the order was
submitted), never negative, 0 without one. A negative commission (a rebate) is folded into the
price, so that cash moves exactly as IB's does while `Fill.commission` stays >= 0.
"""
from __future__ import annotations

from ib_async import Contract, LimitOrder, MarketOrder, Stock, Trade
from ib_async import Fill as IBFill
from ib_async import Order as IBOrder

from engine.data.bar import ns_since_epoch
from engine.execution.orders import Fill, Order, OrderStatus, OrderType, Side

CANCEL_CONFIRMED = 202   # IB's "Order Canceled - reason:" message: a cancellation, not a reject
DONE_STATES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})


def stock_contract(symbol: str) -> Contract:
    """A US stock routed SMART in USD: what a plain symbol means to the engine."""
    return Stock(symbol, "SMART", "USD")


def ib_order(order: Order, account: str, tif: str) -> IBOrder:
    """The IB order for `order`, carrying its id in `orderRef`."""
    action = "BUY" if order.side is Side.BUY else "SELL"
    if order.type is OrderType.LIMIT:
        assert order.limit_price is not None   # order_problem refuses a limit order without one
        return LimitOrder(action, float(order.qty), float(order.limit_price), orderRef=order.id,
                          account=account, tif=tif)
    return MarketOrder(action, float(order.qty), orderRef=order.id, account=account, tif=tif)


def map_ib_status(ib_status: str, filled: float, cancel_requested: bool,
                  error: tuple[int, str] | None) -> tuple[OrderStatus, str] | None:
    """Our status and reason for IB's `ib_status`, or None when it changes nothing for us."""
    if ib_status in ("PendingSubmit", "ApiPending"):
        return OrderStatus.NEW, ""
    if ib_status in ("PreSubmitted", "Submitted"):
        return (OrderStatus.PARTIALLY_FILLED if filled > 0.0 else OrderStatus.ACCEPTED), ""
    if ib_status == "Filled":
        return OrderStatus.FILLED, ""
    if ib_status in ("Cancelled", "ApiCancelled"):
        if cancel_requested:
            return OrderStatus.CANCELLED, "cancelled by request"
        if error is not None and error[0] != CANCEL_CONFIRMED and filled <= 0.0:
            return OrderStatus.REJECTED, error[1]
        return OrderStatus.CANCELLED, error[1] if error is not None else "cancelled by IB or TWS"
    if ib_status == "Inactive":
        return OrderStatus.REJECTED, error[1] if error is not None else (
            "IB set the order Inactive (rejected or not working); see TWS for the cause")
    return None


def last_error(trade: Trade) -> tuple[int, str] | None:
    """IB's latest error on this order, as ib_async logged it on the trade."""
    for entry in reversed(trade.log):
        if entry.errorCode:
            return entry.errorCode, entry.message
    return None


def to_fill(order: Order, arrival: float, fill: IBFill) -> Fill:
    """Our Fill for one IB execution of `order` whose commission report has arrived."""
    execution = fill.execution
    side = Side.BUY if execution.side == "BOT" else Side.SELL
    qty, price = float(execution.shares), float(execution.price)
    commission = float(fill.commissionReport.commission)
    sign = 1.0 if side is Side.BUY else -1.0
    if commission < 0.0:
        price, commission = price + sign * commission / qty, 0.0
    slippage = max(0.0, sign * (price - arrival) * qty) if arrival == arrival else 0.0
    return Fill(order.id, order.symbol, side, qty, price, commission, slippage,
                ns_since_epoch(execution.time), order.agent, order.regime)
