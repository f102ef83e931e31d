"""The example plugin agent: a long-only simple moving average crossover."""
from __future__ import annotations

import numpy as np

from engine.agents.base import Agent, Intent, IntentColumns, check_regimes
from engine.agents.registry import register_agent
from engine.features.frame import FeatureFrame, FeatureRow
from engine.features.indicators import SMAStream, sma
from engine.regime.regime import Regime


@register_agent("sma_cross")
class SMACross(Agent):
    """Long when the fast SMA of closes crosses above the slow one; flat when it crosses below.

    Between crosses it repeats its position so the meta-policy keeps holding it.
    """

    reads_regime = False

    def __init__(self, fast: int = 10, slow: int = 30) -> None:
        if not (isinstance(fast, int) and isinstance(slow, int) and 1 <= fast < slow):
            raise ValueError(f"sma_cross needs integers 1 <= fast < slow, got fast={fast!r}, slow={slow!r}")
        self.fast = SMAStream(fast)
        self.slow = SMAStream(slow)
        self._above = f"SMA{fast} above SMA{slow}"
        self._below = f"SMA{fast} below SMA{slow}"
        self.was_above: bool | None = None
        self.long_now = False

    def on_bar(self, row: FeatureRow, regime: Regime) -> Intent | None:
        fast, slow = self.fast.update(row.close), self.slow.update(row.close)
        if not (fast == fast and slow == slow):  # warm-up
            return None
        above = fast > slow
        if self.was_above is not None and above != self.was_above:
            self.long_now = above
        self.was_above = above
        if self.long_now:
            return self.long(1.0, 1.0, self._above)
        return self.flat(1.0, self._below)

    def columns(self, frame: FeatureFrame, regimes: np.ndarray) -> IntentColumns:
        check_regimes(frame, regimes)
        close = frame["close"]
        fast, slow = sma(close, self.fast.n), sma(close, self.slow.n)  # the same bits as SMAStream
        warm = ~np.isnan(fast) & ~np.isnan(slow)
        above = fast[warm] > slow[warm]
        # The latch takes the side of the latest cross between consecutive warm bars; before
        # the first cross it is flat. A forward fill of the crossing bars' side.
        crossed = np.zeros(len(above), dtype=np.bool_)
        crossed[1:] = above[1:] != above[:-1]
        last_cross = np.maximum.accumulate(np.where(crossed, np.arange(len(above)), -1))
        long_now = np.zeros(len(frame), dtype=np.bool_)
        long_now[warm] = (last_cross >= 0) & above[np.maximum(last_cross, 0)]
        return IntentColumns.build(warm, long_now.astype(np.int8), 1.0, 1.0)
