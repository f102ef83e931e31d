"""Bar feeds for the live loop: a replay paced in wall time, and any iterator of bars.

A feed is an iterable of `Bar` that may block between bars. More methods let the loop
drive it: `replay_until(ts)` hands over the bars up to `ts` at once (a restart re-feeds
the bars it already traded, to rebuild the indicators); `close()`, callable from any
thread or a signal handler, ends the iteration at the next bar or wakes a paced wait; and
`wake()`, callable from any thread, makes a feed that is waiting for its next bar call the
`on_idle` callback in the consumer's thread, so a kill switch is carried out now rather than
when the next bar comes (a minute later, live).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from engine.data.bar import Bar

_NS = 1_000_000_000


class Feed(Protocol):
    def __iter__(self) -> Iterator[Bar]: ...

    def replay_until(self, ts: int) -> None:
        """Deliver bars with open time <= ts without waiting."""
        ...

    def close(self) -> None: ...

    def on_idle(self, callback: Callable[[], None]) -> None:
        """Call `callback` (in the iterating thread, between bars) after each `wake()`."""
        ...

    def wake(self) -> None: ...


class IteratorFeed:
    """Bars from any iterable (a live source paces itself by blocking in `next`)."""

    def __init__(self, bars: Iterable[Bar]) -> None:
        self._bars = bars
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[Bar]:
        for bar in self._bars:
            if self._closed.is_set():
                return
            yield bar

    def replay_until(self, ts: int) -> None:
        """Nothing to do: this feed never waits."""

    def close(self) -> None:
        self._closed.set()

    def on_idle(self, callback: Callable[[], None]) -> None:
        """Nothing to call: the bars' own source blocks, and cannot be woken."""

    def wake(self) -> None:
        """Nothing to wake (see `on_idle`): commands wait for the next bar."""


class ReplayFeed:
    """Recorded bars replayed at `speed` times real time (None: as fast as possible).

    The wall-time gap between two bars is their time gap, capped at `max_gap_seconds` (one
    bar by default), divided by `speed`: nights and weekends are skipped, not waited out.
    Pacing is against a schedule, so the consumer's time per bar does not add drift; a
    consumer slower than the schedule is not made to catch up in a burst.
    """

    def __init__(self, bars: Iterable[Bar], speed: float | None = None, *, max_gap_seconds: float = 60.0) -> None:
        if speed is not None and not 0.0 < speed < float("inf"):
            raise ValueError(f"replay speed = {speed!r}: expected a finite number > 0, or None for as fast as possible")
        if not max_gap_seconds > 0.0:
            raise ValueError(f"max_gap_seconds = {max_gap_seconds!r}: expected > 0")
        self._bars = bars
        self._speed = speed
        self._max_gap_ns = int(max_gap_seconds * _NS)
        self._unpaced_until: int | None = None
        self._closed = threading.Event()
        self._woken = threading.Event()
        self._idle: Callable[[], None] | None = None

    def replay_until(self, ts: int) -> None:
        self._unpaced_until = ts

    def close(self) -> None:
        self._closed.set()
        self._woken.set()

    def on_idle(self, callback: Callable[[], None]) -> None:
        self._idle = callback

    def wake(self) -> None:
        self._woken.set()

    def _wait_until(self, due: float) -> bool:
        """Wait for `due` (monotonic seconds), serving wake-ups; False if closed meanwhile."""
        while (wait := due - time.monotonic()) > 0.0:
            if self._woken.wait(wait):
                if self._closed.is_set():
                    return False
                self._woken.clear()
                if self._idle is not None:
                    self._idle()
        return not self._closed.is_set()

    def __iter__(self) -> Iterator[Bar]:
        closed = self._closed
        previous: int | None = None
        due = time.monotonic()
        for bar in self._bars:
            if closed.is_set():
                return
            unpaced = self._unpaced_until is not None and bar.ts <= self._unpaced_until
            if self._speed is not None and previous is not None and not unpaced:
                gap = min(max(bar.ts - previous, 0), self._max_gap_ns) / _NS / self._speed
                due = max(due + gap, time.monotonic())   # after a stall, carry on from now rather than rush
                if not self._wait_until(due):
                    return
            else:
                due = time.monotonic()
            previous = bar.ts
            yield bar
