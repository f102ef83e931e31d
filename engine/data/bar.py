"""The bar: one OHLCV interval of one symbol, and a columnar series of them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import repeat
from typing import Iterator

import numpy as np
import pandas as pd


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def ns_since_epoch(ts: datetime) -> int:
    """Exact integer nanoseconds of a tz-aware datetime (float seconds would round)."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts!r} is naive; expected a tz-aware datetime")
    return (ts - _EPOCH) // _MICROSECOND * 1_000


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar. `ts` is the bar's open time in integer nanoseconds since the epoch, UTC:
    exact, cheap to compare, and the unit every column and log uses; `time` shows it."""

    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts / 1e9, tz=timezone.utc)

    @classmethod
    def at(cls, symbol: str, when: datetime, open: float, high: float, low: float, close: float,
           volume: float) -> "Bar":
        """A bar stamped with a tz-aware datetime (naive times are refused)."""
        return cls(symbol, ns_since_epoch(when), open, high, low, close, volume)


@dataclass(frozen=True)
class BarSeries:
    """Bars of one symbol as numpy columns, the shape vectorised code wants.

    `ts` is int64 nanoseconds since the epoch, UTC. `phase` is only set for synthetic
    data: the generator's true regime code per bar (see `engine.regime.regime.Regime`).
    """

    symbol: str
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    phase: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.ts)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"BarSeries column '{name}' has {len(getattr(self, name))} rows, ts has {n}")
        if self.phase is not None and len(self.phase) != n:
            raise ValueError(f"BarSeries phase has {len(self.phase)} rows, ts has {n}")

    def __len__(self) -> int:
        return len(self.ts)

    def bar(self, i: int) -> Bar:
        return Bar(self.symbol, int(self.ts[i]), float(self.open[i]), float(self.high[i]),
                   float(self.low[i]), float(self.close[i]), float(self.volume[i]))

    def __iter__(self, chunk: int = 8_192) -> Iterator[Bar]:
        # Columns become Python lists a chunk at a time: far cheaper per bar than indexing
        # numpy, without holding a long series as Python objects.
        symbol = self.symbol
        for start in range(0, len(self), chunk):
            end = start + chunk
            cols = (self.ts[start:end].tolist(), self.open[start:end].tolist(), self.high[start:end].tolist(),
                    self.low[start:end].tolist(), self.close[start:end].tolist(), self.volume[start:end].tolist())
            yield from map(Bar, repeat(symbol), *cols)

    def slice(self, start: int, stop: int) -> "BarSeries":
        phase = None if self.phase is None else self.phase[start:stop]
        return BarSeries(
            self.symbol, self.ts[start:stop], self.open[start:stop], self.high[start:stop],
            self.low[start:stop], self.close[start:stop], self.volume[start:stop], phase,
        )

    def timestamps(self, tz: str = "UTC") -> pd.DatetimeIndex:
        return pd.DatetimeIndex(pd.to_datetime(self.ts, unit="ns", utc=True)).tz_convert(tz)

    def to_frame(self) -> pd.DataFrame:
        """OHLCV frame indexed by UTC timestamp (with a `phase` column for synthetic data)."""
        cols = {"open": self.open, "high": self.high, "low": self.low, "close": self.close, "volume": self.volume}
        if self.phase is not None:
            cols["phase"] = self.phase
        frame = pd.DataFrame(cols, index=self.timestamps())
        frame.index.name = "timestamp"
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, symbol: str) -> "BarSeries":
        """From a frame with a tz-aware DatetimeIndex and lower-case OHLCV columns."""
        index = frame.index
        if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
            raise ValueError("BarSeries.from_frame needs a tz-aware DatetimeIndex")
        ts = index.tz_convert("UTC").as_unit("ns").asi8.astype(np.int64)
        phase = frame["phase"].to_numpy(np.int8) if "phase" in frame.columns else None
        return cls(
            symbol, ts,
            *(frame[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")),
            phase=phase,
        )
