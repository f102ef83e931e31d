"""A candlestick item that draws only the visible bars.

The item keeps references to the pane's ring-buffer columns and, on paint, takes the bars
inside the view's x range. When there are more bars than half the pixels, consecutive bars
are merged into OHLC buckets aligned to the bar number (so buckets do not shimmer while
panning). A bar number, once given, keeps its OHLC except for the newest bar, so the drawing
is cached per (first and last visible bar, bucket width, last visible candle): new bars
arriving off screen or a repaint of the same view cost no path building.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter, QPainterPath

from app import theme

_BODY_WIDTH = 0.7        # of one bar (or bucket) slot
_PX_PER_CANDLE = 2.0     # finer than this, bars are merged into buckets


@dataclass(frozen=True, slots=True)
class Candles:
    """OHLC of the candles to draw, each `width` bars wide, centred at `x`."""

    x: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    width: int


def bucket_candles(x: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray,
                   c: np.ndarray, width: int) -> Candles:
    """Merge consecutive bars (x = consecutive bar numbers) into buckets of `width` bars.

    A bucket covers bar numbers [k*width, (k+1)*width): open of its first bar, close of its
    last, highest high and lowest low. Buckets cut by the slice edges keep the bars they have.
    """
    if width <= 1 or len(x) == 0:
        return Candles(x, o, h, lo, c, 1)
    bucket = np.floor(x / width).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(x)] - 1
    return Candles(
        x=bucket[starts] * width + (width - 1) / 2.0,
        open=o[starts],
        high=np.maximum.reduceat(h, starts),
        low=np.minimum.reduceat(lo, starts),
        close=c[ends],
        width=width,
    )


def _bodies_path(c: Candles, mask: np.ndarray) -> QPainterPath:
    if not mask.any():
        return QPainterPath()
    half = _BODY_WIDTH * c.width / 2.0
    x = c.x[mask]
    top = np.maximum(c.open[mask], c.close[mask])
    bottom = np.minimum(c.open[mask], c.close[mask])
    xs = np.stack([x - half, x + half, x + half, x - half, x - half], axis=1).ravel()
    ys = np.stack([bottom, bottom, top, top, bottom], axis=1).ravel()
    connect = np.tile(np.array([1, 1, 1, 1, 0], dtype=np.int32), len(x))
    return pg.arrayToQPath(xs, ys, connect=connect)


def _wicks_path(c: Candles, mask: np.ndarray) -> QPainterPath:
    if not mask.any():
        return QPainterPath()
    xs = np.repeat(c.x[mask], 2)
    ys = np.stack([c.low[mask], c.high[mask]], axis=1).ravel()
    return pg.arrayToQPath(xs, ys, connect="pairs")


class CandlestickItem(pg.GraphicsObject):
    def __init__(self) -> None:
        super().__init__()
        empty = np.empty(0, dtype=np.float64)
        self._x = self._o = self._h = self._l = self._c = empty
        self._cache_key: tuple[float, ...] | None = None
        self._paths: tuple[QPainterPath, ...] = ()
        self._bounds = QRectF()
        self.drawn_range: tuple[int, int] = (0, 0)   # slice of the held bars last painted
        self.drawn_candles = 0                       # candles (or buckets) last painted
        self._up_pen = pg.mkPen(theme.UP_CANDLE)
        self._down_pen = pg.mkPen(theme.DOWN_CANDLE)
        self._up_brush = pg.mkBrush(theme.UP_CANDLE)
        self._down_brush = pg.mkBrush(theme.DOWN_CANDLE)

    def set_data(self, x: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray,
                 c: np.ndarray) -> None:
        """Point at the bars (x strictly increasing bar numbers); the arrays are not copied."""
        if not len(x) == len(o) == len(h) == len(lo) == len(c):
            raise ValueError(
                f"candle columns differ in length: x={len(x)} open={len(o)} high={len(h)} "
                f"low={len(lo)} close={len(c)}"
            )
        self.prepareGeometryChange()
        self._x, self._o, self._h, self._l, self._c = x, o, h, lo, c
        if len(x):
            lo_min, hi_max = float(lo.min()), float(h.max())
            self._bounds = QRectF(x[0] - 0.5, lo_min, x[-1] - x[0] + 1.0, hi_max - lo_min)
        else:
            self._bounds = QRectF()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(self._bounds)

    def dataBounds(self, ax: int, frac: float = 1.0,  # noqa: N802
                   orthoRange: tuple[float, float] | None = None) -> tuple[float, float] | None:
        if len(self._x) == 0:
            return None
        if ax == 0:
            return float(self._x[0]) - 0.5, float(self._x[-1]) + 0.5
        i0, i1 = self._slice(orthoRange) if orthoRange is not None else (0, len(self._x))
        if i1 <= i0:
            return None
        return float(self._l[i0:i1].min()), float(self._h[i0:i1].max())

    def _slice(self, x_range: tuple[float, float]) -> tuple[int, int]:
        i0 = int(np.searchsorted(self._x, x_range[0] - 1.0, side="left"))
        i1 = int(np.searchsorted(self._x, x_range[1] + 1.0, side="right"))
        return i0, i1

    def _visible(self) -> tuple[int, int, int]:
        view = self.getViewBox()
        if view is None:
            return 0, len(self._x), 1
        x_range = view.viewRange()[0]
        i0, i1 = self._slice((x_range[0], x_range[1]))
        pixels = max(1.0, view.width())
        width = max(1, math.ceil((i1 - i0) * _PX_PER_CANDLE / pixels))
        return i0, i1, width

    def paint(self, p: QPainter, *args: object) -> None:
        if len(self._x) == 0:
            return
        i0, i1, width = self._visible()
        if i1 <= i0:
            return
        last = i1 - 1
        key = (self._x[i0], self._x[last], width, self._o[last], self._h[last], self._l[last],
               self._c[last])
        if key != self._cache_key:
            s = slice(i0, i1)
            c = bucket_candles(self._x[s], self._o[s], self._h[s], self._l[s], self._c[s], width)
            up = c.close >= c.open
            self._paths = (_wicks_path(c, up), _wicks_path(c, ~up),
                           _bodies_path(c, up), _bodies_path(c, ~up))
            self._cache_key = key
            self.drawn_range = (i0, i1)
            self.drawn_candles = len(c.x)
        up_wicks, down_wicks, up_bodies, down_bodies = self._paths
        p.setPen(self._up_pen)
        p.drawPath(up_wicks)
        p.setBrush(self._up_brush)
        p.drawPath(up_bodies)
        p.setPen(self._down_pen)
        p.setBrush(self._down_brush)
        p.drawPath(down_wicks)
        p.drawPath(down_bodies)
