"""Three-candle fair value gaps: detection and fill tracking.

A bullish gap completes on bar i when low[i] > high[i-2]; its zone is [high[i-2], low[i]].
A bearish gap completes when high[i] < low[i-2]; its zone is [high[i], low[i-2]]. Only gaps
at least `min_size_atr` x ATR wide count, with the ATR known at bar i (a NaN ATR, in warm-up,
admits no gap unless `min_size_atr` is 0).

From bar i+1 on, price returning into the zone fills it: a bullish gap from the top down
(filled fraction = (top - lowest low since) / (top - bottom)), a bearish one from the bottom
up. States: OPEN (untouched), PARTIALLY_FILLED (price entered the zone), FILLED (price
crossed the whole zone: low <= bottom, or high >= top) and EXPIRED (still unfilled after
`max_age_bars` bars: on the next bar it is dropped without looking at that bar's prices).
Open and partially filled gaps are "live".

Per bar the feature columns report the live gaps: a count per side, +1/-1 when a gap
completed on the bar, and the nearest live gap on each side: the bullish one with the
highest top (a live bullish gap always has price above its bottom, so this is the zone
closest below price) and the bearish one with the lowest bottom; ties go to the newest.

`FVGTracker` does this bar by bar; `track_gaps` does it for a whole series and returns the
same gaps (ids are the order of formation) and the same columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from engine.features.inputs import ArrayLike, as_array, check_period, check_same_length, nan_array

GAP_COLUMNS: tuple[str, ...] = (
    "fvg_bull", "fvg_bear", "fvg_new", "fvg_bull_top", "fvg_bull_bottom", "fvg_bear_top", "fvg_bear_bottom",
)


class GapKind(StrEnum):
    BULLISH = "bullish"
    BEARISH = "bearish"


class GapState(StrEnum):
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Gap:
    id: int
    kind: GapKind
    top: float
    bottom: float
    formed_index: int     # the bar that completed the gap
    formed_ts: int        # its open time, ns since epoch UTC
    state: GapState
    filled_fraction: float
    age: int              # bars since formed_index

    @property
    def live(self) -> bool:
        return self.state is GapState.OPEN or self.state is GapState.PARTIALLY_FILLED


def _threshold(atr: float, min_size_atr: float) -> float:
    return min_size_atr * atr if min_size_atr > 0 else 0.0


def _fraction(kind: GapKind, top: float, bottom: float, extreme: float) -> float:
    """Share of the zone price has re-entered, given the lowest low (bullish) or highest high since."""
    entered = top - extreme if kind is GapKind.BULLISH else extreme - bottom
    return min(max(entered / (top - bottom), 0.0), 1.0)


def _live_state(fraction: float) -> GapState:
    return GapState.PARTIALLY_FILLED if fraction > 0.0 else GapState.OPEN


def _check_settings(min_size_atr: float, max_age_bars: int) -> tuple[float, int]:
    if not min_size_atr >= 0:
        raise ValueError(f"min_size_atr = {min_size_atr!r}; expected a number >= 0")
    return float(min_size_atr), check_period(max_age_bars, "max_age_bars", 1)


# -- streaming ----------------------------------------------------------------------------
class _Track:
    """A live gap's mutable state inside the tracker."""

    __slots__ = ("id", "kind", "top", "bottom", "index", "ts", "extreme", "fraction")

    def __init__(self, gap_id: int, kind: GapKind, top: float, bottom: float, index: int, ts: int) -> None:
        self.id, self.kind, self.top, self.bottom, self.index, self.ts = gap_id, kind, top, bottom, index, ts
        self.extreme = top if kind is GapKind.BULLISH else bottom
        self.fraction = 0.0

    def freeze(self, state: GapState, age: int) -> Gap:
        return Gap(self.id, self.kind, self.top, self.bottom, self.index, self.ts, state, self.fraction, age)


@dataclass(frozen=True, slots=True)
class FVGUpdate:
    new: Gap | None             # the gap completed on this bar
    closed: tuple[Gap, ...]     # gaps filled or expired on this bar, in their final state


