"""Exchange-local session days for UTC nanosecond timestamps.

The day key is the proleptic ordinal of the exchange-local date, so VWAP resets, daily loss
limits and daily counters all turn over at the same local midnight. The streaming form
caches the UTC span of the current local day, so a bar costs a comparison, not a time-zone
conversion.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

_NS = 1_000_000_000


def session_days(ts_ns: np.ndarray, tz: str) -> np.ndarray:
    """Vectorised: the exchange-local date ordinal (int64) of each UTC ns timestamp."""
    local = pd.DatetimeIndex(pd.to_datetime(ts_ns, unit="ns", utc=True)).tz_convert(tz)
    # Unix day number of the local wall-clock date, shifted to the proleptic ordinal.
    wall = local.tz_localize(None).as_unit("ns").asi8
    return wall // (86_400 * _NS) + date(1970, 1, 1).toordinal()


class SessionClock:
    """Streaming: `day(ts_ns)` -> the same ordinal as `session_days`, cached per local day."""

    def __init__(self, tz: str) -> None:
        self.zone = ZoneInfo(tz)
        self._start = 0
        self._end = -1
        self._day = 0

    def day(self, ts_ns: int) -> int:
        if self._start <= ts_ns < self._end:
            return self._day
        local = datetime.fromtimestamp(ts_ns / _NS, tz=timezone.utc).astimezone(self.zone)
        d = local.date()
        self._day = d.toordinal()
        self._start = _utc_ns(datetime.combine(d, time(), self.zone))
        self._end = _utc_ns(datetime.combine(d + timedelta(days=1), time(), self.zone))
        return self._day


def _utc_ns(moment: datetime) -> int:
    return int(moment.timestamp()) * _NS
