"""Orders, the Broker protocol and the PaperBroker with its cost models."""
from engine.execution.broker import Broker
from engine.execution.costs import CostModel, slipped_price
from engine.execution.orders import Fill, Order, OrderEvent, OrderStatus, OrderType, Side, order_problem
from engine.data.bar import ns_since_epoch
from engine.execution.paper import PaperBroker

__all__ = [
    "Broker", "CostModel", "Fill", "Order", "OrderEvent", "OrderStatus", "OrderType", "PaperBroker", "Side",
    "ns_since_epoch", "order_problem", "slipped_price",
]
