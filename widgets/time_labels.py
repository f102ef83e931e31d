"""Time labels only under the lowest of the time charts stacked in one column.

Stacked charts share the time axis (their x ranges are linked), so like a trading terminal
the clock is read once at the bottom of the stack; the charts above keep their tick marks.
Laying out the labels was a fifth of each chart's paint while following the newest bar.
The stacks are found from the docks' geometry whenever a dock moves, resizes, opens or
closes, so a chart that the user drags out or leaves alone shows its own labels again.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRect, QTimer
from PySide6.QtWidgets import QDockWidget

_ALIGN_PX = 3       # docks whose left and right edges match within this share a column


def covered_from_below(rects: Mapping[str, QRect]) -> set[str]:
    """Names whose rectangle has another one of the same column somewhere below it."""
    covered = set()
    for name, rect in rects.items():
        for other, below in rects.items():
            if (other != name and below.top() > rect.top()
                    and abs(below.left() - rect.left()) <= _ALIGN_PX
                    and abs(below.right() - rect.right()) <= _ALIGN_PX):
                covered.add(name)
                break
    return covered


class TimeLabels(QObject):
    def __init__(self, docks: Mapping[str, QDockWidget], axes: Mapping[str, pg.AxisItem],
                 shown: Callable[[str], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._docks = dict(docks)
        self._axes = dict(axes)
        self._shown = shown
        # Several docks move at once when the layout changes: place the labels once after.
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.setInterval(0)
        self._pending.timeout.connect(self.place)
        for dock in self._docks.values():
            dock.installEventFilter(self)
            dock.topLevelChanged.connect(lambda _: self._pending.start())

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() in (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show,
                            QEvent.Type.Hide):
            self._pending.start()
        return False

    def place(self) -> None:
        docked = {name: dock.geometry() for name, dock in self._docks.items()
                  if self._shown(name) and not dock.isFloating()}
        covered = covered_from_below(docked)
        for name, axis in self._axes.items():
            show = name not in covered
            if axis.style["showValues"] != show:
                axis.setStyle(showValues=show)

    def labelled(self) -> list[str]:
        """The charts that show time labels now."""
        return [name for name, axis in self._axes.items() if axis.style["showValues"]]
