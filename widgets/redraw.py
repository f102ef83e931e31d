"""Drawing the live panes on a timer, apart from taking in the data.

Snapshot batches only append to the panes' ring buffers and mark them dirty; painting a
chart in software costs several milliseconds, so doing every pane on every batch froze the
window. `RedrawScheduler` redraws the dirty panes a user can see, at most `max_hz` times a
second each and one pane per timer tick in turn, so no single turn of the event loop paints
them all. Hidden panes (closed docks, tabs behind another) stay dirty and are drawn when shown.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

DEFAULT_MAX_HZ = 12.0       # per pane; faster than a trader reads, and leaves the CPU free
DEFAULT_TICK_MS = 8         # one pane per tick: about 8 ms of painting between other events


class LivePane(Protocol):
    """What the scheduler needs from a pane: a dirty flag set by apply_batch, and redraw()."""

    dirty: bool

    def redraw(self) -> None: ...

    def isVisible(self) -> bool: ...  # noqa: N802  (QWidget)

    def window(self) -> QWidget: ...

    def installEventFilter(self, obj: QObject) -> None: ...  # noqa: N802


ErrorHandler = Callable[[str, Exception], None]
ShownCheck = Callable[[str], bool]


def settle(view: pg.GraphicsView) -> None:
    """Apply a chart's pending auto-range now, at the end of a redraw.

    pyqtgraph does it at the start of painting; the range change then asks for a second
    paint of the same chart. Doing it first makes the coming paint the only one.
    """
    view.scene().prepareForPaint()


class RedrawScheduler(QObject):
    def __init__(self, panes: Mapping[str, LivePane], on_error: ErrorHandler,
                 shown: ShownCheck | None = None, max_hz: float = DEFAULT_MAX_HZ,
                 tick_ms: int = DEFAULT_TICK_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if not max_hz > 0.0:
            raise ValueError(f"redraw max_hz = {max_hz!r}; expected a rate > 0 per second")
        if tick_ms < 0:
            raise ValueError(f"redraw tick_ms = {tick_ms!r}; expected >= 0 milliseconds")
        self._panes = dict(panes)
        self._names = list(self._panes)
        self._on_error = on_error
        self._shown = shown or self._visible
        self._min_period = 1.0 / max_hz
        self._last_drawn = dict.fromkeys(self._names, float("-inf"))
        self._next = 0
        self.redraw_counts = dict.fromkeys(self._names, 0)
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        for pane in self._panes.values():
            pane.installEventFilter(self)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def wake(self) -> None:
        """Something became dirty: make sure the timer runs (it stops itself when idle)."""
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw every dirty pane now, shown or not (tests, screenshots, exports)."""
        for name in self._names:
            if self._panes[name].dirty:
                self._redraw(name, time.perf_counter())

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Show:
            self.wake()
        return False

    def _visible(self, name: str) -> bool:
        pane = self._panes[name]
        return pane.isVisible() and not pane.window().isMinimized()

    def _tick(self) -> None:
        now = time.perf_counter()
        waiting = False
        n = len(self._names)
        for step in range(n):
            name = self._names[(self._next + step) % n]
            pane = self._panes[name]
            if not pane.dirty or not self._shown(name):
                continue
            if now - self._last_drawn[name] < self._min_period:
                waiting = True
                continue
            self._next = (self._next + step + 1) % n
            self._redraw(name, now)
            return
        if not waiting:
            # Nothing to draw until new data arrives or a hidden pane is shown.
            self._timer.stop()

    def _redraw(self, name: str, now: float) -> None:
        pane = self._panes[name]
        pane.dirty = False
        self._last_drawn[name] = now
        self.redraw_counts[name] += 1
        # One failing pane must not stop the others; the user sees why.
        try:
            pane.redraw()
        except Exception as exc:  # noqa: BLE001
            log.exception("%s pane failed to draw", name)
            self._on_error(name, exc)
