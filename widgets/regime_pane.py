"""Regime pane: the regime timeline strip and the distribution of time and PnL per regime.

`RegimeBandItem` paints each run of equal regime as a full-height band; the price pane uses
the same item, faint, as its background, so the colours match everywhere.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter, QPainterPath
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app import theme
from app.snapshot import SnapshotBatch
from engine.regime.regime import Regime
from widgets.redraw import settle
from widgets.ring import ColumnRing
from widgets.time_axis import TimeAxisItem
from widgets.time_window import TimeWindow

TIMELINE_CAPACITY = 500_000


def regime_runs(x: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal regime: (start x, end x exclusive, code). `x` are consecutive bar numbers."""
    if len(x) == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty, np.empty(0, dtype=codes.dtype)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(x)]
    return x[starts], x[ends - 1] + 1.0, codes[starts]


class RegimeBandItem(pg.GraphicsObject):
    """Regime colour bands over the full height of the view, for the visible bars only."""

    def __init__(self, alpha: int) -> None:
        super().__init__()
        self._x = np.empty(0, dtype=np.float64)
        self._codes = np.empty(0, dtype=np.int8)
        # Faint bands are pre-mixed with the background: opaque fills cost the software
        # rasteriser far less than blending a whole chart's area every frame.
        self._brushes = {r: pg.mkBrush(theme.mix(theme.regime_color(r), theme.BACKGROUND,
                                                 alpha / 255.0)) for r in Regime}
        self.drawn_runs = 0

    def set_data(self, x: np.ndarray, codes: np.ndarray) -> None:
        self._x, self._codes = x, codes
        self.update()

    def viewTransformChanged(self) -> None:  # noqa: N802
        super().viewTransformChanged()
        self.prepareGeometryChange()

    def boundingRect(self) -> QRectF:  # noqa: N802
        rect = self.viewRect()
        return QRectF(rect) if rect is not None else QRectF()

    def paint(self, p: QPainter, *args: object) -> None:
        view = self.getViewBox()
        if view is None or len(self._x) == 0:
            return
        (x_lo, x_hi), (y_lo, y_hi) = view.viewRange()
        i0 = int(np.searchsorted(self._x, x_lo - 1.0, side="left"))
        i1 = int(np.searchsorted(self._x, x_hi + 1.0, side="right"))
        x, codes = self._x[i0:i1], self._codes[i0:i1]
        # Zoomed far out, one sample per pixel is all the screen can show.
        stride = max(1, math.floor(len(x) / max(1.0, view.width())))
        if stride > 1:
            x, codes = x[::stride], codes[::stride]
        starts, ends, run_codes = regime_runs(x, codes)
        if stride > 1 and len(ends):
            ends = np.r_[starts[1:], ends[-1]]
        self.drawn_runs = len(starts)
        p.setPen(pg.mkPen(None))
        for regime, brush in self._brushes.items():
            mask = run_codes == int(regime)
            if mask.any():
                p.setBrush(brush)
                p.drawPath(_rects_path(starts[mask], ends[mask], y_lo, y_hi))


def _rects_path(x0: np.ndarray, x1: np.ndarray, y0: float, y1: float) -> QPainterPath:
    xs = np.stack([x0, x1, x1, x0, x0], axis=1).ravel()
    ys = np.tile(np.array([y0, y0, y1, y1, y0], dtype=np.float64), len(x0))
    connect = np.tile(np.array([1, 1, 1, 1, 0], dtype=np.int32), len(x0))
    return pg.arrayToQPath(xs, ys, connect=connect)


