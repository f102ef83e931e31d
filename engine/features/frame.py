"""The per-bar feature values that regimes and agents read.

`FeatureRow` is one bar (streaming); `FeatureFrame` holds the same fields as aligned numpy
columns (vectorised). Both carry exactly the fields in `FEATURE_FIELDS`, NaN in warm-up.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True, slots=True)
class FeatureRow:
    ts: int               # bar open time, ns since epoch, UTC
    open: float
    high: float
    low: float
    close: float
    volume: float
    atr: float            # Wilder ATR(features.atr_period)
    adx: float            # Wilder ADX(features.adx_period)
    plus_di: float
    minus_di: float
    rsi: float            # Wilder RSI(features.rsi_period)
    ema_fast: float
    ema_slow: float
    vwap: float           # session VWAP, resets each exchange-local day
    hurst: float          # rolling Hurst exponent of log prices (features.hurst_window)
    garch_vol: float      # GARCH(1,1) conditional sigma of one-bar log returns (a fraction)
    vol_rank: float       # percentile in [0, 1] of atr/close within features.volatility_rank_window
    reg_slope: float      # rolling OLS slope of close per bar (features.regression_window)
    reg_r2: float         # its R squared
    fvg_bull: float       # number of open or partially filled bullish gaps
    fvg_bear: float       # number of open or partially filled bearish gaps
    fvg_new: float        # +1 a bullish gap completed on this bar, -1 bearish, 0 none
    fvg_bull_top: float   # the nearest unfilled bullish gap below price (NaN if none)
    fvg_bull_bottom: float
    fvg_bear_top: float   # the nearest unfilled bearish gap above price (NaN if none)
    fvg_bear_bottom: float


FEATURE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FeatureRow))


Producer = Callable[[], Mapping[str, np.ndarray]]


class LazyColumns(dict[str, np.ndarray]):
    """Columns computed only when first read; one producer may make several (ADX and its DIs).

    A backtest reads what its rules need: `sma_cross` alone reads closes and ATR, and never
    pays for GARCH refits, Hurst or gap tracking.
    """

    def __init__(self, columns: Mapping[str, np.ndarray], lazy: Mapping[str, Producer]) -> None:
        super().__init__(columns)
        self._lazy = dict(lazy)

    def __missing__(self, name: str) -> np.ndarray:
        make = self._lazy.get(name)
        if make is None:
            raise KeyError(name)
        for made, column in make().items():
            self[made] = column
            self._lazy.pop(made, None)
        return self[name]

    def names(self) -> set[str]:
        return set(self) | set(self._lazy)


@dataclass(frozen=True)
class FeatureFrame:
    """Aligned columns, one per name in FEATURE_FIELDS (`ts` int64, the rest float64)."""

    columns: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        names = self.columns.names() if isinstance(self.columns, LazyColumns) else set(self.columns)
        missing = set(FEATURE_FIELDS) - names
        if missing:
            raise ValueError(f"FeatureFrame is missing columns: {sorted(missing)}")
        # A lazy column is made from the same bars, so only the ones already there are measured.
        lengths = {len(self.columns[name]) for name in FEATURE_FIELDS if name in self.columns}
        if len(lengths) > 1:
            raise ValueError(f"FeatureFrame columns differ in length: {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.columns["ts"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def row(self, i: int) -> FeatureRow:
        return FeatureRow(int(self.columns["ts"][i]), *(float(self.columns[n][i]) for n in FEATURE_FIELDS[1:]))

    def rows(self, chunk: int = 8_192) -> Iterator[FeatureRow]:
        """Every row in order. Columns become Python lists a chunk at a time: far cheaper per
        bar than indexing numpy, without holding the whole frame as Python floats."""
        for start in range(0, len(self), chunk):
            cols = [self.columns[n][start:start + chunk].tolist() for n in FEATURE_FIELDS]
            yield from map(FeatureRow, *cols)
