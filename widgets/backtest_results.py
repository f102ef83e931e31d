"""Backtest results: one run in detail, or several side by side.

`ResultView` shows one run: the statistics, trades by regime and by agent, equity and
drawdown on the exchange-time axis, and every trade. `ComparisonView` shows two or more:
one statistics column per run and their equity curves normalised to 100 at the start, on
one time axis (the union of the runs' bars), one colour per run.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QSplitter, QTableView, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from app import theme
from engine.backtest.backtester import BacktestResult
from engine.backtest.stats import TradeStats
from engine.portfolio.trades import Trade
from engine.regime.regime import Regime
from widgets.tables import Column, RowsModel
from widgets.time_axis import BarClock, TimeAxisItem

# One colour per run, apart from the win/loss pair so a run is never read as a result.
RUN_COLORS = ("#4fc3f7", "#ffca28", "#f48fb1", "#aed581", "#ce93d8", "#ffab91", "#80cbc4", "#e6ee9c")
_REGIMES_BY_LABEL = {r.label: r for r in Regime}


@dataclass(frozen=True)
class RunRecord:
    """A finished run kept in the dialog's list."""

    number: int
    label: str
    result: BacktestResult

    @property
    def color(self) -> str:
        return RUN_COLORS[(self.number - 1) % len(RUN_COLORS)]

    @property
    def title(self) -> str:
        return f"#{self.number} {self.label}"


def swatch(color: str, size: int = 12) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


def number_text(value: float, decimals: int = 2) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:,.{decimals}f}"


def _sign_color(value: float) -> QColor | None:
    if not math.isfinite(value) or value == 0:
        return None
    return QColor(theme.WIN if value > 0 else theme.LOSS)


def _key_color(kind: str, key: str) -> QColor | None:
    if kind == "regime":
        regime = _REGIMES_BY_LABEL.get(key)
        return None if regime is None else theme.regime_color(regime)
    return theme.agent_color(key) if key else None


