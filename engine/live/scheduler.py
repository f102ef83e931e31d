"""The session clock: which part of the exchange day a moment is in, and the daily tasks due.

Times are exchange-local (America/New_York for US equities, daylight saving included) and
trading days come from `engine.data.calendar` (weekends and exchange holidays are closed).
Phases: PRE_MARKET 04:00-09:30, REGULAR 09:30-16:00, AFTER_HOURS 16:00-20:00, CLOSED
otherwise and all day on a non-trading day. Early closes are not modelled (see calendar).

Daily tasks, each at most once per trading day:
- PRE_MARKET from `pre_market_at` (default 09:00) until the close: the checks run before
  the day's first bar even when the loop starts late;
- MID_DAY from `mid_day_at` (12:30) until the close;
- EOD from the close (16:00). A day whose pre-market ran but whose close was never seen
  (the feed stopped early, the process was down) gets its EOD as soon as a later day is
  seen, before that day's own tasks, so every day that traded is summed up once.
The caller decides what "now" is: bar time in a replay, wall time in live trading.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from engine.data.calendar import is_trading_day

_NS = 1_000_000_000


class SessionPhase(StrEnum):
    CLOSED = "closed"
    PRE_MARKET = "pre_market"
    REGULAR = "regular"
    AFTER_HOURS = "after_hours"


class Task(StrEnum):
    PRE_MARKET = "pre_market"
    MID_DAY = "mid_day"
    EOD = "eod"


@dataclass(frozen=True, slots=True)
class Due:
    task: Task
    day: date


class SessionScheduler:
    def __init__(self, tz: str = "America/New_York", *, pre_market_open: time = time(4, 0),
                 regular_open: time = time(9, 30), regular_close: time = time(16, 0),
                 after_hours_close: time = time(20, 0), pre_market_at: time = time(9, 0),
                 mid_day_at: time = time(12, 30)) -> None:
        if not pre_market_open <= regular_open < regular_close <= after_hours_close:
            raise ValueError(
                f"session times {pre_market_open}, {regular_open}, {regular_close}, {after_hours_close}: "
                "expected pre-market open <= regular open < regular close <= after-hours close")
        for name, at in (("pre_market_at", pre_market_at), ("mid_day_at", mid_day_at)):
            if not at < regular_close:
                raise ValueError(f"{name} = {at}: expected a time before the close {regular_close}")
        self.zone = ZoneInfo(tz)
        self._pre_open, self._open, self._close, self._after = (
            pre_market_open, regular_open, regular_close, after_hours_close)
        self._at = {Task.PRE_MARKET: pre_market_at, Task.MID_DAY: mid_day_at, Task.EOD: regular_close}
        self._done: dict[Task, date | None] = {t: None for t in Task}
        self._open_day: date | None = None   # a day whose pre-market ran and whose EOD has not

    def local(self, ts_ns: int) -> datetime:
        return datetime.fromtimestamp(ts_ns / _NS, tz=timezone.utc).astimezone(self.zone)

    def phase(self, ts_ns: int) -> SessionPhase:
        now = self.local(ts_ns)
        if not is_trading_day(now.date()):
            return SessionPhase.CLOSED
        t = now.time()
        if self._open <= t < self._close:
            return SessionPhase.REGULAR
        if self._pre_open <= t < self._open:
            return SessionPhase.PRE_MARKET
        if self._close <= t < self._after:
            return SessionPhase.AFTER_HOURS
        return SessionPhase.CLOSED

    def due(self, ts_ns: int) -> list[Due]:
        """The tasks to run now, oldest first; each is marked done as it is returned."""
        now = self.local(ts_ns)
        today, t = now.date(), now.time()
        out: list[Due] = []
        if self._open_day is not None and self._open_day < today:
            out.append(self._fire(Task.EOD, self._open_day))
        if not is_trading_day(today):
            return out
        for task in Task:
            if self._done[task] == today:
                continue
            if task is Task.EOD:
                # Only a day that was seen trading is summed up (not one first seen after the close).
                if t >= self._close and self._open_day == today:
                    out.append(self._fire(task, today))
            elif self._at[task] <= t < self._close:
                out.append(self._fire(task, today))
        return out

    def _fire(self, task: Task, day: date) -> Due:
        self._done[task] = day
        if task is Task.PRE_MARKET:
            self._open_day = day
        elif task is Task.EOD and self._open_day == day:
            self._open_day = None
        return Due(task, day)

    # -- persistence (the live loop's checkpoint) ----------------------------------------
    def state(self) -> dict[str, Any]:
        return {"done": {t.value: (None if d is None else d.isoformat()) for t, d in self._done.items()},
                "open_day": None if self._open_day is None else self._open_day.isoformat()}

    def restore(self, state: dict[str, Any]) -> None:
        done = state["done"]
        self._done = {t: (None if done.get(t.value) is None else date.fromisoformat(done[t.value])) for t in Task}
        self._open_day = None if state["open_day"] is None else date.fromisoformat(state["open_day"])
