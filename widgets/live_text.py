"""One line of text that changes many times a second, without re-laying out the window.

A QLabel whose size is not fixed asks every enclosing layout, up to the main window and its
docks, to recompute whenever its text changes; with a read-out updated on every redraw that
cost more than drawing the text. Here the label sits in a plain widget of fixed height with
no layout, so the request stops there; the widget keeps the label as wide as itself.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class LiveText(QWidget):
    def __init__(self, text: str = "", style: str = "", rich: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._label = QLabel(text, self)
        self._label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        self._label.setStyleSheet(style)
        self._label.ensurePolished()
        self.setFixedHeight(self._label.sizeHint().height())
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def setText(self, text: str) -> None:  # noqa: N802  (reads like QLabel)
        self._label.setText(text)

    def text(self) -> str:
        return self._label.text()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(0, self.height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        self._label.setGeometry(self.rect())
        super().resizeEvent(event)
