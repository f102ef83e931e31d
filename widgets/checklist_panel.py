"""The burn-in checklist pane: today's list to tick, past days to read, and the red flags.

Auto items are ticked from live state (`set_live_facts`) and marked "auto"; a trader can still
tick or untick them, and from then on the trader's choice stands for that day. Past days are
shown read-only.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.theme import EXCHANGE_TZ, TEXT_DIM, WIN
from engine.observability.checklist_rules import ChecklistTemplate, LiveFacts, judge
from engine.observability.red_flags import Alert
from engine.persistence.checklist import ChecklistStore, Tick
from widgets.alerts import AlertList

ITEM_ID_ROLE = Qt.ItemDataRole.UserRole
DAY_ROLE = Qt.ItemDataRole.UserRole
COL_ITEM, COL_BY, COL_NOTE = 0, 1, 2


def exchange_today() -> date:
    return datetime.now(EXCHANGE_TZ).date()


class ChecklistPanel(QWidget):
    def __init__(
        self,
        store: ChecklistStore,
        template: ChecklistTemplate,
        today: Callable[[], date] = exchange_today,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._template = template
        self._today = today
        self._shown_day = today()
        self._filling = False

        self.days = QListWidget()
        self.days.setToolTip("Today and the past days with ticks; past days are read-only")
        self.days.currentItemChanged.connect(self._day_selected)
        self.header = QLabel()
        self.items = QTreeWidget()
        self.items.setColumnCount(3)
        self.items.setHeaderLabels(["Item", "By", "Note"])
        self.items.setColumnWidth(COL_ITEM, 340)
        self.items.setColumnWidth(COL_BY, 60)
        # Only the note is editable, and only by double-click (the item text is fixed).
        self.items.setEditTriggers(QTreeWidget.EditTrigger.NoEditTriggers)
        self.items.itemDoubleClicked.connect(self._edit_note)
        self.items.itemChanged.connect(self._item_changed)
        self.alerts = AlertList()

        checklist = QWidget()
        checklist_layout = QVBoxLayout(checklist)
        checklist_layout.setContentsMargins(0, 0, 0, 0)
        checklist_layout.addWidget(self.header)
        checklist_layout.addWidget(self.items)
        alerts = QWidget()
        alerts_layout = QVBoxLayout(alerts)
        alerts_layout.setContentsMargins(0, 0, 0, 0)
        alerts_layout.addWidget(QLabel("Red flags"))
        alerts_layout.addWidget(self.alerts)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(checklist)
        right.addWidget(alerts)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.days)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([210, 890])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.refresh()

    @property
    def shown_day(self) -> date:
        return self._shown_day

    def is_read_only(self) -> bool:
        return self._shown_day != self._today()

    def set_live_facts(self, facts: LiveFacts) -> None:
        """Judge today's auto items from live state; redraw only if a tick changed."""
        if self._store.record_auto(self._today(), judge(self._template.items, facts)):
            self.refresh()

    def add_alerts(self, alerts: Iterable[Alert]) -> None:
        self.alerts.add_alerts(alerts)

    def show_day(self, day: date) -> None:
        self._shown_day = day
        self.refresh()

    def refresh(self) -> None:
        """Reload the day list and the shown day's ticks from the store."""
        self._filling = True
        try:
            self._fill_days()
            self._fill_items()
        finally:
            self._filling = False

    def _fill_days(self) -> None:
        today = self._today()
        records = {record.day: record for record in self._store.history()}
        days = sorted(set(records) | {today}, reverse=True)
        self.days.clear()
        for day in days:
            record = records.get(day)
            done = f"{record.done}/{record.total}" if record else f"0/{len(self._template.items)}"
            row = QListWidgetItem(f"{day.isoformat()}  {done}{'  (today)' if day == today else ''}")
            row.setData(DAY_ROLE, day)
            self.days.addItem(row)
            if day == self._shown_day:
                self.days.setCurrentItem(row)

    def _fill_header(self, ticks: dict[str, Tick]) -> None:
        done = sum(tick.checked for tick in ticks.values())
        mode = "read-only" if self.is_read_only() else "today"
        self.header.setText(f"{self._shown_day.isoformat()} ({mode}): {done} of {len(self._template.items)} done")

    def _fill_items(self) -> None:
        ticks = self._store.load(self._shown_day)
        self._fill_header(ticks)
        read_only = self.is_read_only()
        self.items.clear()
        for section, title in self._template.sections:
            parent = QTreeWidgetItem([title])
            font = QFont(parent.font(COL_ITEM))
            font.setBold(True)
            parent.setFont(COL_ITEM, font)
            parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.items.addTopLevelItem(parent)
            for item in self._template.items:
                if item.section != section:
                    continue
                row = QTreeWidgetItem(parent, [item.text, "", ""])
                row.setData(COL_ITEM, ITEM_ID_ROLE, item.id)
                flags = Qt.ItemFlag.ItemIsEnabled
                if not read_only:
                    flags |= Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable
                row.setFlags(flags)
                self._show_tick(row, item.auto, ticks.get(item.id))
        self.items.expandAll()

    @staticmethod
    def _show_tick(row: QTreeWidgetItem, auto: str | None, tick: Tick | None) -> None:
        row.setCheckState(COL_ITEM, Qt.CheckState.Checked if tick and tick.checked else Qt.CheckState.Unchecked)
        if tick is None:
            row.setText(COL_BY, "(auto)" if auto else "")
            row.setForeground(COL_BY, QBrush(QColor(TEXT_DIM)))
            row.setToolTip(COL_BY, f"ticked from live state by rule '{auto}'" if auto else "")
            return
        row.setText(COL_BY, tick.by)
        row.setText(COL_NOTE, tick.note)
        row.setForeground(COL_BY, QBrush(QColor(WIN if tick.checked else TEXT_DIM)))
        row.setToolTip(COL_BY, f"set {tick.ts.astimezone(EXCHANGE_TZ):%Y-%m-%d %H:%M:%S} ET by {tick.by}")

    def _edit_note(self, row: QTreeWidgetItem, column: int) -> None:
        if column == COL_NOTE and row.data(COL_ITEM, ITEM_ID_ROLE) is not None and not self.is_read_only():
            self.items.editItem(row, COL_NOTE)

    def _day_selected(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if self._filling or current is None:
            return
        self.show_day(current.data(DAY_ROLE))

    def _item_changed(self, row: QTreeWidgetItem, column: int) -> None:
        item_id = row.data(COL_ITEM, ITEM_ID_ROLE)
        if self._filling or item_id is None or self.is_read_only() or column not in (COL_ITEM, COL_NOTE):
            return
        checked = row.checkState(COL_ITEM) == Qt.CheckState.Checked
        tick = self._store.set(self._shown_day, item_id, checked, "user", row.text(COL_NOTE))
        # Update in place: rebuilding the tree inside its own itemChanged signal is unsafe.
        self._filling = True
        try:
            self._show_tick(row, None, tick)
            self._fill_days()
            self._fill_header(self._store.load(self._shown_day))
        finally:
            self._filling = False

    def tick(self, item_id: str, checked: bool) -> None:
        """Tick or untick an item of today as the user would (for keyboard actions and tests)."""
        if self.is_read_only():
            raise ValueError(f"{self._shown_day.isoformat()} is a past day and read-only; cannot tick {item_id!r}")
        row = self._row(item_id)
        row.setCheckState(COL_ITEM, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def row_state(self, item_id: str) -> tuple[bool, str, str]:
        """(checked, by, note) of an item as shown."""
        row = self._row(item_id)
        return row.checkState(COL_ITEM) == Qt.CheckState.Checked, row.text(COL_BY), row.text(COL_NOTE)

    def _row(self, item_id: str) -> QTreeWidgetItem:
        for i in range(self.items.topLevelItemCount()):
            section = self.items.topLevelItem(i)
            for j in range(section.childCount()):
                if section.child(j).data(COL_ITEM, ITEM_ID_ROLE) == item_id:
                    return section.child(j)
        raise KeyError(f"checklist item {item_id!r} is not shown; known ids: {[i.id for i in self._template.items]}")
