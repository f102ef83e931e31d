"""The four market regimes FutBot trades, with one stable integer code each."""
from __future__ import annotations

from enum import IntEnum


class Regime(IntEnum):
    TREND = 0
    MEAN_REVERSION = 1
    COMPRESSION = 2
    EXPANSION = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> "Regime":
        try:
            return cls[name.upper()]
        except KeyError:
            allowed = ", ".join(r.label for r in cls)
            raise ValueError(f"unknown regime {name!r}; allowed: {allowed}") from None
