"""Trading sessions in the app database: orders, fills, trades, equity and the latest checkpoint.

`commit_step` writes one bar's orders, fills, closed trades, equity point and the engine's
checkpoint in ONE transaction, so after a crash the database holds either all of a step or
none of it. The live loop commits before it tells anyone else about the step, so a fill the
GUI or the log has reported is always in the database. Commits are idempotent: the rows
of a step are keyed by (session, order id), (session, fill seq), (session, trade seq) and
(session, step), and writing the same step again replaces them.

Fill and trade sequence numbers count the session's fills and trades from 1; a step's first
number follows the highest one of the earlier steps, so a re-committed step gets the same
numbers again.

Schema history: version 1 had no event-log offset on checkpoints, so a restart could repeat
the log lines of a step that was written to the log but never committed; version 2 adds it
(NULL for checkpoints written before, meaning "unknown: leave the log as it is").
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (BigInteger, Connection, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, select, text, update)
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Mapped, mapped_column

from engine.engine import StepResult
from engine.execution.orders import Fill, Order, OrderType, Side
from engine.persistence import checkpoint
from engine.persistence.db import Base, Database
from engine.portfolio.trades import PositionSide, Trade

SCHEMA_VERSION = 2
COMPONENT = "live_sessions"


class SessionRow(Base):
    __tablename__ = "live_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    broker: Mapped[str] = mapped_column(String(16), nullable=False)
    feed: Mapped[str] = mapped_column(Text, nullable=False)        # what bars the session trades
    order_prefix: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)


class OrderRow(Base):
    __tablename__ = "live_orders"
    __table_args__ = (UniqueConstraint("session_id", "order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), nullable=False)
    order_id: Mapped[str] = mapped_column(String(64), nullable=False)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    side: Mapped[str] = mapped_column(String(4), nullable=False)
    qty: Mapped[float] = mapped_column(Float, nullable=False)
    type: Mapped[str] = mapped_column(String(8), nullable=False)
    limit_price: Mapped[float | None] = mapped_column(Float, nullable=True)
    agent: Mapped[str] = mapped_column(String(64), nullable=False)
    regime: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)


class FillRow(Base):
    __tablename__ = "live_fills"
    __table_args__ = (UniqueConstraint("session_id", "seq"), Index("ix_live_fills_step", "session_id", "step", "seq"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    order_id: Mapped[str] = mapped_column(String(64), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    side: Mapped[str] = mapped_column(String(4), nullable=False)
    qty: Mapped[float] = mapped_column(Float, nullable=False)
    price: Mapped[float] = mapped_column(Float, nullable=False)
    commission: Mapped[float] = mapped_column(Float, nullable=False)
    slippage: Mapped[float] = mapped_column(Float, nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    agent: Mapped[str] = mapped_column(String(64), nullable=False)
    regime: Mapped[str] = mapped_column(String(32), nullable=False)


class TradeRow(Base):
    __tablename__ = "live_trades"
    __table_args__ = (UniqueConstraint("session_id", "seq"), Index("ix_live_trades_step", "session_id", "step", "seq"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    qty: Mapped[float] = mapped_column(Float, nullable=False)
    entry_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    entry_price: Mapped[float] = mapped_column(Float, nullable=False)
    exit_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    exit_price: Mapped[float] = mapped_column(Float, nullable=False)
    pnl: Mapped[float] = mapped_column(Float, nullable=False)
    fees: Mapped[float] = mapped_column(Float, nullable=False)
    agent: Mapped[str] = mapped_column(String(64), nullable=False)
    regime: Mapped[str] = mapped_column(String(32), nullable=False)
    bars_held: Mapped[int] = mapped_column(Integer, nullable=False)


class EquityRow(Base):
    __tablename__ = "live_equity"

    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    equity: Mapped[float] = mapped_column(Float, nullable=False)
    cash: Mapped[float] = mapped_column(Float, nullable=False)
    position: Mapped[float] = mapped_column(Float, nullable=False)
    drawdown: Mapped[float] = mapped_column(Float, nullable=False)
    regime: Mapped[int] = mapped_column(Integer, nullable=False)
    trading_state: Mapped[str] = mapped_column(String(16), nullable=False)


class CheckpointRow(Base):
    __tablename__ = "live_checkpoints"

    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, nullable=False)          # engine index of the last bar
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)         # open time of that bar, ns UTC
    event_offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    updated_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)


def _add_event_offset(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE live_checkpoints ADD COLUMN event_offset BIGINT"))


UPGRADES = {1: _add_event_offset}


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: int
    name: str
    symbol: str
    broker: str
    feed: str
    order_prefix: str
    status: str
    created_ns: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    session_id: int
    step: int
    ts: int
    event_offset: int | None     # bytes of the event log written up to this commit; None if unknown
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredFill:
    seq: int
    step: int
    fill: Fill


@dataclass(frozen=True)
class EquitySeries:
    step: np.ndarray       # int64
    ts: np.ndarray         # int64 ns UTC
    equity: np.ndarray
    cash: np.ndarray
    position: np.ndarray
    drawdown: np.ndarray


class SessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create_tables()
        db.ensure_schema(COMPONENT, SCHEMA_VERSION, UPGRADES)

    # -- sessions -------------------------------------------------------------------------
    def open_session(self, name: str, symbol: str, broker: str, feed: str) -> SessionInfo:
        """The session called `name`, created if new; resuming must trade the same symbol,
        broker and feed, or the replayed bars would not rebuild the state."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"session name = {name!r}: expected a non-empty string")
        with self.db.session() as s:
            row = s.scalar(select(SessionRow).where(SessionRow.name == name))
            if row is None:
                now = time.time_ns()
                row = SessionRow(name=name, symbol=symbol, broker=broker, feed=feed,
                                 order_prefix=f"fb{now // 1_000_000:x}", status="new", created_ns=now, updated_ns=now)
                s.add(row)
                s.flush()
            else:
                for what, stored, given in (("symbol", row.symbol, symbol), ("broker", row.broker, broker),
                                            ("feed", row.feed, feed)):
                    if stored != given:
                        raise ValueError(f"session {name!r} was started with {what} = {stored!r}, not {given!r}; "
                                         f"resume it with the same {what} or choose another --session name")
            return _info(row)

    def sessions(self) -> list[SessionInfo]:
        with self.db.session() as s:
            return [_info(r) for r in s.scalars(select(SessionRow).order_by(SessionRow.id))]

    def find_session(self, name: str) -> SessionInfo | None:
        with self.db.session() as s:
            row = s.scalar(select(SessionRow).where(SessionRow.name == name))
            return None if row is None else _info(row)

    def set_status(self, session_id: int, status: str) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(update(SessionRow).where(SessionRow.id == session_id)
                         .values(status=status, updated_ns=time.time_ns()))

    # -- writing --------------------------------------------------------------------------
    def commit_step(self, session_id: int, result: StepResult, doc: dict[str, Any],
                    event_offset: int | None = None) -> None:
        """One bar's orders, fills, trades, equity point and checkpoint, in one transaction."""
        body = checkpoint.dumps(doc)
        step = result.index
        with self.db.engine.begin() as conn:
            if result.orders:
                _upsert_orders(conn, session_id, step, result.orders)
            if result.fills:
                first = _next_seq(conn, FillRow, session_id, step)
                rows = [_fill_values(session_id, first + k, step, f) for k, f in enumerate(result.fills)]
                conn.execute(_UPSERT_FILL, rows)
            if result.trades:
                first = _next_seq(conn, TradeRow, session_id, step)
                rows = [_trade_values(session_id, first + k, step, t) for k, t in enumerate(result.trades)]
                conn.execute(_UPSERT_TRADE, rows)
            point = {"session_id": session_id, "step": step, "ts": result.ts, "equity": result.equity,
                     "cash": result.cash, "position": result.position, "drawdown": result.drawdown,
                     "regime": int(result.regime.regime), "trading_state": result.trading_state.value}
            conn.execute(_UPSERT_EQUITY, point)
            _write_checkpoint(conn, session_id, step, result.ts, event_offset, body)

    def commit_state(self, session_id: int, step: int, ts: int, doc: dict[str, Any],
                     orders: tuple[Order, ...] = (), event_offset: int | None = None) -> None:
        """A checkpoint between bars (after a kill, a re-arm or a resume) with any orders it sent."""
        body = checkpoint.dumps(doc)
        with self.db.engine.begin() as conn:
            if orders:
                _upsert_orders(conn, session_id, step, orders)
            _write_checkpoint(conn, session_id, step, ts, event_offset, body)

    # -- reading --------------------------------------------------------------------------
    def checkpoint(self, session_id: int) -> Checkpoint | None:
        with self.db.session() as s:
            row = s.get(CheckpointRow, session_id)
            if row is None:
                return None
            return Checkpoint(session_id, row.step, row.ts, row.event_offset, checkpoint.loads(row.body))

    def orders(self, session_id: int) -> list[Order]:
        with self.db.session() as s:
            rows = s.scalars(select(OrderRow).where(OrderRow.session_id == session_id).order_by(OrderRow.step, OrderRow.id))
            return [Order(r.order_id, r.symbol, Side(r.side), r.qty, OrderType(r.type), r.limit_price, r.ts,
                          r.agent, r.regime, r.reason) for r in rows]

    def fills(self, session_id: int) -> list[StoredFill]:
        with self.db.session() as s:
            rows = s.scalars(select(FillRow).where(FillRow.session_id == session_id).order_by(FillRow.seq))
            return [StoredFill(r.seq, r.step, Fill(r.order_id, r.symbol, Side(r.side), r.qty, r.price, r.commission,
                                                   r.slippage, r.ts, r.agent, r.regime)) for r in rows]

    def trades(self, session_id: int) -> list[Trade]:
        with self.db.session() as s:
            rows = s.scalars(select(TradeRow).where(TradeRow.session_id == session_id).order_by(TradeRow.seq))
            return [Trade(r.symbol, PositionSide(r.side), r.qty, r.entry_ts, r.entry_price, r.exit_ts, r.exit_price,
                          r.pnl, r.fees, r.agent, r.regime, r.bars_held) for r in rows]

    def equity(self, session_id: int) -> EquitySeries:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(EquityRow.step, EquityRow.ts, EquityRow.equity, EquityRow.cash, EquityRow.position,
                       EquityRow.drawdown).where(EquityRow.session_id == session_id).order_by(EquityRow.step)
            ).all()
        cols = list(zip(*rows)) if rows else [()] * 6
        return EquitySeries(np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=np.int64),
                            *(np.array(c, dtype=np.float64) for c in cols[2:]))