class FVGTracker:
    """Bar-by-bar gap detection and fill tracking; O(live gaps) per bar."""

    def __init__(self, min_size_atr: float, max_age_bars: int) -> None:
        self.min_size_atr, self.max_age_bars = _check_settings(min_size_atr, max_age_bars)
        self._bars = 0
        self._older: tuple[float, float] | None = None   # (high, low) two bars back
        self._last: tuple[float, float] | None = None    # (high, low) one bar back
        self._live: list[_Track] = []
        self._next_id = 0
        self._new_sign = 0.0

    def update(self, ts: int, high: float, low: float, atr: float) -> FVGUpdate:
        i = self._bars
        self._bars += 1
        closed: list[Gap] = []
        live: list[_Track] = []
        for g in self._live:
            age = i - g.index
            if age > self.max_age_bars:
                closed.append(g.freeze(GapState.EXPIRED, age))
                continue
            if g.kind is GapKind.BULLISH:
                g.extreme = min(g.extreme, low)
                filled = low <= g.bottom
            else:
                g.extreme = max(g.extreme, high)
                filled = high >= g.top
            if filled:
                g.fraction = 1.0
                closed.append(g.freeze(GapState.FILLED, age))
            else:
                g.fraction = _fraction(g.kind, g.top, g.bottom, g.extreme)
                live.append(g)
        new = self._detect(i, ts, high, low, atr)
        if new is not None:
            live.append(new)
        self._live = live
        self._older, self._last = self._last, (high, low)
        self._new_sign = 0.0 if new is None else (1.0 if new.kind is GapKind.BULLISH else -1.0)
        return FVGUpdate(None if new is None else new.freeze(GapState.OPEN, 0), tuple(closed))

    def _detect(self, i: int, ts: int, high: float, low: float, atr: float) -> _Track | None:
        if self._older is None:
            return None
        high2, low2 = self._older
        threshold = _threshold(atr, self.min_size_atr)
        if low > high2 and low - high2 >= threshold:
            kind, top, bottom = GapKind.BULLISH, low, high2
        elif high < low2 and low2 - high >= threshold:
            kind, top, bottom = GapKind.BEARISH, low2, high
        else:
            return None
        self._next_id += 1
        return _Track(self._next_id - 1, kind, top, bottom, i, ts)

    def open_gaps(self) -> tuple[Gap, ...]:
        """The live gaps after the last bar, oldest first."""
        now = self._bars - 1
        return tuple(g.freeze(_live_state(g.fraction), now - g.index) for g in self._live)

    def summary(self) -> tuple[float, ...]:
        """This bar's values of GAP_COLUMNS."""
        bull = [g for g in self._live if g.kind is GapKind.BULLISH]
        bear = [g for g in self._live if g.kind is GapKind.BEARISH]
        near_bull = max(bull, key=lambda g: (g.top, g.id), default=None)
        near_bear = max(bear, key=lambda g: (-g.bottom, g.id), default=None)
        nan = float("nan")
        return (
            float(len(bull)), float(len(bear)), self._new_sign,
            near_bull.top if near_bull else nan, near_bull.bottom if near_bull else nan,
            near_bear.top if near_bear else nan, near_bear.bottom if near_bear else nan,
        )


# -- whole series -------------------------------------------------------------------------
_STATE_CODES: tuple[GapState, ...] = tuple(GapState)


@dataclass(frozen=True)
class GapHistory:
    """Every gap of a series (position = id) in its last state, plus the per-bar columns.

    The last state is the one on the bar it was filled, the bar it expired, or the series'
    last bar for gaps still live there.
    """

    formed_index: np.ndarray   # int64
    formed_ts: np.ndarray      # int64 ns
    bullish: np.ndarray        # bool
    top: np.ndarray
    bottom: np.ndarray
    state: np.ndarray          # int8 index into tuple(GapState)
    filled_fraction: np.ndarray
    age: np.ndarray            # int64
    columns: dict[str, np.ndarray]   # GAP_COLUMNS, one value per bar

    def __len__(self) -> int:
        return len(self.formed_index)

    def gaps(self) -> tuple[Gap, ...]:
        return tuple(
            Gap(g, GapKind.BULLISH if bull else GapKind.BEARISH, top, bottom, i, ts, _STATE_CODES[state], frac, age)
            for g, (i, ts, bull, top, bottom, state, frac, age) in enumerate(zip(
                self.formed_index.tolist(), self.formed_ts.tolist(), self.bullish.tolist(), self.top.tolist(),
                self.bottom.tolist(), self.state.tolist(), self.filled_fraction.tolist(), self.age.tolist(),
            ))
        )


