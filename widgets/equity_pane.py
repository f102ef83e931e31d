"""Equity pane: the account's equity curve on the shared time axis.

`LineSeries` and `time_plot` are shared with the drawdown pane: a ring-buffered line that
pyqtgraph clips to the view and peak-downsamples, so hours of bars stay fast.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app import theme
from app.snapshot import SnapshotBatch, Status
from widgets.live_text import LiveText
from widgets.redraw import settle
from widgets.ring import ColumnRing
from widgets.time_axis import TimeAxisItem
from widgets.time_window import TimeWindow

EQUITY_CAPACITY = 500_000


class MoneyAxis(pg.AxisItem):
    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:  # noqa: N802
        digits = 0 if spacing >= 1 else 2
        return [f"{v * scale:,.{digits}f}" for v in values]


class PercentAxis(pg.AxisItem):
    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:  # noqa: N802
        digits = 0 if spacing >= 1 else 1
        return [f"{v * scale:.{digits}f}%" for v in values]


def time_plot(time: TimeWindow, value_axis: pg.AxisItem) -> pg.PlotWidget:
    widget = pg.PlotWidget(axisItems={"bottom": TimeAxisItem(time.clock), "right": value_axis})
    plot = widget.getPlotItem()
    plot.showAxis("right")
    plot.hideAxis("left")
    plot.getAxis("right").setWidth(theme.VALUE_AXIS_WIDTH)
    plot.hideButtons()
    # Set on the plot, not the curve: PlotItem.addItem overwrites a curve's own settings.
    plot.setDownsampling(auto=True, mode="peak")
    plot.setClipToView(True)
    view = plot.getViewBox()
    view.enableAutoRange(x=False, y=True)
    view.setAutoVisible(y=True)
    time.attach(view)
    return widget


class LineSeries:
    """A value per bar in a ring buffer, drawn as one clipped, peak-downsampled line."""

    def __init__(self, plot: pg.PlotItem, capacity: int, pen: object, **curve_opts: object) -> None:
        self.ring = ColumnRing(capacity, {"x": np.float64, "y": np.float64})
        self.curve = pg.PlotDataItem(pen=pen, **curve_opts)
        plot.addItem(self.curve)
        self._drawn = -1

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        if len(x):
            self.ring.extend(x=x, y=np.asarray(y, dtype=np.float64))

    def draw(self) -> None:
        """Hand the held values to the curve, if any arrived since the last draw."""
        if self.ring.total != self._drawn:
            self._drawn = self.ring.total
            self.curve.setData(self.ring["x"], self.ring["y"])


class EquityPane(QWidget):
    def __init__(self, time: TimeWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._time = time
        self._status: Status | None = None
        self.dirty = False
        self.header = LiveText(
            "equity —", style=f"font-family: monospace; padding: 2px 6px; color: {theme.TEXT}")
        self.plot_widget = time_plot(time, MoneyAxis(orientation="right"))
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLabel("right", "equity ($)")
        self.series = LineSeries(self.plot, EQUITY_CAPACITY, pg.mkPen(theme.EQUITY_LINE, width=1.5))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.plot_widget, 1)

    def apply_batch(self, batch: SnapshotBatch, x: np.ndarray) -> None:
        self.series.extend(x, batch.equity)
        self._status = batch.status
        self.dirty = True

    def redraw(self) -> None:
        self.series.draw()
        s = self._status
        if s is not None:
            self.header.setText(
                f"equity {theme.format_money(s.equity)}   cash {theme.format_money(s.cash)}   "
                f"day {theme.format_signed_money(s.day_pnl)} ({theme.format_pct(s.day_pnl_pct)})"
            )
        self._time.follow(self.plot.getViewBox())
        settle(self.plot_widget)
