"""Rolling one-bar historical Value at Risk of a price.

Method: keep the last `lookback` simple one-bar returns r = p_t / p_{t-1} - 1 in arrival
order and, alongside, sorted. The return quantile Q(p) is the empirical quantile with linear
interpolation between closest ranks (Hyndman-Fan type 7, numpy's default): with the n sorted
returns s_0..s_{n-1}, h = (n - 1) p, Q(p) = s_floor(h) + (h - floor(h)) (s_floor(h)+1 - s_floor(h)).

At confidence c a long position loses at most L_long = max(0, -Q(1 - c)) of its value over
one bar in all but (1 - c) of the bars of the window, a short L_short = max(0, Q(c)): each side
reads its own tail. The VaR of a position of q shares at price P is |q| P L_side.

The rule is inactive until the window is full, so the figure always covers exactly
`lookback` returns. Each new price costs two binary searches plus a list insert and delete
(a memmove of at most `lookback` pointers, far cheaper than a re-sort at these sizes).
"""
from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable


def quantile_index(n: int, p: float) -> tuple[int, float]:
    """The lower rank and the interpolation weight of the type-7 quantile p of n values."""
    if n < 1:
        raise ValueError(f"quantile of n={n} values: need at least one value")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"quantile level p={p!r}: expected a probability in [0, 1]")
    h = (n - 1) * p
    lo = int(math.floor(h))
    return lo, h - lo


class RollingHistoricalVaR:
    """One-bar historical VaR over the last `lookback` returns; see the module docstring."""

    __slots__ = ("lookback", "confidence", "_window", "_sorted", "_last_price",
                 "_left", "_right", "long_loss", "short_loss")

    def __init__(self, lookback: int, confidence: float) -> None:
        if lookback < 2:
            raise ValueError(f"VaR lookback={lookback}: expected at least 2 returns")
        if not 0.5 <= confidence < 1.0:
            raise ValueError(f"VaR confidence={confidence!r}: expected a value in [0.5, 1)")
        self.lookback = lookback
        self.confidence = confidence
        self._window: deque[float] = deque()
        self._sorted: list[float] = []
        self._last_price = math.nan
        self._left = quantile_index(lookback, 1.0 - confidence)
        self._right = quantile_index(lookback, confidence)
        # Loss fractions of one bar for a long and a short position; 0 until the window is full.
        self.long_loss = 0.0
        self.short_loss = 0.0

    @property
    def ready(self) -> bool:
        return len(self._window) == self.lookback

    @property
    def last_price(self) -> float:
        return self._last_price

    def returns(self) -> tuple[float, ...]:
        """The window in arrival order, oldest first."""
        return tuple(self._window)

    def update(self, price: float) -> None:
        """Add the bar's price (already checked positive and finite by the caller)."""
        last = self._last_price
        self._last_price = price
        if last != last:  # first price: no return yet
            return
        self._push(price / last - 1.0)

    def load(self, returns: Iterable[float], last_price: float) -> None:
        """Replace the window (a restart); only the newest `lookback` returns are kept."""
        self._window.clear()
        self._sorted.clear()
        self.long_loss = self.short_loss = 0.0
        for r in returns:
            if not math.isfinite(r):
                raise ValueError(f"VaR window return {r!r}: expected a finite number")
            self._push(float(r))
        self._last_price = float(last_price)

    def _push(self, r: float) -> None:
        window, ordered = self._window, self._sorted
        window.append(r)
        insort(ordered, r)
        if len(window) > self.lookback:
            del ordered[bisect_left(ordered, window.popleft())]
        elif len(window) < self.lookback:
            return
        # Both tail quantiles, interpolated inline: this runs on every bar.
        lo, frac = self._left
        left = ordered[lo]
        if frac:
            left += frac * (ordered[lo + 1] - left)
        lo, frac = self._right
        right = ordered[lo]
        if frac:
            right += frac * (ordered[lo + 1] - right)
        self.long_loss = -left if left < 0.0 else 0.0
        self.short_loss = right if right > 0.0 else 0.0
