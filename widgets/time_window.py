"""The span of bars the time charts (price, equity, drawdown, regime) show together.

The charts' x axes are linked, so zooming or panning one moves them all. While following the
newest bar, though, each chart moves its own view when it is redrawn, with the links held
back: otherwise every new bar would repaint all the linked charts in the same turn of the
event loop. Following stops when the user pans or zooms away from the newest bar on any of
them and starts again once it is back in view.
"""
from __future__ import annotations

import pyqtgraph as pg

from widgets.time_axis import BarClock

DEFAULT_VISIBLE_BARS = 240
RIGHT_MARGIN_BARS = 3


class TimeWindow:
    def __init__(self, clock: BarClock) -> None:
        self.clock = clock
        self.following = True
        self._views: list[pg.ViewBox] = []
        self._followed_to: dict[int, float] = {}   # id(view) -> newest bar it was moved to

    def attach(self, view: pg.ViewBox) -> None:
        """Share the x range with the views attached before (the first one leads)."""
        if self._views:
            view.setXLink(self._views[0])
        self._views.append(view)
        view.sigRangeChangedManually.connect(lambda *_: self._on_user_range(view))

    def follow(self, view: pg.ViewBox) -> None:
        """Put the newest bar at the right edge of `view` (only this view), when following."""
        target = self._target(view)
        if target is None:
            return
        for v in self._views:
            v.blockLink(True)
        try:
            view.setXRange(*target, padding=0.0)
        finally:
            for v in self._views:
                v.blockLink(False)
        self._followed_to[id(view)] = float(self.clock.total - 1)

    def set_following(self, on: bool) -> None:
        """The user's choice; turning it on brings every linked chart to the newest bar now."""
        self.following = on
        if on and self._views:
            target = self._target(self._views[0])
            if target is not None:
                self._views[0].setXRange(*target, padding=0.0)
                self._followed_to.clear()

    def _target(self, view: pg.ViewBox) -> tuple[float, float] | None:
        if not self.following or self.clock.total == 0:
            return None
        last = float(self.clock.total - 1)
        lo, hi = view.viewRange()[0]
        width = hi - lo
        # A fresh view's range is (0, 1): start with a useful number of bars instead.
        if width <= 5 or hi <= 1.0 or self.clock.total < 2:
            width = float(DEFAULT_VISIBLE_BARS)
        return last + RIGHT_MARGIN_BARS - width, last + RIGHT_MARGIN_BARS

    def _on_user_range(self, view: pg.ViewBox) -> None:
        # Panned away from the newest bar: stop following; brought it back: follow again.
        # A chart drawn a moment ago may not show the very newest bar yet; zooming it while
        # following keeps following if it still shows the newest bar it was drawn with.
        if self.clock.total == 0:
            return
        newest = float(self.clock.total - 1)
        edge = self._followed_to.get(id(view), newest) if self.following else newest
        self.following = view.viewRange()[0][1] >= edge
