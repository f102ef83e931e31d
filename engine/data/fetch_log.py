"""Which time windows of a bar series were downloaded in full, kept beside the bar cache.

The bar cache knows which bars it holds, not which ranges were asked for: a holiday, a
weekend or a quiet night holds no bars yet was fetched all the same, and the first and last
cached bars say nothing about a month missing in between. So each completed download
records its window [start, end) here (ns UTC, half-open), merged with the windows already
recorded for the same (source, symbol, timeframe); a later request fetches only what no
recorded window covers.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import BigInteger, Column, MetaData, String, Table, delete, insert, select
from sqlalchemy.engine import Engine

from engine.persistence.db import sqlite_engine

Window = tuple[int, int]   # [start_ns, end_ns)

metadata = MetaData()
fetched_windows = Table(
    "fetched_windows",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("timeframe", String(8), primary_key=True),
    Column("start_ns", BigInteger, primary_key=True),
    Column("end_ns", BigInteger, nullable=False),
)


def merge_windows(windows: Iterable[Window]) -> list[Window]:
    """Sorted, disjoint windows covering the same instants; touching windows join."""
    merged: list[Window] = []
    for start, end in sorted(w for w in windows if w[0] < w[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def missing_windows(want: Window, have: Sequence[Window]) -> list[Window]:
    """The parts of `want` that no window of `have` covers, oldest first."""
    start, end = want
    gaps: list[Window] = []
    cursor = start
    for have_start, have_end in merge_windows(have):
        if have_end <= cursor:
            continue
        if have_start >= end:
            break
        if have_start > cursor:
            gaps.append((cursor, have_start))
        cursor = max(cursor, have_end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


class FetchLog:
    """Recorded download windows in the SQLite file at `path` (the bar cache's file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._engine: Engine = sqlite_engine(self.path)
        metadata.create_all(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def windows(self, source: str, symbol: str, timeframe: str) -> list[Window]:
        c = fetched_windows.c
        query = (
            select(c.start_ns, c.end_ns)
            .where(c.source == source, c.symbol == symbol, c.timeframe == timeframe)
            .order_by(c.start_ns)
        )
        with self._engine.connect() as conn:
            return [(int(start), int(end)) for start, end in conn.execute(query)]

    def record(self, source: str, symbol: str, timeframe: str, window: Window) -> None:
        """Add a fully downloaded window, merging it with those already recorded."""
        start, end = window
        if start >= end:
            raise ValueError(f"FetchLog.record: window [{start}, {end}) is empty; expected start < end")
        c = fetched_windows.c
        key = (c.source == source, c.symbol == symbol, c.timeframe == timeframe)
        with self._engine.begin() as conn:
            held = [(int(s), int(e)) for s, e in conn.execute(select(c.start_ns, c.end_ns).where(*key))]
            conn.execute(delete(fetched_windows).where(*key))
            conn.execute(insert(fetched_windows), [
                {"source": source, "symbol": symbol, "timeframe": timeframe, "start_ns": s, "end_ns": e}
                for s, e in merge_windows([*held, window])
            ])
