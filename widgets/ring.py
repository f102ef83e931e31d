"""Fixed-capacity ring buffers for the live panes.

The storage is twice the capacity, so the newest `capacity` values are always one contiguous
numpy view (no copy per frame for pyqtgraph) and each append costs amortised O(1): when the
write position reaches the end, the live tail is moved back to the start once.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import DTypeLike


class RingBuffer:
    """The last `capacity` values appended, oldest first."""

    __slots__ = ("_buf", "_start", "_end", "_capacity", "_total")

    def __init__(self, capacity: int, dtype: DTypeLike = np.float64) -> None:
        if capacity < 1:
            raise ValueError(f"ring buffer capacity must be >= 1, got {capacity!r}")
        self._capacity = int(capacity)
        self._buf = np.zeros(2 * self._capacity, dtype=dtype)
        self._start = 0
        self._end = 0
        self._total = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def total(self) -> int:
        """How many values were ever appended (the absolute index of the next one)."""
        return self._total

    @property
    def first_index(self) -> int:
        """Absolute index of the oldest value still held."""
        return self._total - len(self)

    def __len__(self) -> int:
        return self._end - self._start

    def extend(self, values: np.ndarray) -> None:
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"ring buffer values must be 1-D, got shape {values.shape}")
        n = len(values)
        if n == 0:
            return
        self._total += n
        if n >= self._capacity:
            self._buf[: self._capacity] = values[-self._capacity :]
            self._start, self._end = 0, self._capacity
            return
        if self._end + n > len(self._buf):
            keep = min(self._end - self._start, self._capacity - n)
            self._buf[:keep] = self._buf[self._end - keep : self._end]
            self._start, self._end = 0, keep
        self._buf[self._end : self._end + n] = values
        self._end += n
        self._start = max(self._start, self._end - self._capacity)

    def append(self, value: float | int) -> None:
        self.extend(np.asarray([value], dtype=self._buf.dtype))

    def replace_last(self, value: float | int) -> None:
        if self._end == self._start:
            raise IndexError("replace_last() on an empty ring buffer")
        self._buf[self._end - 1] = value

    def view(self) -> np.ndarray:
        """The held values, oldest first. A view: valid until the next append."""
        return self._buf[self._start : self._end]

    def last(self) -> float | int:
        if self._end == self._start:
            raise IndexError("last() of an empty ring buffer")
        return self._buf[self._end - 1].item()

    def clear(self) -> None:
        self._start = self._end = self._total = 0


class ColumnRing:
    """Several ring buffers of the same capacity filled in lockstep (one row = one bar)."""

    __slots__ = ("_columns",)

    def __init__(self, capacity: int, columns: Mapping[str, DTypeLike]) -> None:
        if not columns:
            raise ValueError("ColumnRing needs at least one column")
        self._columns = {name: RingBuffer(capacity, dtype) for name, dtype in columns.items()}

    def extend(self, **values: np.ndarray) -> None:
        if values.keys() != self._columns.keys():
            raise ValueError(
                f"ColumnRing.extend got columns {sorted(values)}; expected {sorted(self._columns)}"
            )
        lengths = {name: len(v) for name, v in values.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"ColumnRing.extend columns differ in length: {lengths}")
        for name, ring in self._columns.items():
            ring.extend(values[name])

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name].view()

    def __len__(self) -> int:
        return len(next(iter(self._columns.values())))

    @property
    def capacity(self) -> int:
        return next(iter(self._columns.values())).capacity

    @property
    def total(self) -> int:
        return next(iter(self._columns.values())).total

    def clear(self) -> None:
        for ring in self._columns.values():
            ring.clear()
