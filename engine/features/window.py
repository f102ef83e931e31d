"""A fixed-size rolling window of floats for the streaming features.

Each value is written twice, at `pos` and `pos + size` of a buffer twice as long, so the
last `size` values are always one contiguous slice: `values` costs no copy, and numpy
kernels see the window exactly as the vectorised code sees a row of a sliding view.
"""
from __future__ import annotations

import numpy as np


class RollingWindow:
    __slots__ = ("size", "count", "_buf", "_pos")

    def __init__(self, size: int) -> None:
        self.size = size
        self.count = 0          # values pushed so far (saturates at size)
        self._buf = np.zeros(2 * size)
        self._pos = 0

    def push(self, x: float) -> None:
        pos = self._pos
        self._buf[pos] = x
        self._buf[pos + self.size] = x
        self._pos = pos + 1 if pos + 1 < self.size else 0
        if self.count < self.size:
            self.count += 1

    @property
    def full(self) -> bool:
        return self.count == self.size

    @property
    def values(self) -> np.ndarray:
        """The last `size` values, oldest first (a view: copy it before keeping it)."""
        return self._buf[self._pos:self._pos + self.size]
