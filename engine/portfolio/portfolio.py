"""Portfolio: positions, cash, PnL, fees and the equity curve, updated by fills and per-bar marks.

Accounting (average-cost method):
- A fill moves cash by its notional and its commission, once. Slippage is already in the fill
  price; it is summed in `slippage` for reporting only.
- Adding to a position moves its average price; reducing leaves it alone and closes a `Trade`.
  A fill larger than the position closes it (one Trade) and opens the rest the other way.
- Commissions of the opening fills stay with the open shares (`entry_fees`) and are charged,
  pro rata, to the trades that close them. So `realised_pnl` (sum of trade pnl) and
  `unrealised_pnl` ((mark - avg) x signed qty - entry_fees) are both net of entry commission and
      equity = cash + market value = initial_cash + realised_pnl + unrealised_pnl.
- Positions are valued at the latest price seen for their symbol: a mark, or a later fill.
"""
from __future__ import annotations

import math
from array import array
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.execution.orders import Fill, Side
from engine.portfolio.trades import PositionSide, Trade

# Fractional fills can leave float dust; a position smaller than this (shares) is flat.
QTY_EPS = 1e-9
_BUY = Side.BUY   # enum member lookups cost ~0.1 us on Python 3.11; this runs per fill
_INF = math.inf


@dataclass(slots=True)
class _Position:
    qty: float          # signed shares
    avg_price: float
    entry_fees: float   # commission of the open shares, not yet charged to a trade
    entry_ts: int
    entry_bar: int      # marks of the symbol when the position opened
    agent: str
    regime: str


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    symbol: str
    qty: float
    avg_price: float
    entry_fees: float
    entry_ts: int
    entry_bar: int
    agent: str
    regime: str
    last_price: float
    unrealised_pnl: float


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """Everything a restart needs to resume (the equity history lives in the store)."""

    initial_cash: float
    cash: float
    equity: float
    realised_pnl: float
    fees: float
    slippage: float
    traded_notional: float
    peak_equity: float
    drawdown: float
    last_ts: int | None
    positions: tuple[PositionSnapshot, ...]
    prices: tuple[tuple[str, float], ...]   # latest price per symbol
    marks: tuple[tuple[str, int], ...]      # marks seen per symbol (for bars held)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (str, int, float, None, list, dict): ready for JSON."""
        data = asdict(self)
        data["prices"] = [list(pair) for pair in self.prices]
        data["marks"] = [list(pair) for pair in self.marks]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PortfolioSnapshot":
        fields = dict(data)
        fields["positions"] = tuple(PositionSnapshot(**p) for p in data["positions"])
        fields["prices"] = tuple((str(s), float(p)) for s, p in data["prices"])
        fields["marks"] = tuple((str(s), int(n)) for s, n in data["marks"])
        return cls(**fields)


@dataclass(frozen=True)
class EquityCurve:
    ts: np.ndarray        # int64 ns UTC, one row per marked bar
    equity: np.ndarray    # float64
    exposure: np.ndarray  # bool: any position open at the mark


