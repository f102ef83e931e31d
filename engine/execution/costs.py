"""Trading costs of the paper fill model: slippage (in the price) and commission (charged apart).

Slippage is always adverse: a buy pays more, a sell receives less. Per share it is
`slippage_bps` of the reference price plus `slippage_atr` x ATR. Commission is
`commission_per_share` x qty plus `commission_bps` of the traded notional (at the slipped price).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from engine.config import ExecutionSettings
from engine.execution.orders import Side

_BPS = 1e-4
_BUY = Side.BUY  # enum member lookups are slow on 3.11; this runs per fill


@dataclass(frozen=True, slots=True)
class CostModel:
    slippage_bps: float = 0.0
    slippage_atr: float = 0.0
    commission_per_share: float = 0.0
    commission_bps: float = 0.0

    @classmethod
    def from_settings(cls, settings: ExecutionSettings) -> "CostModel":
        return cls(settings.slippage_bps, settings.slippage_atr, settings.commission_per_share, settings.commission_bps)

    def slippage_per_share(self, price: float, atr: float) -> float:
        """Adverse price move per share at reference `price`; `atr` only matters if slippage_atr > 0."""
        slip = price * self.slippage_bps * _BPS
        if self.slippage_atr > 0.0:
            if not (math.isfinite(atr) and atr >= 0.0):
                raise ValueError(f"atr = {atr!r}: slippage_atr = {self.slippage_atr} needs a finite ATR >= 0")
            slip += self.slippage_atr * atr
        return slip

    def commission(self, qty: float, price: float) -> float:
        return qty * self.commission_per_share + qty * price * self.commission_bps * _BPS


def slipped_price(side: Side, reference: float, slip: float, limit: float | None = None) -> tuple[float, float]:
    """(fill price, slippage paid per share) after adverse slippage, never worse than `limit`.

    A limit order's price is a promise: slippage may eat the improvement of an open through
    the limit, but a buy never pays above its limit and a sell never receives below it.
    """
    if side is _BUY:
        if limit is not None and reference + slip > limit:
            return limit, limit - reference
        return reference + slip, slip
    if limit is not None and reference - slip < limit:
        return limit, reference - limit
    return reference - slip, slip
