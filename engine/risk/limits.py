"""The limits that latch: daily loss, drawdown from peak, and the losing-streak circuit breaker.

Each keeps its own state, is driven by `on_bar` (and trades), and reports a change through
`emit(rule, what, reason)` only when it happens, never on every bar. The manager turns the
latches into a trading state.
"""
from __future__ import annotations

import math
from collections.abc import Callable

Emit = Callable[[str, str, str], None]


class DailyLossLimit:
    """No new risk for the rest of the session day once equity falls `limit` below the day's start.

    The day's start is the equity last seen before the first bar of the day (the previous
    close), so an overnight gap counts against the day it opens, as on a broker's day P&L.
    """

    rule = "daily_loss_limit"
    __slots__ = ("limit", "day", "start_equity", "hit", "_floor", "_emit")

    def __init__(self, limit: float, emit: Emit) -> None:
        self.limit = limit
        self.day: int | None = None
        self.start_equity = math.nan
        self.hit = False
        self._floor = -math.inf
        self._emit = emit

    def on_bar(self, day: int, equity: float, previous_equity: float) -> None:
        if day != self.day:
            self._roll(day, previous_equity)
        if not self.hit and equity <= self._floor:
            self.hit = True
            # A day can start at zero or negative equity after a blow-up; the share is then undefined.
            loss = 1.0 - equity / self.start_equity if self.start_equity > 0.0 else math.inf
            self._emit(self.rule, "hit", (
                f"equity {equity:,.2f} is {loss:.2%} below the day's start {self.start_equity:,.2f} "
                f"(limit {self.limit:.2%}): no new risk until the next session day"))

    def _roll(self, day: int, start_equity: float) -> None:
        if self.day is not None and day < self.day:
            raise ValueError(
                f"on_bar day={day}: the session day went back from {self.day}; expected a day >= {self.day}")
        lifted = self.hit
        self.restore(day, start_equity, False)
        # Reported only when it lifts the limit: a quiet day roll is not news.
        if lifted:
            self._emit(self.rule, "reset", f"new session day {day}: new risk allowed again")

    def restore(self, day: int | None, start_equity: float, hit: bool) -> None:
        self.day = day
        self.start_equity = start_equity
        self.hit = hit
        self._floor = start_equity * (1.0 - self.limit)


class DrawdownGuard:
    """Drawdown from peak equity: past `soft` the size is scaled, past `hard` trading halts.

    The hard halt latches until an explicit re-arm, even if equity recovers: a trader who
    set a hard limit wants a person to look before trading resumes. Re-arming takes the
    equity of that moment as the new peak, so the drawdown the trader accepted does not
    halt again at once.
    """

    soft_rule = "soft_drawdown"
    hard_rule = "hard_drawdown"
    __slots__ = ("soft", "hard", "scale", "peak", "soft_active", "hard_halted",
                 "_soft_floor", "_hard_floor", "_emit")

    def __init__(self, soft: float, hard: float, scale: float, peak: float, emit: Emit) -> None:
        self.soft = soft
        self.hard = hard
        self.scale = scale
        self._emit = emit
        self.restore(peak, False, False)

    def drawdown(self, equity: float) -> float:
        return 1.0 - equity / self.peak

    def on_bar(self, equity: float) -> None:
        if equity > self.peak:
            self._set_peak(equity)
        if not self.hard_halted and equity <= self._hard_floor:
            self.hard_halted = True
            self._emit(self.hard_rule, "halted", (
                f"drawdown {self.drawdown(equity):.2%} from peak {self.peak:,.2f} reached the hard limit "
                f"{self.hard:.2%}: trading halted until re-armed"))
        soft = equity <= self._soft_floor
        if soft != self.soft_active:
            self.soft_active = soft
            if soft:
                self._emit(self.soft_rule, "entered", (
                    f"drawdown {self.drawdown(equity):.2%} from peak {self.peak:,.2f} passed the soft limit "
                    f"{self.soft:.2%}: size x{self.scale:g}"))
            else:
                self._emit(self.soft_rule, "left", (
                    f"drawdown {self.drawdown(equity):.2%} is back inside the soft limit {self.soft:.2%}: full size"))

    def rearm(self, equity: float) -> None:
        if self.soft_active:
            self._emit(self.soft_rule, "left", f"re-armed at equity {equity:,.2f}, the new peak: full size")
        self.restore(equity, False, False)

    def restore(self, peak: float, soft_active: bool, hard_halted: bool) -> None:
        self._set_peak(peak)
        self.soft_active = soft_active
        self.hard_halted = hard_halted

    def _set_peak(self, peak: float) -> None:
        self.peak = peak
        self._soft_floor = peak * (1.0 - self.soft)
        self._hard_floor = peak * (1.0 - self.hard)


class CircuitBreaker:
    """After `max_losses` losing trades in a row, no new exposure for `cooldown_bars` bars.

    A winning trade resets the count; a trade closed at exactly zero leaves it alone. A trip
    restarts the count, so a further streak during the cool-down trips it again and
    restarts the cool-down. The cool-down covers the rest of the bar it trips on and the
    next `cooldown_bars` bars.
    """

    rule = "circuit_breaker"
    __slots__ = ("max_losses", "cooldown_bars", "losses", "cooldown_left", "blocking", "_emit")

    def __init__(self, max_losses: int, cooldown_bars: int, emit: Emit) -> None:
        self.max_losses = max_losses
        self.cooldown_bars = cooldown_bars
        self._emit = emit
        self.restore(0, 0, False)

    def on_trade_closed(self, pnl: float) -> None:
        if pnl < 0.0:
            self.losses += 1
            if self.losses >= self.max_losses:
                self.losses = 0
                self.cooldown_left = self.cooldown_bars
                self.blocking = True
                self._emit(self.rule, "tripped", (
                    f"{self.max_losses} losing trades in a row (last {pnl:,.2f}): "
                    f"no new exposure for {self.cooldown_bars} bars"))
        elif pnl > 0.0:
            self.losses = 0

    def on_bar(self) -> None:
        if self.cooldown_left:
            self.cooldown_left -= 1
        elif self.blocking:
            self.blocking = False
            self._emit(self.rule, "released", f"cool-down of {self.cooldown_bars} bars is over: new exposure allowed")

    def restore(self, losses: int, cooldown_left: int, blocking: bool) -> None:
        self.losses = losses
        self.cooldown_left = cooldown_left
        self.blocking = blocking
