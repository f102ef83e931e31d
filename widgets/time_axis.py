"""The shared time line: x = absolute bar number, labelled in exchange time.

Charts plot against the bar number rather than the clock so nights and weekends leave no
empty gaps. `BarClock` remembers each bar's timestamp; `TimeAxisItem` puts ticks on round
exchange-time boundaries (minutes, hours, days) found in the visible bars.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from app.theme import EXCHANGE_TZ_LABEL, exchange_time
from widgets.ring import RingBuffer

_MINUTE = 60 * 10**9
_DAY = 24 * 60 * _MINUTE
# Candidate tick steps in ns, finest first.
_STEPS = tuple(m * _MINUTE for m in (1, 2, 5, 10, 15, 30, 60, 120, 240)) + tuple(
    d * _DAY for d in (1, 2, 5, 10, 20, 60, 120, 250)
)
_LABEL_PX = 80          # room one tick label needs
_SAMPLE = 4000          # bars inspected to choose the step (strided when zoomed far out)


class BarClock:
    """Timestamps (ns UTC) of the last `capacity` bars, addressable by absolute bar number."""

    def __init__(self, capacity: int) -> None:
        self._ts = RingBuffer(capacity, np.int64)

    def extend(self, ts: np.ndarray) -> np.ndarray:
        """Record new bars; returns their absolute bar numbers as float x values."""
        start = self._ts.total
        self._ts.extend(ts)
        return np.arange(start, self._ts.total, dtype=np.float64)

    @property
    def total(self) -> int:
        return self._ts.total

    @property
    def first_index(self) -> int:
        return self._ts.first_index

    def timestamps(self) -> np.ndarray:
        return self._ts.view()

    def ts_at(self, index: float) -> int | None:
        i = int(round(index)) - self._ts.first_index
        held = self._ts.view()
        return int(held[i]) if 0 <= i < len(held) else None

    def index_of(self, ts: np.ndarray) -> np.ndarray:
        """Bar number of the bar at or just before each timestamp (clamped to held bars)."""
        held = self._ts.view()
        if len(held) == 0:
            return np.zeros(len(ts), dtype=np.float64)
        pos = np.searchsorted(held, np.asarray(ts, dtype=np.int64), side="right") - 1
        return (np.clip(pos, 0, len(held) - 1) + self._ts.first_index).astype(np.float64)


def _utc_offset_ns(ts_ns: int) -> int:
    offset = exchange_time(ts_ns).utcoffset()
    return int(offset.total_seconds()) * 10**9 if offset is not None else 0


def choose_ticks(ts: np.ndarray, first: int, max_ticks: int) -> tuple[int, np.ndarray]:
    """(step ns, bar numbers) of round exchange-time boundaries within the bars `ts`.

    `ts` are the visible bars' timestamps, `first` the bar number of ts[0]. A tick sits on the
    first bar of each new step bucket (local time), using the finest step that fits.
    """
    if len(ts) < 2:
        return _STEPS[0], np.empty(0, dtype=np.float64)
    local = ts + _utc_offset_ns(int(ts[-1]))
    stride = max(1, len(local) // _SAMPLE)
    sample = local[::stride]
    step = _STEPS[-1]
    for candidate in _STEPS:
        if np.count_nonzero(np.diff(sample // candidate)) <= max_ticks:
            step = candidate
            break
    buckets = np.unique(sample // step)
    positions = np.searchsorted(local, buckets * step, side="left")
    positions = positions[(positions > 0) & (positions < len(local))]
    return step, np.unique(positions).astype(np.float64) + first


class TimeAxisItem(pg.AxisItem):
    """Bottom axis of the bar-number charts, labelled in exchange time."""

    def __init__(self, clock: BarClock, **kwargs: object) -> None:
        super().__init__(orientation="bottom", **kwargs)
        self._clock = clock
        self._step = _STEPS[0]

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802
        clock = self._clock
        lo = max(math.ceil(minVal), clock.first_index)
        hi = min(math.floor(maxVal), clock.total - 1)
        if hi <= lo:
            return []
        held = clock.timestamps()
        window = held[lo - clock.first_index : hi - clock.first_index + 1]
        self._step, ticks = choose_ticks(window, lo, max(2, int(size / _LABEL_PX)))
        return [(float(hi - lo), ticks.tolist())]

    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:  # noqa: N802
        labels: list[str] = []
        previous_day = None
        for value in values:
            ts = self._clock.ts_at(value)
            if ts is None:
                labels.append("")
                continue
            local = exchange_time(ts)
            if self._step >= _DAY:
                text = local.strftime("%b %d")
            elif local.date() != previous_day and previous_day is not None:
                text = local.strftime("%b %d")
            else:
                text = local.strftime("%H:%M")
            previous_day = local.date()
            labels.append(text)
        if labels and labels[0]:
            labels[0] = f"{labels[0]} {EXCHANGE_TZ_LABEL}"
        return labels
