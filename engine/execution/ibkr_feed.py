"""One-minute bars from Interactive Brokers' 5-second real-time bars.

`MinuteBarAggregator` is the arithmetic: 5-second bars, each stamped with its start time, merge
into the minute that contains that start (open of the first, high max, low min, close of the
last, volumes summed). A minute is emitted as soon as its last 5-second bar (start at :55)
arrives, or else when a bar of a later minute arrives (IB skipped a piece, or the connection
dropped): such a minute is built from the pieces that came. Bars at or before the last one
taken (a resend after resubscribing) are ignored. A negative volume, IB's "not applicable" for
BID/ASK/MIDPOINT bars, counts as 0.

`IBBarFeed.bars()` is an async iterator of `Bar`s (ts = minute open, int ns UTC) that runs on
the engine loop, like the broker: it subscribes with `ib.reqRealTimeBars` and subscribes again
after every reconnect (ib_async drops all subscriptions when the connection goes).
"""
from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ib_async import IB, Contract, RealTimeBar, RealTimeBarList

from engine.data.bar import Bar, ns_since_epoch
from engine.execution.ibkr_mapping import stock_contract

MINUTE_NS = 60_000_000_000
PIECE_NS = 5_000_000_000
_LAST_PIECE = MINUTE_NS - PIECE_NS


@dataclass(slots=True)
class _Minute:
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class MinuteBarAggregator:
    """Merges 5-second bars of one symbol into 1-minute `Bar`s."""

    __slots__ = ("symbol", "_minute", "_last_piece")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._minute: _Minute | None = None
        self._last_piece: int | None = None

    def add(self, ts: int, open: float, high: float, low: float, close: float, volume: float) -> list[Bar]:
        """Take the 5-second bar starting at `ts` (ns UTC); return the minutes it completes (0 to 2)."""
        _check_piece(self.symbol, ts, open, high, low, close, volume)
        if self._last_piece is not None and ts <= self._last_piece:
            return []
        self._last_piece = ts
        volume = max(volume, 0.0)
        start = ts - ts % MINUTE_NS
        done: list[Bar] = []
        minute = self._minute
        if minute is not None and minute.start != start:
            done.append(self._bar(minute))
            minute = None
        if minute is None:
            minute = _Minute(start, open, high, low, close, volume)
        else:
            minute.high = max(minute.high, high)
            minute.low = min(minute.low, low)
            minute.close = close
            minute.volume += volume
        if ts - start == _LAST_PIECE:
            done.append(self._bar(minute))
            minute = None
        self._minute = minute
        return done

    def flush(self) -> Bar | None:
        """The unfinished minute, if any (at the end of a session or a feed)."""
        minute, self._minute = self._minute, None
        return None if minute is None else self._bar(minute)

    def _bar(self, m: _Minute) -> Bar:
        return Bar(self.symbol, m.start, m.open, m.high, m.low, m.close, m.volume)


def _check_piece(symbol: str, ts: int, o: float, h: float, low: float, c: float, v: float) -> None:
    if ts % PIECE_NS:
        raise ValueError(f"{symbol} 5-second bar ts = {ts}: expected a multiple of 5 s in ns")
    prices = (o, h, low, c)
    if not all(math.isfinite(p) and p > 0.0 for p in prices) or not math.isfinite(v):
        raise ValueError(f"{symbol} 5-second bar at {ts}: prices {prices}, volume {v}: expected finite, prices > 0")
    if not low <= min(o, c) <= max(o, c) <= h:
        raise ValueError(f"{symbol} 5-second bar at {ts}: open {o}, high {h}, low {low}, close {c}: "
                         "expected low <= open, close <= high")


class IBBarFeed:
    """Live 1-minute bars of one symbol from IB's 5-second real-time bars."""

    def __init__(self, ib: IB, symbol: str, contract: Contract | None = None, *,
                 what_to_show: str = "TRADES", use_rth: bool = False) -> None:
        self.ib = ib
        self.symbol = symbol
        self.contract = contract if contract is not None else stock_contract(symbol)
        self.what_to_show = what_to_show
        self.use_rth = use_rth
        self.aggregator = MinuteBarAggregator(symbol)
        self._subscription: RealTimeBarList | None = None
        self._queue: asyncio.Queue[Bar] | None = None

    async def bars(self) -> AsyncIterator[Bar]:
        """Completed minutes, as they complete; subscribes on the running loop."""
        self._queue = asyncio.Queue()
        self.ib.connectedEvent += self._subscribe
        try:
            if self.ib.isConnected():
                self._subscribe()
            while True:
                yield await self._queue.get()
        finally:
            self.ib.connectedEvent -= self._subscribe
            self._unsubscribe()

    def _subscribe(self) -> None:
        self._unsubscribe()
        bars = self.ib.reqRealTimeBars(self.contract, 5, self.what_to_show, self.use_rth)
        bars.updateEvent += self._on_update
        self._subscription = bars

    def _unsubscribe(self) -> None:
        bars, self._subscription = self._subscription, None
        if bars is None:
            return
        bars.updateEvent -= self._on_update
        if self.ib.isConnected():
            self.ib.cancelRealTimeBars(bars)

    def _on_update(self, bars: RealTimeBarList, has_new_bar: bool) -> None:
        if not has_new_bar or not bars:
            return
        piece: RealTimeBar = bars[-1]
        assert self._queue is not None
        for bar in self.aggregator.add(ns_since_epoch(piece.time), piece.open_, piece.high, piece.low,
                                       piece.close, piece.volume):
            self._queue.put_nowait(bar)