class _CategoryAxis(pg.AxisItem):
    """Bottom axis naming each bar of a category chart."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(orientation="bottom")
        self.set_names(names)

    def set_names(self, names: list[str]) -> None:
        self.setTicks([[(float(i), name) for i, name in enumerate(names)]])


def category_plot(title: str, names: list[str], y_label: str) -> tuple[pg.PlotItem, _CategoryAxis]:
    axis = _CategoryAxis(names)
    plot = pg.PlotItem(axisItems={"bottom": axis})
    plot.setTitle(title, size="9pt")
    plot.setLabel("left", y_label)
    plot.getAxis("left").enableAutoSIPrefix(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.showGrid(y=True, alpha=theme.GRID_ALPHA)
    plot.addItem(pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen(theme.TEXT_DIM)), ignoreBounds=True)
    return plot, axis


class RegimePane(QWidget):
    def __init__(self, time: TimeWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._time = time
        self._ring = ColumnRing(TIMELINE_CAPACITY, {"x": np.float64, "regime": np.int8})
        self._share = np.zeros(len(Regime))       # % of time, as last received
        self._pnl = np.zeros(len(Regime))
        self._drawn_bars = -1
        self.dirty = False

        self._view = view = pg.GraphicsLayoutWidget()
        self.timeline = view.addPlot(row=0, col=0, colspan=2,
                                     axisItems={"bottom": TimeAxisItem(time.clock)})
        self.timeline.setTitle("regime timeline", size="9pt")
        self.timeline.hideAxis("left")
        self.timeline.showAxis("right")
        self.timeline.getAxis("right").setTicks([[], []])
        self.timeline.getAxis("right").setWidth(theme.VALUE_AXIS_WIDTH)
        self.timeline.setMouseEnabled(y=False)
        self.timeline.setYRange(0.0, 1.0, padding=0.0)
        self.timeline.hideButtons()
        self.band = RegimeBandItem(alpha=255)
        self.timeline.addItem(self.band, ignoreBounds=True)
        self.timeline.enableAutoRange(x=False, y=False)
        time.attach(self.timeline.getViewBox())
        view.ci.layout.setRowStretchFactor(0, 1)
        view.ci.layout.setRowStretchFactor(1, 3)

        names = [theme.regime_short_label(r) for r in Regime]
        brushes = [theme.regime_color(r) for r in Regime]
        self.share_plot, _ = category_plot("share of time", names, "%")
        self.pnl_plot, _ = category_plot("realised PnL", names, "$")
        view.addItem(self.share_plot, row=1, col=0)
        view.addItem(self.pnl_plot, row=1, col=1)
        xs = np.arange(len(names), dtype=np.float64)
        zeros = np.zeros(len(names))
        self.share_bars = pg.BarGraphItem(x=xs, height=zeros, width=0.7, brushes=brushes, pen=None)
        self.pnl_bars = pg.BarGraphItem(x=xs, height=zeros, width=0.7, brushes=brushes, pen=None)
        self.share_plot.addItem(self.share_bars)
        self.pnl_plot.addItem(self.pnl_bars)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(view)

    @property
    def ring(self) -> ColumnRing:
        return self._ring

    def apply_batch(self, batch: SnapshotBatch, x: np.ndarray) -> None:
        share = _per_regime(batch.regime_share, "regime_share") * 100.0
        pnl = _per_regime(batch.regime_pnl, "regime_pnl")
        if len(x):
            self._ring.extend(x=x, regime=batch.regime.astype(np.int8, copy=False))
        self._share, self._pnl = share, pnl
        self.dirty = True

    def redraw(self) -> None:
        if self._ring.total != self._drawn_bars:
            self._drawn_bars = self._ring.total
            self.band.set_data(self._ring["x"], self._ring["regime"])
        drawn_share, drawn_pnl = self.distribution()
        if visibly_changed(drawn_share, self._share):
            self.share_bars.setOpts(height=self._share)
        if visibly_changed(drawn_pnl, self._pnl):
            self.pnl_bars.setOpts(height=self._pnl)
        self._time.follow(self.timeline.getViewBox())
        settle(self._view)

    def distribution(self) -> tuple[np.ndarray, np.ndarray]:
        """(share of time in %, realised PnL) per regime, in Regime code order, as drawn."""
        return (np.asarray(self.share_bars.opts["height"], dtype=np.float64),
                np.asarray(self.pnl_bars.opts["height"], dtype=np.float64))


def visibly_changed(drawn: np.ndarray, new: np.ndarray, tolerance: float = 1e-3) -> bool:
    """Whether bars at `new` would look different from those drawn at `drawn`.

    Moves smaller than `tolerance` of the tallest bar are below a pixel on any pane size, so
    redrawing for them (every batch, as fitness and shares drift) is wasted; they are drawn
    once they add up, because the comparison is with what is on screen.
    """
    if drawn.shape != new.shape:
        return True
    if len(new) == 0:
        return False
    scale = max(float(np.max(np.abs(new))), float(np.max(np.abs(drawn))))
    return bool(np.max(np.abs(new - drawn)) > tolerance * scale) if scale > 0.0 else False


def _per_regime(values: dict[str, float], name: str) -> np.ndarray:
    out = np.zeros(len(Regime), dtype=np.float64)
    for key, value in values.items():
        try:
            out[int(Regime.parse(key))] = value
        except ValueError as exc:
            raise ValueError(f"batch.{name} has key {key!r}: {exc}") from None
    return out
