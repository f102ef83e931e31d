"""Reconciling the local portfolio with what Interactive Brokers says the account holds.

The broker is the truth. `reconcile` compares a local `PortfolioSnapshot` with IB's positions and
cash and lists every difference; `Reconciliation.adopt` turns the local snapshot into one that
holds exactly IB's positions and cash, ready for `Portfolio.restore`.

IB's numbers: a `Position` carries signed shares and `avgCost`, the average price per share
including commissions; cash is the account value tagged `TotalCashValue` in the account currency
(falling back to the `BASE` currency that IB uses for the converted total).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from engine.portfolio.portfolio import QTY_EPS, PortfolioSnapshot, PositionSnapshot

CASH_TAG = "TotalCashValue"


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    symbol: str
    qty: float          # signed shares
    avg_cost: float     # per share, commissions included (IB's avgCost)


@dataclass(frozen=True, slots=True)
class PositionDifference:
    symbol: str
    local_qty: float
    broker_qty: float
    broker_avg_cost: float   # nan when IB holds none of the symbol

    @property
    def delta(self) -> float:
        """Shares the local book must add to agree with IB."""
        return self.broker_qty - self.local_qty


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The local book against IB at one moment; `positions` lists only the symbols that differ."""

    ts: int                                      # ns UTC
    account: str
    broker_positions: tuple[BrokerPosition, ...]  # all that IB holds, sorted by symbol
    broker_cash: float | None                    # None when IB reported no TotalCashValue
    local_cash: float
    positions: tuple[PositionDifference, ...]
    cash_tolerance: float
    untracked_orders: tuple[str, ...] = ()       # IB's open orders that no local order matches

    @property
    def cash_difference(self) -> float | None:
        """IB's cash minus the local cash; None when IB reported none."""
        return None if self.broker_cash is None else self.broker_cash - self.local_cash

    @property
    def cash_matches(self) -> bool:
        diff = self.cash_difference
        return diff is not None and abs(diff) <= self.cash_tolerance

    @property
    def matches(self) -> bool:
        return not self.positions and self.cash_matches and not self.untracked_orders

    def target_positions(self) -> dict[str, float]:
        """Signed shares per symbol the engine should hold: IB's."""
        return {p.symbol: p.qty for p in self.broker_positions}

    def target_cash(self) -> float | None:
        return self.broker_cash

    def adopt(self, local: PortfolioSnapshot) -> PortfolioSnapshot:
        """`local` changed to hold IB's positions and cash (unknown cash keeps the local cash).

        Positions that already agree keep their local history (entry time, fees, agent). A
        position that differs restarts at IB's average cost with no entry fees (IB's avgCost
        already includes them), valued at the local price of the symbol or else at that cost.
        A snapshot that never marked a bar (a fresh start) takes the adopted equity as its
        initial cash and peak, so adopting an account is not booked as a gain or a loss.
        """
        prices = dict(local.prices)
        marks = dict(local.marks)
        kept = {p.symbol: p for p in local.positions}
        differing = {d.symbol for d in self.positions}
        positions: list[PositionSnapshot] = []
        for broker in self.broker_positions:
            if broker.symbol not in differing and broker.symbol in kept:
                positions.append(kept[broker.symbol])
                continue
            price = prices.setdefault(broker.symbol, broker.avg_cost)
            positions.append(PositionSnapshot(
                broker.symbol, broker.qty, broker.avg_cost, 0.0, self.ts, marks.get(broker.symbol, 0), "", "",
                price, (price - broker.avg_cost) * broker.qty,
            ))
        cash = local.cash if self.broker_cash is None else self.broker_cash
        equity = cash + sum(p.qty * prices[p.symbol] for p in positions)
        fresh = local.last_ts is None
        peak = equity if fresh else max(local.peak_equity, equity)
        return replace(
            local, initial_cash=equity if fresh else local.initial_cash, cash=cash, equity=equity,
            peak_equity=peak, drawdown=min(equity / peak - 1.0, 0.0) if peak > 0.0 else 0.0,
            positions=tuple(positions), prices=tuple(prices.items()),
        )


def reconcile(
    local: PortfolioSnapshot,
    broker_positions: Iterable[BrokerPosition],
    broker_cash: float | None,
    *,
    ts: int,
    account: str = "",
    cash_tolerance: float = 0.01,
    untracked_orders: Iterable[str] = (),
) -> Reconciliation:
    """Compare `local` with IB's positions (one entry per symbol) and cash."""
    if not (cash_tolerance >= 0.0 and math.isfinite(cash_tolerance)):
        raise ValueError(f"cash_tolerance = {cash_tolerance!r}: expected a finite amount >= 0")
    held = {p.symbol: p for p in broker_positions if abs(p.qty) > QTY_EPS}
    mine = {p.symbol: p.qty for p in local.positions}
    differences = []
    for symbol in sorted(held.keys() | mine.keys()):
        broker = held.get(symbol)
        broker_qty = 0.0 if broker is None else broker.qty
        local_qty = mine.get(symbol, 0.0)
        if abs(broker_qty - local_qty) > QTY_EPS:
            cost = math.nan if broker is None else broker.avg_cost
            differences.append(PositionDifference(symbol, local_qty, broker_qty, cost))
    return Reconciliation(
        ts, account, tuple(held[s] for s in sorted(held)), broker_cash, local.cash, tuple(differences),
        cash_tolerance, tuple(untracked_orders),
    )


def cash_from_account_values(values: Iterable[object], account: str, currency: str) -> float | None:
    """IB's TotalCashValue for `account` in `currency`, else in BASE; None if IB sent neither.

    `values` are ib_async `AccountValue`s (account, tag, value, currency, modelCode).
    """
    found: dict[str, float] = {}
    for value in values:
        if (getattr(value, "tag", None) != CASH_TAG or getattr(value, "modelCode", "")
                or (account and getattr(value, "account", None) != account)):
            continue
        try:
            found[value.currency] = float(value.value)  # type: ignore[attr-defined]
        except ValueError:
            raise ValueError(
                f"IB account value {CASH_TAG} ({value.currency}) = {value.value!r}: "  # type: ignore[attr-defined]
                "expected a number") from None
    for wanted in (currency, "BASE"):
        if wanted in found:
            return found[wanted]
    return None