class Portfolio:
    def __init__(self, initial_cash: float) -> None:
        if not (isinstance(initial_cash, (int, float)) and 0.0 < initial_cash < math.inf):
            raise ValueError(f"initial_cash = {initial_cash!r}: expected a finite amount > 0")
        self._initial = float(initial_cash)
        self._reset(self._initial)

    def _reset(self, cash: float) -> None:
        self._cash = cash
        self._realised = 0.0
        self._fees = 0.0
        self._slippage = 0.0
        self._notional = 0.0
        self._peak = cash
        self._positions: dict[str, _Position] = {}   # open positions only
        self._prices: dict[str, float] = {}
        self._marks: dict[str, int] = {}
        self._last_ts: int | None = None
        # array.array appends in amortised O(1) without a Python object per bar.
        self._curve_ts = array("q")
        self._curve_equity = array("d")
        self._curve_exposure = array("b")

    # --- reading ---------------------------------------------------------------------------

    @property
    def initial_cash(self) -> float:
        return self._initial

    @property
    def cash(self) -> float:
        return self._cash

    @property
    def realised_pnl(self) -> float:
        return self._realised

    @property
    def fees(self) -> float:
        """Cumulative commission."""
        return self._fees

    @property
    def slippage(self) -> float:
        """Cumulative slippage cost in money (already paid through fill prices)."""
        return self._slippage

    @property
    def traded_notional(self) -> float:
        return self._notional

    @property
    def equity(self) -> float:
        equity = self._cash
        prices = self._prices
        for symbol, pos in self._positions.items():
            equity += pos.qty * prices[symbol]
        return equity

    @property
    def market_value(self) -> float:
        """Signed value of the open positions at their latest prices (shorts count negative)."""
        return self.equity - self._cash

    @property
    def unrealised_pnl(self) -> float:
        prices = self._prices
        return sum((prices[s] - p.avg_price) * p.qty - p.entry_fees for s, p in self._positions.items())

    @property
    def peak_equity(self) -> float:
        """Highest equity at a mark (or the initial cash)."""
        return self._peak

    @property
    def drawdown(self) -> float:
        """Fraction <= 0 below the peak equity."""
        equity = self.equity
        return min(equity / self._peak - 1.0, 0.0)

    def position(self, symbol: str) -> float:
        """Signed shares: > 0 long, < 0 short, 0.0 flat."""
        pos = self._positions.get(symbol)
        return 0.0 if pos is None else pos.qty

    def positions(self) -> tuple[PositionSnapshot, ...]:
        prices = self._prices
        return tuple(
            PositionSnapshot(
                s, p.qty, p.avg_price, p.entry_fees, p.entry_ts, p.entry_bar, p.agent, p.regime,
                prices[s], (prices[s] - p.avg_price) * p.qty - p.entry_fees,
            )
            for s, p in self._positions.items()
        )

    def curve(self) -> EquityCurve:
        """A copy of the equity curve recorded by `mark` since creation or restore."""
        return EquityCurve(
            np.frombuffer(self._curve_ts, dtype=np.int64).copy(),
            np.frombuffer(self._curve_equity, dtype=np.float64).copy(),
            np.frombuffer(self._curve_exposure, dtype=np.int8).astype(bool),
        )

    # --- updating --------------------------------------------------------------------------

    def mark(self, ts: int, symbol: str, price: float) -> float:
        """Value `symbol` at `price` and record (ts, equity) once per bar; returns the equity.

        Marks of several symbols at the same ts give one curve point (the last one wins).
        """
        if not 0.0 < price < _INF:
            raise ValueError(f"mark price for {symbol!r} = {price!r}: expected a finite price > 0")
        last = self._last_ts
        if last is not None and ts < last:
            raise ValueError(f"mark ts = {ts} for {symbol!r} is before the previous mark ts = {last}")
        self._prices[symbol] = price
        self._marks[symbol] = self._marks.get(symbol, 0) + 1
        equity = self.equity
        if equity > self._peak:
            self._peak = equity
        exposed = 1 if self._positions else 0
        if ts == last and self._curve_ts:
            self._curve_equity[-1] = equity
            self._curve_exposure[-1] = exposed
        else:
            self._curve_ts.append(ts)
            self._curve_equity.append(equity)
            self._curve_exposure.append(exposed)
            self._last_ts = ts
        return equity

    def apply_fill(self, fill: Fill) -> Trade | None:
        """Book one fill; returns the closed Trade when it reduces, closes or flips a position."""
        _check_fill(fill)
        sign = 1 if fill.side is _BUY else -1
        self._cash -= sign * fill.qty * fill.price + fill.commission
        self._fees += fill.commission
        self._slippage += fill.slippage
        self._notional += fill.qty * fill.price
        self._prices[fill.symbol] = fill.price
        pos = self._positions.get(fill.symbol)
        if pos is None:
            self._open(fill, fill.qty, fill.commission)
            return None
        if pos.qty * sign > 0:
            held = abs(pos.qty)
            pos.avg_price = (pos.avg_price * held + fill.price * fill.qty) / (held + fill.qty)
            pos.qty += sign * fill.qty
            pos.entry_fees += fill.commission
            return None
        return self._reduce(pos, fill)

    def _open(self, fill: Fill, qty: float, commission: float) -> None:
        self._positions[fill.symbol] = _Position(
            qty if fill.side is _BUY else -qty, fill.price, commission, fill.ts, self._marks.get(fill.symbol, 0),
            fill.agent, fill.regime,
        )

    def _reduce(self, pos: _Position, fill: Fill) -> Trade:
        held = abs(pos.qty)
        closing = fill.qty if fill.qty < held - QTY_EPS else held
        opening = fill.qty - closing
        exit_fees = fill.commission * closing / fill.qty
        entry_fees = pos.entry_fees * closing / held
        direction = 1 if pos.qty > 0 else -1
        fees = entry_fees + exit_fees
        trade = Trade(
            fill.symbol, PositionSide.LONG if direction > 0 else PositionSide.SHORT, closing,
            pos.entry_ts, pos.avg_price, fill.ts, fill.price,
            (fill.price - pos.avg_price) * closing * direction - fees, fees, pos.agent, pos.regime,
            self._marks.get(fill.symbol, 0) - pos.entry_bar,
        )
        self._realised += trade.pnl
        if closing == held:
            del self._positions[fill.symbol]
        else:
            pos.qty -= direction * closing
            pos.entry_fees -= entry_fees
        if opening > QTY_EPS:
            self._open(fill, opening, fill.commission - exit_fees)
        return trade

    # --- persistence -----------------------------------------------------------------------

    def snapshot(self) -> PortfolioSnapshot:
        return PortfolioSnapshot(
            self._initial, self._cash, self.equity, self._realised, self._fees, self._slippage, self._notional,
            self._peak, self.drawdown, self._last_ts, self.positions(),
            tuple(self._prices.items()), tuple(self._marks.items()),
        )

    def restore(self, snapshot: PortfolioSnapshot) -> None:
        """Resume from `snapshot`; the equity curve starts afresh from here."""
        missing = [p.symbol for p in snapshot.positions if p.symbol not in dict(snapshot.prices)]
        if missing:
            raise ValueError(f"portfolio snapshot has positions without a price: {missing}")
        self._initial = snapshot.initial_cash
        self._reset(snapshot.cash)
        self._realised = snapshot.realised_pnl
        self._fees = snapshot.fees
        self._slippage = snapshot.slippage
        self._notional = snapshot.traded_notional
        self._peak = snapshot.peak_equity
        self._last_ts = snapshot.last_ts
        self._prices = dict(snapshot.prices)
        self._marks = dict(snapshot.marks)
        self._positions = {
            p.symbol: _Position(p.qty, p.avg_price, p.entry_fees, p.entry_ts, p.entry_bar, p.agent, p.regime)
            for p in snapshot.positions
        }


def _check_fill(fill: Fill) -> None:
    if not isinstance(fill.side, Side):
        raise ValueError(f"fill {fill.order_id!r}: side = {fill.side!r}: expected Side.BUY or Side.SELL")
    if not 0.0 < fill.qty < _INF:
        raise ValueError(f"fill {fill.order_id!r}: qty = {fill.qty!r}: expected a finite number > 0")
    if not 0.0 < fill.price < _INF:
        raise ValueError(f"fill {fill.order_id!r}: price = {fill.price!r}: expected a finite number > 0")
    if not 0.0 <= fill.commission < _INF:
        raise ValueError(f"fill {fill.order_id!r}: commission = {fill.commission!r}: expected a finite amount >= 0")
    if not 0.0 <= fill.slippage < _INF:
        raise ValueError(f"fill {fill.order_id!r}: slippage = {fill.slippage!r}: expected a finite amount >= 0")
