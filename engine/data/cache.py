"""A local SQLite cache of bars (SQLAlchemy 2), so nothing is downloaded twice.

One table keyed by (symbol, timeframe, ts); `ts` is the bar's open time as int64 ns UTC.
Saving is an upsert (INSERT ... ON CONFLICT DO UPDATE): saving an overlapping range again
replaces those bars and never duplicates them. WAL mode lets readers work while one
writer writes.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import (
    BigInteger, Column, Float, MetaData, SmallInteger, String, Table, func, select,
)
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from engine.config import CONFIG_DIR, load_settings
from engine.data.bar import BarSeries
from engine.persistence.db import sqlite_engine
from engine.data.timestamps import check_timezone, exchange_timezone, to_utc_ns

PROJECT_ROOT = CONFIG_DIR.parent
TIMEFRAME = re.compile(r"^[1-9][0-9]*(s|min|h|d|w)$")
_CHUNK = 50_000   # rows per executemany: bounded memory for big saves

metadata = MetaData()
bars_table = Table(
    "bars",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("timeframe", String(8), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("open", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("close", Float, nullable=False),
    Column("volume", Float, nullable=False),
    Column("phase", SmallInteger, nullable=True),   # true regime code, synthetic data only
    sqlite_with_rowid=False,
)
_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
_ROW_DTYPE = np.dtype([("ts", "i8"), *((name, "f8") for name in _PRICE_COLUMNS), ("phase", "i2")])


def _upsert_sql() -> str:
    statement = sqlite_insert(bars_table)
    statement = statement.on_conflict_do_update(
        index_elements=["symbol", "timeframe", "ts"],
        set_={name: statement.excluded[name] for name in (*_PRICE_COLUMNS, "phase")},
    )
    return str(statement.compile(dialect=sqlite_dialect()))


_UPSERT_SQL = _upsert_sql()


class Coverage(NamedTuple):
    first_ts: int   # ns UTC
    last_ts: int
    count: int


class CatalogEntry(NamedTuple):
    symbol: str
    timeframe: str
    coverage: Coverage


def timeframe_for(spacing_ns: int) -> str:
    """The cache's name for a bar spacing: 60 s -> '1min', one day -> '1d'."""
    for suffix, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        seconds, rest = divmod(spacing_ns, 1_000_000_000)
        if not rest and seconds and seconds % size == 0:
            return f"{seconds // size}{suffix}"
    raise ValueError(f"bar spacing of {spacing_ns} ns has no timeframe name (expected whole seconds)")


def default_cache_path() -> Path:
    """settings `data.cache_path`, relative paths taken from the project root."""
    path = Path(load_settings().data.cache_path)
    return path if path.is_absolute() else PROJECT_ROOT / path


class BarCache:
    """Bars on disk. `BarCache()` opens the configured cache, creating it if needed."""

    def __init__(self, path: str | Path | None = None, *, tz: str | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.tz = check_timezone(tz or exchange_timezone())   # for naive start/end in load()
        self._engine: Engine = sqlite_engine(self.path)
        metadata.create_all(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> "BarCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self, series: BarSeries, timeframe: str = "1min") -> int:
        """Insert or replace the series' bars; returns how many rows were written."""
        _check_timeframe(timeframe)
        if not series.symbol:
            raise ValueError("BarCache.save: the series has an empty symbol")
        n = len(series)
        rows = list(zip(
            [series.symbol] * n,
            [timeframe] * n,
            series.ts.astype(np.int64).tolist(),
            *(np.asarray(getattr(series, c), dtype=np.float64).tolist() for c in _PRICE_COLUMNS),
            [None] * n if series.phase is None else series.phase.astype(int).tolist(),
        ))
        with self._engine.begin() as conn:
            # Plain tuples through the driver: 5x faster than per-row parameter dicts.
            for start in range(0, n, _CHUNK):
                conn.exec_driver_sql(_UPSERT_SQL, rows[start:start + _CHUNK])
        return n

    def load(self, symbol: str, start: Any = None, end: Any = None, timeframe: str = "1min") -> BarSeries:
        """Bars with start <= ts < end (either may be None), oldest first.

        start/end: int ns UTC, aware datetimes/Timestamps, or naive ones or strings in the
        exchange time zone. Unknown (symbol, timeframe) is an error naming what is cached.
        """
        _check_timeframe(timeframe)
        c = bars_table.c
        query = select(c.ts, *(c[name] for name in _PRICE_COLUMNS), func.coalesce(c.phase, -1)).where(
            c.symbol == symbol, c.timeframe == timeframe
        )
        if start is not None:
            query = query.where(c.ts >= to_utc_ns(start, self.tz, "BarCache.load start"))
        if end is not None:
            query = query.where(c.ts < to_utc_ns(end, self.tz, "BarCache.load end"))
        compiled = query.order_by(c.ts).compile(dialect=self._engine.dialect)
        with self._engine.connect() as conn:
            # The raw cursor's tuples go straight into one structured array: no Row objects.
            cursor = conn.connection.cursor()
            cursor.execute(str(compiled), [compiled.params[key] for key in compiled.positiontup or ()])
            table = np.array(cursor.fetchall(), dtype=_ROW_DTYPE)
            cursor.close()
            if len(table) == 0 and not self._holds(conn, symbol, timeframe):
                cached = ", ".join(f"{e.symbol}/{e.timeframe}" for e in self.catalog()) or "nothing"
                raise ValueError(f"{self.path}: no {timeframe} bars for {symbol!r}; the cache holds {cached}")
        phase = table["phase"]
        return BarSeries(
            symbol, table["ts"].copy(), *(table[name].copy() for name in _PRICE_COLUMNS),
            phase=phase.astype(np.int8) if len(table) and (phase >= 0).all() else None,
        )

    @staticmethod
    def _holds(conn: Connection, symbol: str, timeframe: str) -> bool:
        c = bars_table.c
        query = select(c.ts).where(c.symbol == symbol, c.timeframe == timeframe).limit(1)
        return conn.execute(query).first() is not None

    def coverage(self, symbol: str, timeframe: str = "1min") -> Coverage | None:
        """(first ts, last ts, count) of the cached bars, or None when there are none."""
        query = select(func.min(bars_table.c.ts), func.max(bars_table.c.ts), func.count()).where(
            bars_table.c.symbol == symbol, bars_table.c.timeframe == timeframe
        )
        with self._engine.connect() as conn:
            first, last, count = conn.execute(query).one()
        return None if count == 0 else Coverage(int(first), int(last), int(count))

    def symbols(self) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.execute(select(bars_table.c.symbol).distinct().order_by(bars_table.c.symbol)).scalars())

    def catalog(self) -> list[CatalogEntry]:
        """Every (symbol, timeframe) cached, with its coverage."""
        c = bars_table.c
        query = (
            select(c.symbol, c.timeframe, func.min(c.ts), func.max(c.ts), func.count())
            .group_by(c.symbol, c.timeframe)
            .order_by(c.symbol, c.timeframe)
        )
        with self._engine.connect() as conn:
            return [
                CatalogEntry(symbol, timeframe, Coverage(int(first), int(last), int(count)))
                for symbol, timeframe, first, last, count in conn.execute(query)
            ]


def _check_timeframe(timeframe: str) -> None:
    if not isinstance(timeframe, str) or not TIMEFRAME.match(timeframe):
        raise ValueError(f"timeframe {timeframe!r} is not valid; expected e.g. '1min', '5min', '1h', '1d'")
