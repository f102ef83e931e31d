"""Weight evolution pane: each agent's weight in the current regime, stacked over time.

The ring buffers hold the running top edge of each agent's band (the cumulative sum up to
that agent), so a redraw only points the curves at the rings.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app import theme
from app.snapshot import SnapshotBatch
from widgets.redraw import settle
from widgets.ring import RingBuffer
from widgets.time_axis import BarClock, TimeAxisItem

# Weights move only when the adaptor updates them, so a sample is kept only when they change,
# plus one trailing sample that slides along with the newest bar while they hold still.
WEIGHTS_CAPACITY = 20_000
_FILL_OPACITY = 150 / 255


class WeightsPane(QWidget):
    def __init__(self, clock: BarClock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.agents: list[str] = []
        self._last: np.ndarray | None = None
        self._trailing = False
        self._x = RingBuffer(WEIGHTS_CAPACITY, np.float64)
        self._drawn: tuple[int, float] | None = None     # (samples, newest x) last drawn
        self.dirty = False
        self._tops: list[RingBuffer] = []
        self._curves: list[pg.PlotDataItem] = []
        self.plot_widget = pg.PlotWidget(axisItems={"bottom": TimeAxisItem(clock)})
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLabel("left", "weight")
        self.plot.hideButtons()
        self.plot.setMouseEnabled(y=False)
        self.plot.getViewBox().enableAutoRange(x=True, y=False)
        self.plot.setDownsampling(auto=True, mode="peak")
        # One row across the top, so the legend does not hide the bands.
        self.legend = self.plot.addLegend(offset=(40, 1), labelTextColor=theme.TEXT,
                                          colCount=8, verSpacing=-6)
        self.plot.setYRange(0.0, 1.15, padding=0.0)
        self._base = self._new_curve(pg.mkPen(None))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

    def _new_curve(self, pen: object) -> pg.PlotDataItem:
        curve = pg.PlotDataItem(pen=pen)
        self.plot.addItem(curve)
        return curve

    def _add_agent(self, agent: str) -> None:
        ring = RingBuffer(WEIGHTS_CAPACITY, np.float64)
        # A newcomer has had zero weight so far: its band starts flat on top of the stack.
        below = self._tops[-1].view() if self._tops else np.zeros(len(self._x))
        ring.extend(below.copy())
        color = theme.agent_color(agent)
        curve = self._new_curve(pg.mkPen(color, width=1))
        # The bands never overlap, so an opaque colour pre-mixed with the background looks the
        # same as a translucent one and saves the software rasteriser blending the whole plot.
        fill_color = theme.mix(color, theme.BACKGROUND, _FILL_OPACITY)
        fill = pg.FillBetweenItem(self._curves[-1] if self._curves else self._base, curve,
                                  brush=pg.mkBrush(fill_color))
        self.plot.addItem(fill)
        # A legend sample for the band (FillBetweenItem itself cannot be a legend sample).
        swatch = pg.BarGraphItem(x=[0.0], height=[1.0], width=1.0, brush=pg.mkBrush(fill_color),
                                 pen=pg.mkPen(color))
        self.legend.addItem(swatch, agent.replace("_", " "))
        self.agents.append(agent)
        self._tops.append(ring)
        self._curves.append(curve)

    def apply_batch(self, batch: SnapshotBatch, x: np.ndarray) -> None:
        if not batch.weights or len(x) == 0:
            return
        for agent in batch.weights:
            if agent not in self.agents:
                self._add_agent(agent)
        weights = np.array([batch.weights.get(a, 0.0) for a in self.agents], dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
        if len(bad):
            agent = self.agents[int(bad[0])]
            raise ValueError(f"batch.weights[{agent!r}] = {float(weights[bad[0]])!r}; expected >= 0")
        same = self._last is not None and len(self._last) == len(weights) and \
            np.array_equal(self._last, weights)
        if same and self._trailing:
            self._x.replace_last(float(x[-1]))
        else:
            self._x.append(float(x[-1]))
            for ring, top in zip(self._tops, np.cumsum(weights)):
                ring.append(float(top))
        self._trailing = same
        self._last = weights
        self.dirty = True

    def redraw(self) -> None:
        if len(self._x) == 0:
            return
        drawn = (self._x.total, self._x.last())
        if drawn == self._drawn:
            return
        self._drawn = drawn
        xs = self._x.view()
        self._base.setData(xs, np.zeros(len(xs)))
        for ring, curve in zip(self._tops, self._curves):
            curve.setData(xs, ring.view())
        settle(self.plot_widget)

    def stacked(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, tops) as held: tops[k] is the top edge of agent k's band."""
        return self._x.view(), np.vstack([r.view() for r in self._tops]) if self._tops else \
            np.empty((0, len(self._x)))
