"""Price pane: candles, trade markers, open FVG zones, regime background and a crosshair.

Its view leads the shared time window (see `TimeWindow`). Batches only go into the ring
buffers; `redraw()` brings the chart up to date when the scheduler gets to it.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app import theme
from app.snapshot import GapZone, SnapshotBatch, TradeMark
from engine.regime.regime import Regime
from widgets.candles import CandlestickItem
from widgets.live_text import LiveText
from widgets.redraw import settle
from widgets.regime_pane import RegimeBandItem
from widgets.ring import ColumnRing
from widgets.time_axis import TimeAxisItem
from widgets.time_window import TimeWindow

PRICE_CAPACITY = 20_000
TRADE_CAPACITY = 5_000
GAP_KINDS = ("bullish", "bearish")

# Marker groups: (side, outcome) -> (symbol, colour, filled). Entries are neutral; exits say
# whether the trade won or lost.
_MARKER_GROUPS: tuple[tuple[str, str, str, str], ...] = (
    ("buy", "entry", "t1", theme.ENTRY_MARK),
    ("sell", "entry", "t", theme.ENTRY_MARK),
    ("buy", "win", "t1", theme.WIN),
    ("sell", "win", "t", theme.WIN),
    ("buy", "loss", "t1", theme.LOSS),
    ("sell", "loss", "t", theme.LOSS),
)


def marker_group(mark: TradeMark) -> int:
    if mark.side not in ("buy", "sell") or mark.kind not in ("entry", "exit"):
        raise ValueError(
            f"trade mark side={mark.side!r} kind={mark.kind!r}; expected side buy|sell "
            "and kind entry|exit"
        )
    outcome = "entry" if mark.kind == "entry" else ("win" if mark.pnl > 0 else "loss")
    return next(i for i, g in enumerate(_MARKER_GROUPS) if g[:2] == (mark.side, outcome))


def check_gaps(gaps: tuple[GapZone, ...]) -> None:
    bad = [g.kind for g in gaps if g.kind not in GAP_KINDS]
    if bad:
        raise ValueError(f"gap zone kind {bad[0]!r}; expected 'bullish' or 'bearish'")


class ZoneItem(pg.GraphicsObject):
    """Shaded boxes for the open fair-value gaps, from the gap's bar to the latest bar."""

    def __init__(self) -> None:
        super().__init__()
        self._rects: dict[str, tuple[np.ndarray, ...]] = {}
        self._bounds = QRectF()
        self._x_end = 0.0
        self._brushes = {"bullish": pg.mkBrush(theme.BULLISH_GAP),
                         "bearish": pg.mkBrush(theme.BEARISH_GAP)}
        self._shown: tuple[tuple[GapZone, ...], float] | None = None
        self._pens = {"bullish": pg.mkPen(theme.BULLISH_GAP.lighter(160)),
                      "bearish": pg.mkPen(theme.BEARISH_GAP.lighter(160))}
        self.zone_count = 0

    def set_zones(self, gaps: tuple[GapZone, ...], x_start: np.ndarray, x_end: float) -> None:
        check_gaps(gaps)
        if self._shown == (gaps, x_end):
            return
        self._shown = (gaps, x_end)
        self.prepareGeometryChange()
        self._rects = {}
        for kind in ("bullish", "bearish"):
            idx = [i for i, g in enumerate(gaps) if g.kind == kind]
            self._rects[kind] = (
                x_start[idx] - 0.5,
                np.array([gaps[i].bottom for i in idx], dtype=np.float64),
                np.array([gaps[i].top for i in idx], dtype=np.float64),
            )
        self._x_end = x_end + 0.5
        self.zone_count = len(gaps)
        if gaps:
            lo = min(g.bottom for g in gaps)
            hi = max(g.top for g in gaps)
            x0 = float(x_start.min()) - 0.5
            self._bounds = QRectF(x0, lo, self._x_end - x0, hi - lo)
        else:
            self._bounds = QRectF()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(self._bounds)

    def paint(self, p: QPainter, *args: object) -> None:
        for kind, (x0, bottom, top) in self._rects.items():
            if len(x0) == 0:
                continue
            p.setPen(self._pens[kind])
            p.setBrush(self._brushes[kind])
            for left, b, t in zip(x0, bottom, top):
                p.drawRect(QRectF(float(left), float(b), self._x_end - float(left), float(t - b)))