def _info(row: SessionRow) -> SessionInfo:
    return SessionInfo(row.id, row.name, row.symbol, row.broker, row.feed, row.order_prefix, row.status,
                       row.created_ns)


def _upsert(model: type[Base], keys: tuple[str, ...]) -> Any:
    """INSERT .. ON CONFLICT(keys) DO UPDATE of every other column, built once per table
    (building one costs ~0.4 ms, more than the write itself)."""
    stmt = insert(model)
    table = model.__table__
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys and c.name != "id"},
    )


_UPSERT_ORDER = _upsert(OrderRow, ("session_id", "order_id"))
_UPSERT_FILL = _upsert(FillRow, ("session_id", "seq"))
_UPSERT_TRADE = _upsert(TradeRow, ("session_id", "seq"))
_UPSERT_EQUITY = _upsert(EquityRow, ("session_id", "step"))
_UPSERT_CHECKPOINT = _upsert(CheckpointRow, ("session_id",))


def _next_seq(conn: Connection, model: type[FillRow] | type[TradeRow], session_id: int, step: int) -> int:
    """1 + the highest sequence number of the session's earlier steps (index lookup, O(log n))."""
    last = conn.scalar(select(model.seq).where(model.session_id == session_id, model.step < step)
                       .order_by(model.step.desc(), model.seq.desc()).limit(1))
    return 1 if last is None else last + 1