def track_gaps(
    ts: ArrayLike, high: ArrayLike, low: ArrayLike, atr: ArrayLike, min_size_atr: float, max_age_bars: int
) -> GapHistory:
    """All gaps of a series with their fill history, and the per-bar GAP_COLUMNS."""
    min_size_atr, max_age = _check_settings(min_size_atr, max_age_bars)
    stamps = np.asarray(ts, dtype=np.int64)
    h, l, a = as_array(high, "high"), as_array(low, "low"), as_array(atr, "atr", allow_nan=True)
    n = check_same_length(ts=stamps, high=h, low=l, atr=a)
    threshold = min_size_atr * a[2:] if min_size_atr > 0 else np.zeros(max(n - 2, 0))
    bull_at = (l[2:] > h[:-2]) & (l[2:] - h[:-2] >= threshold)
    bear_at = (h[2:] < l[:-2]) & (l[:-2] - h[2:] >= threshold)
    start = np.flatnonzero(bull_at | bear_at) + 2
    bull = bull_at[start - 2]
    top = np.where(bull, l[start], l[start - 2])
    bottom = np.where(bull, h[start - 2], h[start])
    # Both kinds fill "downwards" if a bearish gap follows -high towards -top.
    level = np.where(bull, bottom, -top)
    extreme = np.where(bull, top, -bottom)
    fill_at = _first_fills(np.concatenate((l, -h)), start, np.where(bull, start, start + n), level, extreme, max_age)
    filled = fill_at >= 0
    entered = np.where(bull, top - extreme, -extreme - bottom)
    fraction = np.where(filled, 1.0, np.minimum(np.maximum(entered / (top - bottom), 0.0), 1.0))
    expired = ~filled & (start + max_age < n - 1)
    end = np.where(filled, fill_at, np.where(expired, start + max_age + 1, n))
    age = np.where(filled, fill_at - start, np.where(expired, max_age + 1, n - 1 - start))
    code = {state: i for i, state in enumerate(_STATE_CODES)}
    state = np.where(
        filled, code[GapState.FILLED],
        np.where(expired, code[GapState.EXPIRED], np.where(fraction > 0, code[GapState.PARTIALLY_FILLED], code[GapState.OPEN])),
    ).astype(np.int8)
    columns = {
        "fvg_bull": _live_counts(start[bull], end[bull], n),
        "fvg_bear": _live_counts(start[~bull], end[~bull], n),
        "fvg_new": np.zeros(n),
    }
    columns["fvg_new"][start] = np.where(bull, 1.0, -1.0)
    ids = np.arange(len(start))
    # Nearest live gap per bar: bullish by highest top, bearish by lowest bottom, then newest.
    for side, mask, keys in (("bull", bull, (ids, top)), ("bear", ~bull, (ids, -bottom))):
        order = np.lexsort(keys)
        chosen = _best_live(order[mask[order]], start, end, n)
        has = chosen >= 0
        for edge, values in (("top", top), ("bottom", bottom)):
            column = nan_array(n)
            column[has] = values[chosen[has]]
            columns[f"fvg_{side}_{edge}"] = column
    return GapHistory(start, stamps[start], bull, top, bottom, state, fraction, age, columns)


def _first_fills(
    paths: np.ndarray, start: np.ndarray, base: np.ndarray, level: np.ndarray, extreme: np.ndarray, max_age: int
) -> np.ndarray:
    """Bar of each gap's fill (-1 if none within max_age); `extreme` is updated in place.

    `paths[base[g] + k]` is the fill price of gap g (formed on bar start[g]) k bars later,
    in a series of n = len(paths) // 2 bars. All gaps step forward together, one bar of age
    at a time, dropping out as they fill.
    """
    n = len(paths) // 2
    fill_at = np.full(len(base), -1)
    ids = np.arange(len(base))
    active_base, active_level, active_extreme = base, level, extreme.copy()
    for k in range(1, max_age + 1):
        # Gaps are ordered by start bar, so those running past the series' end are the tail.
        alive = int(np.searchsorted(start[ids], n - k))
        if alive < len(ids):
            extreme[ids[alive:]] = active_extreme[alive:]
            ids, active_base, active_level, active_extreme = ids[:alive], active_base[:alive], active_level[:alive], active_extreme[:alive]
        if not len(ids):
            break
        price = paths[active_base + k]
        hit = price <= active_level
        if hit.any():
            fill_at[ids[hit]] = start[ids[hit]] + k
            keep = ~hit
            ids, active_base, active_level, active_extreme, price = (
                ids[keep], active_base[keep], active_level[keep], active_extreme[keep], price[keep]
            )
        np.minimum(active_extreme, price, out=active_extreme)
    extreme[ids] = active_extreme
    return fill_at


def _live_counts(start: np.ndarray, end: np.ndarray, n: int) -> np.ndarray:
    change = np.bincount(start, minlength=n + 1) - np.bincount(end, minlength=n + 1)
    return np.cumsum(change)[:n].astype(np.float64)


def _best_live(order: np.ndarray, start: np.ndarray, end: np.ndarray, n: int) -> np.ndarray:
    """Per bar, the last gap in `order` live on that bar (-1 if none): paint in order, best last."""
    chosen = np.full(n, -1)
    for g, s, e in zip(order.tolist(), start[order].tolist(), end[order].tolist()):
        chosen[s:e] = g
    return chosen