def _item(text: str, numeric: bool = False, color: QColor | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if numeric:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if color is not None:
        item.setForeground(color)
    return item


def _style(view: QTableView) -> None:
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(20)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.horizontalHeader().setStretchLastSection(True)


def _table(headers: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    _style(table)
    return table


def _stat_color(text: str) -> QColor | None:
    # as_rows() writes returns and drawdowns with an explicit sign; colour those alone.
    if text.startswith("+") and text != "+0.00%":
        return QColor(theme.WIN)
    if text.startswith("-") and text not in ("-0.00%", "-inf"):
        return QColor(theme.LOSS)
    return None


def fill_stats(table: QTableWidget, result: BacktestResult) -> None:
    rows = result.stats.as_rows()
    table.setRowCount(len(rows))
    for r, (label, value) in enumerate(rows):
        table.setItem(r, 0, _item(label))
        table.setItem(r, 1, _item(value, numeric=True, color=_stat_color(value)))
    table.resizeColumnsToContents()


BREAKDOWN_HEADERS = ("Trades", "Win rate", "PnL ($)", "Profit factor", "Expectancy ($)")


def fill_breakdown(table: QTableWidget, kind: str, groups: dict[str, TradeStats]) -> None:
    table.setRowCount(len(groups))
    for r, (key, s) in enumerate(groups.items()):
        regime = _REGIMES_BY_LABEL.get(key) if kind == "regime" else None
        name = theme.regime_label(regime) if regime is not None else (key or "—")
        cells = [
            _item(name, color=_key_color(kind, key)),
            _item(f"{s.count:,}", numeric=True),
            _item("n/a" if math.isnan(s.win_rate) else f"{s.win_rate:.1%}", numeric=True),
            _item(theme.format_signed_money(s.total_pnl), numeric=True, color=_sign_color(s.total_pnl)),
            _item(number_text(s.profit_factor), numeric=True),
            _item("n/a" if math.isnan(s.expectancy) else theme.format_signed_money(s.expectancy), numeric=True,
                  color=_sign_color(s.expectancy)),
        ]
        for c, cell in enumerate(cells):
            table.setItem(r, c, cell)
    table.resizeColumnsToContents()


def _time(value: object) -> str:
    return theme.format_time_et(int(value), with_date=True)


def _money(value: object) -> str:
    return theme.format_money(float(value))


def _signed(value: object) -> str:
    return theme.format_signed_money(float(value))


def _qty(value: object) -> str:
    return f"{float(value):,.0f}" if float(value).is_integer() else f"{float(value):,.4g}"


TRADE_COLUMNS = (
    Column(f"Entry ({theme.EXCHANGE_TZ_LABEL})", 0, _time),
    Column(f"Exit ({theme.EXCHANGE_TZ_LABEL})", 1, _time),
    Column("Side", 2),
    Column("Qty", 3, _qty, numeric=True),
    Column("Entry ($)", 4, _money, numeric=True),
    Column("Exit ($)", 5, _money, numeric=True),
    Column("PnL ($)", 6, _signed, numeric=True, signed_colour=True),
    Column("Fees ($)", 7, _money, numeric=True),
    Column("Agent", 8),
    Column("Regime", 9, lambda v: str(v).replace("_", " ")),
    Column("Bars held", 10, lambda v: f"{int(v):,}", numeric=True),
)
_AGENT_FIELD, _REGIME_FIELD = 8, 9
_SIZED_ROWS = 200   # rows measured to size the trade columns


def trade_row(t: Trade) -> tuple:
    return (t.entry_ts, t.exit_ts, t.side.value, t.qty, t.entry_price, t.exit_price, t.pnl, t.fees,
            t.agent, t.regime, t.bars_held)


AnyIndex = QModelIndex | QPersistentModelIndex


class TradesModel(RowsModel):
    """Trades, with the agent and regime in their colours."""

    def __init__(self) -> None:
        super().__init__(TRADE_COLUMNS, max_rows=10_000_000)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid():
            field = self.columns[index.column()].field
            if field in (_AGENT_FIELD, _REGIME_FIELD):
                value = str(self._rows[index.row()][field])
                return _key_color("agent" if field == _AGENT_FIELD else "regime", value)
        return super().data(index, role)


class DecimalAxis(pg.AxisItem):
    """Right-hand value axis with just enough decimals for the tick spacing, and a unit."""

    def __init__(self, suffix: str = "") -> None:
        super().__init__(orientation="right")
        self.suffix = suffix

    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:  # noqa: N802
        step = spacing * scale
        digits = min(6, max(0, math.ceil(-math.log10(step)))) if step > 0 else 2
        return [f"{v * scale:,.{digits}f}{self.suffix}" for v in values]


_LABEL_PX = 75   # room one time label needs


def spaced_ticks(ticks: Sequence[float], is_new_day: Callable[[float], bool], min_gap: float) -> list[float]:
    """Ticks at least `min_gap` apart, session opens first: over several days an hour tick
    30 bars after the open would otherwise print over the date."""
    days = [t for t in ticks if is_new_day(t)]
    kept = list(days)
    for t in ticks:
        if not is_new_day(t) and all(abs(t - k) >= min_gap for k in kept):
            kept.append(t)
    return sorted(kept)


class SpacedTimeAxis(TimeAxisItem):
    """The shared exchange-time axis, with labels that never overlap across sessions."""

    def __init__(self, clock: BarClock) -> None:
        super().__init__(clock)
        self._bars = clock

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802
        levels = super().tickValues(minVal, maxVal, size)
        if not levels or size <= 0:
            return levels
        spacing, ticks = levels[0]
        min_gap = (maxVal - minVal) / size * _LABEL_PX
        return [(spacing, spaced_ticks(ticks, self._opens_day, min_gap))]

    def _opens_day(self, x: float) -> bool:
        ts, before = self._bars.ts_at(x), self._bars.ts_at(x - 1)
        if ts is None or before is None:
            return False
        return theme.exchange_time(ts).date() != theme.exchange_time(before).date()


def result_plot(clock: BarClock, value_axis: pg.AxisItem, label: str) -> pg.PlotWidget:
    """A static chart on the bar-number time line (nights leave no gaps), whole run in view."""
    value_axis.enableAutoSIPrefix(False)   # a -0.04 % drawdown must not read "-40 % (x0.001)"
    widget = pg.PlotWidget(axisItems={"bottom": SpacedTimeAxis(clock), "right": value_axis})
    item = widget.getPlotItem()
    item.showAxis("right")
    item.hideAxis("left")
    item.getAxis("right").setWidth(theme.VALUE_AXIS_WIDTH)
    item.setLabel("right", label)
    item.hideButtons()
    # Set on the plot, not the curves: PlotItem.addItem overwrites a curve's own settings.
    item.setDownsampling(auto=True, mode="peak")
    item.setClipToView(True)
    item.getViewBox().setAutoVisible(y=True)
    return widget


def _discard(widget: QWidget | None) -> None:
    if widget is not None:
        widget.hide()
        widget.setParent(None)
        widget.deleteLater()


class ResultView(QWidget):
    """One run in detail."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; padding: 2px 4px;")
        self.stats_table = _table(("Statistic", "Value"))
        self.regime_table = _table(("Regime", *BREAKDOWN_HEADERS))
        self.agent_table = _table(("Agent", *BREAKDOWN_HEADERS))
        breakdowns = QWidget()
        side = QVBoxLayout(breakdowns)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(QLabel("Trades by regime (at entry)"))
        side.addWidget(self.regime_table, 1)
        side.addWidget(QLabel("Trades by agent (that opened the position)"))
        side.addWidget(self.agent_table, 1)
        summary = QSplitter(Qt.Orientation.Horizontal)
        summary.addWidget(self.stats_table)
        summary.addWidget(breakdowns)
        summary.setSizes([340, 560])

        self.charts = QWidget()
        self._charts_layout = QVBoxLayout(self.charts)
        self._charts_layout.setContentsMargins(0, 0, 0, 0)
        self.equity_plot: pg.PlotWidget | None = None
        self.drawdown_plot: pg.PlotWidget | None = None

        self.trades_model = TradesModel()
        self.trades_proxy = QSortFilterProxyModel()
        self.trades_proxy.setSourceModel(self.trades_model)
        self.trades_proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.trades_view = QTableView()
        self.trades_view.setModel(self.trades_proxy)
        self.trades_view.setSortingEnabled(True)
        _style(self.trades_view)
        header = self.trades_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setResizeContentsPrecision(_SIZED_ROWS)   # sizing every row of 5,000 trades took 0.6 s

        self.tabs = QTabWidget()
        self.tabs.addTab(summary, "Summary")
        self.tabs.addTab(self.charts, "Equity and drawdown")
        self.tabs.addTab(self.trades_view, "Trades")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.tabs, 1)

    def show_run(self, run: RunRecord) -> None:
        result = run.result
        self.title.setText(run.title)
        self.title.setStyleSheet(f"font-weight: bold; padding: 2px 4px; color: {run.color};")
        fill_stats(self.stats_table, result)
        fill_breakdown(self.regime_table, "regime", result.by_regime)
        fill_breakdown(self.agent_table, "agent", result.by_agent)
        # Unsorted first: a new run opens in time order, and the proxy skips an n log n re-sort.
        self.trades_view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.trades_model.replace([trade_row(t) for t in result.trades])
        self.trades_view.resizeColumnsToContents()
        self.tabs.setTabText(2, f"Trades ({len(result.trades):,})")
        self._draw_charts(result)

    def _draw_charts(self, result: BacktestResult) -> None:
        # A fresh clock and plots per run: the time axis reads its bars from the clock.
        _discard(self.equity_plot)
        _discard(self.drawdown_plot)
        clock = BarClock(max(result.bars, 1))
        x = clock.extend(result.ts)
        self.equity_plot = result_plot(clock, DecimalAxis(), "equity ($)")
        self.equity_plot.plot(x, result.equity, pen=pg.mkPen(theme.EQUITY_LINE, width=1.5))
        self.drawdown_plot = result_plot(clock, DecimalAxis("%"), "drawdown")
        self.drawdown_plot.plot(x, result.drawdown * 100.0, pen=pg.mkPen(theme.LOSS, width=1),
                                fillLevel=0.0, brush=pg.mkBrush(theme.DRAWDOWN_FILL))
        self.drawdown_plot.setXLink(self.equity_plot)
        self._charts_layout.addWidget(self.equity_plot, 3)
        self._charts_layout.addWidget(self.drawdown_plot, 2)


def normalised_equity(equity: np.ndarray) -> np.ndarray:
    """Equity rebased to 100 at the first bar."""
    return 100.0 * np.asarray(equity, dtype=np.float64) / float(equity[0])


class ComparisonView(QWidget):
    """Two or more runs: statistics side by side and the normalised equity curves overlaid."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = _table(("Statistic",))
        self.table.horizontalHeader().setStretchLastSection(False)
        self.chart_box = QWidget()
        self._chart_layout = QVBoxLayout(self.chart_box)
        self._chart_layout.setContentsMargins(0, 0, 0, 0)
        self.plot: pg.PlotWidget | None = None
        self.curves: list[pg.PlotDataItem] = []
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.chart_box)
        splitter.addWidget(self.table)
        splitter.setSizes([380, 420])
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; padding: 2px 4px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(splitter, 1)

    def show_runs(self, runs: Sequence[RunRecord]) -> None:
        if len(runs) < 2:
            raise ValueError(f"ComparisonView.show_runs got {len(runs)} run(s); expected two or more")
        self.title.setText(f"Comparing {len(runs)} runs · equity normalised to 100 at each run's first bar")
        self._fill_table(runs)
        self._draw(runs)

    def _fill_table(self, runs: Sequence[RunRecord]) -> None:
        columns = [run.result.stats.as_rows() for run in runs]
        labels = [label for label, _ in columns[0]]
        self.table.clear()
        self.table.setColumnCount(1 + len(runs))
        self.table.setRowCount(len(labels))
        self.table.setHorizontalHeaderItem(0, QTableWidgetItem("Statistic"))
        for c, run in enumerate(runs, start=1):
            source, _, rest = run.title.partition(" · ")
            head = QTableWidgetItem(f"{source}\n{rest}" if rest else source)
            head.setIcon(swatch(run.color))
            head.setToolTip(run.title)
            self.table.setHorizontalHeaderItem(c, head)
        for r, label in enumerate(labels):
            self.table.setItem(r, 0, _item(label))
            for c, rows in enumerate(columns, start=1):
                value = rows[r][1]
                self.table.setItem(r, c, _item(value, numeric=True, color=_stat_color(value)))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)

    def _draw(self, runs: Sequence[RunRecord]) -> None:
        _discard(self.plot)
        stamps = np.unique(np.concatenate([run.result.ts for run in runs]))
        clock = BarClock(max(len(stamps), 1))
        clock.extend(stamps)
        self.plot = result_plot(clock, DecimalAxis(), "equity (start = 100)")
        item = self.plot.getPlotItem()
        # See-through, so the curves stay readable where the legend sits on them.
        item.addLegend(offset=(10, 10), labelTextColor=theme.TEXT, brush=pg.mkBrush(30, 34, 45, 170))
        item.addItem(pg.InfiniteLine(pos=100.0, angle=0, pen=pg.mkPen(theme.TEXT_DIM, style=Qt.PenStyle.DotLine)))
        self.curves = []
        for run in runs:
            x = clock.index_of(run.result.ts)
            curve = item.plot(x, normalised_equity(run.result.equity), pen=pg.mkPen(run.color, width=1.5),
                              name=run.title)
            self.curves.append(curve)
        self._chart_layout.addWidget(self.plot)

