"""The red-flag alert list: newest first, critical ones in red, times in exchange time."""
from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from app.theme import EXCHANGE_TZ, EXCHANGE_TZ_LABEL, LOSS, SOFT_LIMIT
from engine.observability.red_flags import Alert, Severity

SEVERITY_COLORS = {Severity.CRITICAL: LOSS, Severity.WARNING: SOFT_LIMIT}
MAX_ROWS = 1_000


class AlertList(QTreeWidget):
    """Shows red-flag alerts; the oldest rows go once there are more than `max_rows`."""

    def __init__(self, parent: QWidget | None = None, max_rows: int = MAX_ROWS) -> None:
        super().__init__(parent)
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self._max_rows = max_rows
        self.setColumnCount(4)
        self.setHeaderLabels([f"Time ({EXCHANGE_TZ_LABEL})", "Severity", "Flag", "What to do"])
        self.setRootIsDecorated(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(True)
        self.setColumnWidth(0, 150)
        self.setColumnWidth(1, 70)
        self.setColumnWidth(2, 170)

    def add_alerts(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            when = alert.ts.astimezone(EXCHANGE_TZ).strftime("%Y-%m-%d %H:%M:%S")
            row = QTreeWidgetItem([when, alert.severity.value, alert.flag.value.replace("_", " "), alert.text])
            row.setToolTip(3, alert.text)
            brush = QBrush(QColor(SEVERITY_COLORS[alert.severity]))
            for column in (1, 2, 3):
                row.setForeground(column, brush)
            self.insertTopLevelItem(0, row)
        while self.topLevelItemCount() > self._max_rows:
            self.takeTopLevelItem(self.topLevelItemCount() - 1)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """The rows as shown, newest first."""
        items = (self.topLevelItem(i) for i in range(self.topLevelItemCount()))
        return [(item.text(0), item.text(1), item.text(2), item.text(3)) for item in items]