def _upsert_orders(conn: Connection, session_id: int, step: int, orders: tuple[Order, ...]) -> None:
    rows = [{"session_id": session_id, "order_id": o.id, "step": step, "ts": o.ts, "symbol": o.symbol,
             "side": o.side.value, "qty": o.qty, "type": o.type.value, "limit_price": o.limit_price,
             "agent": o.agent, "regime": o.regime, "reason": o.reason} for o in orders]
    conn.execute(_UPSERT_ORDER, rows)


def _fill_values(session_id: int, seq: int, step: int, f: Fill) -> dict[str, Any]:
    return {"session_id": session_id, "seq": seq, "step": step, "order_id": f.order_id, "symbol": f.symbol,
            "side": f.side.value, "qty": f.qty, "price": f.price, "commission": f.commission,
            "slippage": f.slippage, "ts": f.ts, "agent": f.agent, "regime": f.regime}


def _trade_values(session_id: int, seq: int, step: int, t: Trade) -> dict[str, Any]:
    return {"session_id": session_id, "seq": seq, "step": step, "symbol": t.symbol, "side": t.side.value,
            "qty": t.qty, "entry_ts": t.entry_ts, "entry_price": t.entry_price, "exit_ts": t.exit_ts,
            "exit_price": t.exit_price, "pnl": t.pnl, "fees": t.fees, "agent": t.agent, "regime": t.regime,
            "bars_held": t.bars_held}


def _write_checkpoint(conn: Connection, session_id: int, step: int, ts: int, event_offset: int | None,
                      body: str) -> None:
    values = {"session_id": session_id, "step": step, "ts": ts, "event_offset": event_offset, "body": body,
              "updated_ns": time.time_ns()}
    conn.execute(_UPSERT_CHECKPOINT, values)