def regime_legend_html() -> str:
    parts = [f'<span style="color:{theme.REGIME_COLORS[r]}">■</span> {theme.regime_label(r)}'
             for r in Regime]
    return "&nbsp;&nbsp;".join(parts)


class PricePane(QWidget):
    def __init__(self, time: TimeWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._time = time
        self._clock = time.clock
        self._bars = ColumnRing(PRICE_CAPACITY, {
            "x": np.float64, "ts": np.int64, "open": np.float64, "high": np.float64,
            "low": np.float64, "close": np.float64, "volume": np.float64, "regime": np.int8,
        })
        self._trades = ColumnRing(TRADE_CAPACITY, {"x": np.float64, "price": np.float64,
                                                   "group": np.int8})
        self._gaps: tuple[GapZone, ...] = ()
        self._drawn_bars = -1           # bars total when the candles were last handed over
        self._marker_keys: list[tuple[float, ...]] = [()] * len(_MARKER_GROUPS)
        self.dirty = False

        self.readout = LiveText(
            style=f"font-family: monospace; padding: 2px 6px; color: {theme.TEXT}", rich=True)
        self.plot_widget = pg.PlotWidget(axisItems={"bottom": TimeAxisItem(self._clock)})
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLabel("right", "price ($)")
        self.plot.showAxis("right")
        self.plot.hideAxis("left")
        self.plot.getAxis("right").setWidth(theme.VALUE_AXIS_WIDTH)
        self.plot.hideButtons()
        self.view = self.plot.getViewBox()
        self.view.enableAutoRange(x=False, y=True)
        self.view.setAutoVisible(y=True)
        time.attach(self.view)

        self.background_band = RegimeBandItem(alpha=38)
        self.background_band.setZValue(-20)
        self.plot.addItem(self.background_band, ignoreBounds=True)
        self.zones = ZoneItem()
        self.zones.setZValue(-10)
        self.plot.addItem(self.zones, ignoreBounds=True)
        self.candles = CandlestickItem()
        self.plot.addItem(self.candles)
        self.markers: list[pg.ScatterPlotItem] = []
        for _side, outcome, symbol, color in _MARKER_GROUPS:
            filled = outcome != "entry"
            item = pg.ScatterPlotItem(
                symbol=symbol, size=11, pen=pg.mkPen(color, width=1.5),
                brush=pg.mkBrush(color) if filled else pg.mkBrush(None))
            item.setZValue(10)
            self.plot.addItem(item, ignoreBounds=True)
            self.markers.append(item)
        dim = pg.mkPen(theme.TEXT_DIM, style=Qt.PenStyle.DashLine)
        self._cross_v = pg.InfiniteLine(angle=90, movable=False, pen=dim)
        self._cross_h = pg.InfiniteLine(angle=0, movable=False, pen=dim)
        for line in (self._cross_v, self._cross_h):
            line.setVisible(False)
            self.plot.addItem(line, ignoreBounds=True)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)

        legend = QLabel(regime_legend_html())
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setStyleSheet(f"padding: 2px 6px; color: {theme.TEXT_DIM}")
        legend.setToolTip("background shading: one colour per regime, the same in every pane")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.readout)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(legend)
        self._show_readout(None)

    @property
    def bars(self) -> ColumnRing:
        return self._bars

    @property
    def trades(self) -> ColumnRing:
        return self._trades

    def apply_batch(self, batch: SnapshotBatch, x: np.ndarray) -> None:
        check_gaps(batch.gaps)
        if batch.trades:
            groups = np.array([marker_group(t) for t in batch.trades], dtype=np.int8)
        if len(x):
            self._bars.extend(x=x, ts=batch.ts, open=batch.open, high=batch.high, low=batch.low,
                              close=batch.close, volume=batch.volume,
                              regime=batch.regime.astype(np.int8, copy=False))
        if batch.trades:
            self._trades.extend(
                x=self._clock.index_of(np.array([t.ts for t in batch.trades], dtype=np.int64)),
                price=np.array([t.price for t in batch.trades], dtype=np.float64), group=groups)
        self._gaps = batch.gaps
        self.dirty = True

    def redraw(self) -> None:
        b = self._bars
        if len(b) and b.total != self._drawn_bars:
            self._drawn_bars = b.total
            self.candles.set_data(b["x"], b["open"], b["high"], b["low"], b["close"])
            self.background_band.set_data(b["x"], b["regime"])
        self._draw_trades()
        if len(b):
            starts = self._clock.index_of(np.array([g.start_ts for g in self._gaps], dtype=np.int64))
            self.zones.set_zones(self._gaps, starts, float(b["x"][-1]))
            if not self._cross_v.isVisible():
                self._show_readout(None)
        self._time.follow(self.view)
        settle(self.plot_widget)

    def _draw_trades(self) -> None:
        """Marks on bars still held; a group is handed to pyqtgraph only when it changed."""
        if len(self._trades) == 0:
            return
        first_bar = self._bars["x"][0] if len(self._bars) else 0.0
        xs, groups, prices = self._trades["x"], self._trades["group"], self._trades["price"]
        keep = xs >= first_bar
        for i, item in enumerate(self.markers):
            mask = keep & (groups == i)
            shown = xs[mask]
            # Marks are only added at the end and dropped at the start, so the count and the
            # two ends tell whether a group changed.
            key = (len(shown), shown[0], shown[-1]) if len(shown) else (0,)
            if key != self._marker_keys[i]:
                self._marker_keys[i] = key
                item.setData(x=shown, y=prices[mask])

    # --- crosshair ----------------------------------------------------------------------
    def _on_mouse_moved(self, pos: QPointF) -> None:
        inside = self.view.sceneBoundingRect().contains(pos) and len(self._bars) > 0
        self._cross_v.setVisible(inside)
        self._cross_h.setVisible(inside)
        if not inside:
            self._show_readout(None)
            return
        point = self.view.mapSceneToView(pos)
        self._cross_v.setPos(round(point.x()))
        self._cross_h.setPos(point.y())
        self._show_readout(point.x(), point.y())

    def _show_readout(self, x: float | None, y: float | None = None) -> None:
        """OHLC of the bar under the cursor, or of the newest bar when the cursor is away."""
        if len(self._bars) == 0:
            self.readout.setText("no bars yet")
            return
        xs = self._bars["x"]
        i = len(xs) - 1 if x is None else int(np.clip(round(x) - xs[0], 0, len(xs) - 1))
        b = self._bars
        up = b["close"][i] >= b["open"][i]
        color = theme.UP_CANDLE if up else theme.DOWN_CANDLE
        regime = int(b["regime"][i])
        cursor = "" if y is None else f"&nbsp;&nbsp;cursor {y:,.2f}"
        self.readout.setText(
            f"{theme.format_time_et(int(b['ts'][i]), with_date=True)}&nbsp;&nbsp;"
            f'<span style="color:{color}">O {b["open"][i]:,.2f}&nbsp; H {b["high"][i]:,.2f}'
            f'&nbsp; L {b["low"][i]:,.2f}&nbsp; C {b["close"][i]:,.2f}</span>'
            f"&nbsp;&nbsp;V {b['volume'][i]:,.0f}&nbsp;&nbsp;"
            f'<span style="color:{theme.REGIME_COLORS[Regime(regime)]}">'
            f"{theme.regime_label(regime)}</span>{cursor}"
        )
