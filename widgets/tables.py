"""Positions, orders, fills and events tables. Columns are declared as data.

Positions and orders are the latest state (replaced when they change); fills and events are
appended newest on top and bounded, so hours of events cost the same as a few. Batches only
queue the rows (bounded too); `redraw()` inserts everything queued in one go.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QPersistentModelIndex,
                            QRegularExpression, QSortFilterProxyModel, Qt)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QTableView,
                               QVBoxLayout, QWidget)

from app import theme
from app.snapshot import SnapshotBatch

Row = tuple
AnyIndex = QModelIndex | QPersistentModelIndex


def _text(value: object) -> str:
    return str(value)


def _qty(value: object) -> str:
    return f"{float(value):,.4g}" if abs(float(value)) < 1 else f"{float(value):,.0f}"


def _money(value: object) -> str:
    return theme.format_money(float(value))


def _signed_money(value: object) -> str:
    return theme.format_signed_money(float(value))


def _time_et(value: object) -> str:
    return theme.format_time_et(int(value), with_date=True)


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    field: int                              # position in the row tuple
    fmt: Callable[[object], str] = _text
    numeric: bool = False                   # right-aligned
    signed_colour: bool = False             # green when > 0, red when < 0


POSITION_COLUMNS = (
    Column("Symbol", 0),
    Column("Qty", 1, _qty, numeric=True, signed_colour=True),
    Column("Avg price ($)", 2, _money, numeric=True),
    Column("Unrealised ($)", 3, _signed_money, numeric=True, signed_colour=True),
)
ORDER_COLUMNS = (
    Column("Id", 0),
    Column("Side", 1),
    Column("Type", 2),
    Column("Qty", 3, _qty, numeric=True),
    Column("Status", 4),
)
FILL_COLUMNS = (
    Column("Time", 0, _time_et),
    Column("Symbol", 1),
    Column("Side", 2),
    Column("Qty", 3, _qty, numeric=True),
    Column("Price ($)", 4, _money, numeric=True),
    Column("Fee ($)", 5, _money, numeric=True),
)
EVENT_COLUMNS = (
    Column("Time", 0, _time_et),
    Column("Type", 1),
    Column("Event", 2),
)
EVENT_TYPE_FIELD = 1
ALL_TYPES = "all types"


class RowsModel(QAbstractTableModel):
    """Row tuples shown through declared columns; newest first when rows are prepended."""

    def __init__(self, columns: Sequence[Column], max_rows: int) -> None:
        super().__init__()
        self.columns = tuple(columns)
        self.max_rows = max_rows
        self._rows: list[Row] = []

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].title
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        column = self.columns[index.column()]
        value = self._rows[index.row()][column.field]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.fmt(value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column.signed_colour:
            v = float(value)
            return QColor(theme.WIN) if v > 0 else QColor(theme.LOSS) if v < 0 else None
        return None

    def rows(self) -> list[Row]:
        return list(self._rows)

    def replace(self, rows: Sequence[Row]) -> None:
        self.beginResetModel()
        self._rows = list(rows)[: self.max_rows]
        self.endResetModel()

    def prepend(self, rows: Sequence[Row]) -> None:
        """Add rows given oldest first; they appear newest on top; the oldest fall off."""
        if not rows:
            return
        new = list(reversed(rows))[: self.max_rows]
        self.beginInsertRows(QModelIndex(), 0, len(new) - 1)
        self._rows[:0] = new
        self.endInsertRows()
        excess = len(self._rows) - self.max_rows
        if excess > 0:
            self.beginRemoveRows(QModelIndex(), self.max_rows, len(self._rows) - 1)
            del self._rows[self.max_rows :]
            self.endRemoveRows()


def _table_view(model: QAbstractTableModel | QSortFilterProxyModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(20)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setStretchLastSection(True)
    view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
    return view


class TablePane(QWidget):
    """One table. `state=True`: rows are the latest state, replaced when they change;
    otherwise each batch's rows are new and prepended."""

    def __init__(self, columns: Sequence[Column], rows_of: Callable[[SnapshotBatch], Sequence[Row]],
                 state: bool, max_rows: int = 2_000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = RowsModel(columns, max_rows)
        self._rows_of = rows_of
        self._state = state
        self._latest: tuple[Row, ...] = ()          # state tables: the rows to show
        self._shown: tuple[Row, ...] = ()
        # Log tables: rows not inserted yet; only the newest max_rows could ever be shown.
        self._pending: deque[Row] = deque(maxlen=max_rows)
        self.dirty = False
        self.view = _table_view(self._display_model())
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self._layout.addWidget(self.view)

    def _display_model(self) -> QAbstractTableModel | QSortFilterProxyModel:
        return self.model

    def apply_batch(self, batch: SnapshotBatch, x: np.ndarray) -> None:
        rows = tuple(self._rows_of(batch))
        if self._state:
            self._latest = rows
            self.dirty = rows != self._shown
        elif rows:
            self._pending.extend(rows)
            self.dirty = True

    def redraw(self) -> None:
        was_empty = self.model.rowCount() == 0
        if self._state:
            if self._latest != self._shown:
                self._shown = self._latest
                self.model.replace(self._latest)
        elif self._pending:
            rows = list(self._pending)
            self._pending.clear()
            self.model.prepend(rows)
            self._inserted(rows)
        if was_empty and self.model.rowCount():
            # Size the columns once to real content; later the user's widths are kept.
            self.view.resizeColumnsToContents()

    def _inserted(self, rows: list[Row]) -> None:
        """Hook for log tables: rows just shown, oldest first."""


class EventsPane(TablePane):
    """The event log, newest on top, with a filter by event type."""

    def __init__(self, max_rows: int = 5_000, parent: QWidget | None = None) -> None:
        self.proxy = QSortFilterProxyModel()
        super().__init__(EVENT_COLUMNS, lambda b: [(e.ts, e.type, e.text) for e in b.events],
                         state=False, max_rows=max_rows, parent=parent)
        self.proxy.setFilterKeyColumn(EVENT_TYPE_FIELD)
        self.filter_combo = QComboBox()
        self.filter_combo.addItem(ALL_TYPES)
        self.filter_combo.setToolTip("show only events of this type")
        self.filter_combo.currentTextChanged.connect(self.set_filter)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        bar.addWidget(QLabel("type"))
        bar.addWidget(self.filter_combo)
        bar.addStretch(1)
        self._layout.insertLayout(0, bar)
        self._types: set[str] = set()

    def _display_model(self) -> QSortFilterProxyModel:
        self.proxy.setSourceModel(self.model)
        return self.proxy

    def _inserted(self, rows: list[Row]) -> None:
        for row in rows:
            kind = row[EVENT_TYPE_FIELD]
            if kind not in self._types:
                self._types.add(kind)
                self.filter_combo.addItem(kind)

    def set_filter(self, event_type: str) -> None:
        """Show one event type, or every type for ALL_TYPES."""
        if event_type == ALL_TYPES or not event_type:
            self.proxy.setFilterFixedString("")
        else:
            self.proxy.setFilterRegularExpression(f"^{QRegularExpression.escape(event_type)}$")
        if self.filter_combo.currentText() != (event_type or ALL_TYPES):
            self.filter_combo.setCurrentText(event_type or ALL_TYPES)

    def shown_types(self) -> list[str]:
        """Type of each row the view shows, top to bottom."""
        return [self.proxy.index(r, EVENT_TYPE_FIELD).data() for r in range(self.proxy.rowCount())]


def positions_pane() -> TablePane:
    return TablePane(POSITION_COLUMNS, lambda b: b.positions, state=True, max_rows=500)


def orders_pane() -> TablePane:
    return TablePane(ORDER_COLUMNS, lambda b: b.orders, state=True, max_rows=1_000)


def fills_pane() -> TablePane:
    return TablePane(FILL_COLUMNS, lambda b: b.fills, state=False, max_rows=2_000)
