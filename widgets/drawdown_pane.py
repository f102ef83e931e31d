"""Drawdown pane: the underwater curve (filled) with the soft and hard limits drawn."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app import theme
from app.snapshot import SnapshotBatch
from widgets.redraw import settle
from widgets.equity_pane import EQUITY_CAPACITY, LineSeries, PercentAxis, time_plot
from widgets.time_window import TimeWindow

_HEADROOM = 1.25    # show a quarter below the hard limit, so the limit line is never on the edge


def _limit_line(color: str, name: str) -> pg.InfiniteLine:
    line = pg.InfiniteLine(
        angle=0, movable=False, pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine),
        label=name, labelOpts={"position": 0.03, "color": color, "anchors": [(0, 1), (0, 1)]},
    )
    return line


class DrawdownPane(QWidget):
    def __init__(self, time: TimeWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._time = time
        self.dirty = False
        self.plot_widget = time_plot(time, PercentAxis(orientation="right"))
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLabel("right", "drawdown")
        self.plot.getViewBox().enableAutoRange(y=False)
        self.plot.setMouseEnabled(y=False)
        self.series = LineSeries(self.plot, EQUITY_CAPACITY, pg.mkPen(theme.LOSS, width=1),
                                 fillLevel=0.0, brush=pg.mkBrush(theme.DRAWDOWN_FILL))
        self.soft_line = _limit_line(theme.SOFT_LIMIT, "soft")
        self.hard_line = _limit_line(theme.HARD_LIMIT, "hard")
        for line in (self.soft_line, self.hard_line):
            self.plot.addItem(line, ignoreBounds=True)
        self._limits: tuple[float, float] | None = None
        self._drawn_limits: tuple[float, float] | None = None
        self._deepest = 0.0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

    def apply_batch(self, batch: SnapshotBatch, x: np.ndarray) -> None:
        limits = (batch.soft_drawdown, batch.hard_drawdown)
        for name, value in zip(("soft_drawdown", "hard_drawdown"), limits):
            if not 0.0 < value < 1.0:
                raise ValueError(f"batch.{name} = {value!r}; expected a fraction in (0, 1)")
        self.series.extend(x, np.asarray(batch.drawdown, dtype=np.float64) * 100.0)
        if len(x):
            self._deepest = min(self._deepest, float(np.min(batch.drawdown)) * 100.0)
        self._limits = limits
        self.dirty = True

    def redraw(self) -> None:
        self.series.draw()
        if self._limits is not None and self._limits != self._drawn_limits:
            self._draw_limits(*self._limits)
        hard_pct = self._limits[1] * 100.0 if self._limits else 0.0
        low = min(-hard_pct * _HEADROOM, self._deepest * 1.05)
        self.plot.setYRange(low, max(0.5, -low * 0.03), padding=0.0)
        self._time.follow(self.plot.getViewBox())
        settle(self.plot_widget)

    def _draw_limits(self, soft: float, hard: float) -> None:
        self._drawn_limits = (soft, hard)
        self.soft_line.setPos(-soft * 100.0)
        self.soft_line.label.setFormat(f"soft limit {theme.format_pct(-soft, 1)}")
        self.hard_line.setPos(-hard * 100.0)
        self.hard_line.label.setFormat(f"hard limit {theme.format_pct(-hard, 1)}")
