"""US equity exchange calendar: which weekdays the market is closed, and regular sessions.

Rules are those of NYSE/Nasdaq since 2022 (Juneteenth added that year): a holiday on a
Saturday is observed the Friday before, on a Sunday the Monday after, except New Year's Day
on a Saturday, which is not observed. A few one-off closures are listed by date. Early
closes (13:00 on some half-days) are not modelled: every session is 09:30-16:00.
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

SESSION_OPEN_MINUTE = 9 * 60 + 30   # 09:30 exchange time
SESSION_MINUTES = 390               # 09:30-16:00

# Closures outside the rules: hurricane Sandy, national days of mourning.
_SPECIAL_CLOSURES = frozenset({
    date(2012, 10, 29), date(2012, 10, 30), date(2018, 12, 5), date(2025, 1, 9),
})


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (Monday=0) of the month; n=-1 for the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def us_market_holidays(year: int) -> frozenset[date]:
    """Weekdays of `year` on which US equity exchanges are closed."""
    days = {
        _nth_weekday(year, 1, 0, 3),            # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),            # Washington's Birthday
        _easter(year) - timedelta(days=2),      # Good Friday
        _nth_weekday(year, 5, 0, -1),           # Memorial Day
        _observed(date(year, 7, 4)),            # Independence Day
        _nth_weekday(year, 9, 0, 1),            # Labor Day
        _nth_weekday(year, 11, 3, 4),           # Thanksgiving
        _observed(date(year, 12, 25)),          # Christmas
    }
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:                 # a Saturday New Year is not observed
        days.add(_observed(new_year))
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))  # Juneteenth
    days |= {d for d in _SPECIAL_CLOSURES if d.year == year}
    return frozenset(days)


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in us_market_holidays(day.year)


def trading_days(start: date, count: int) -> list[date]:
    """The first `count` trading days on or after `start`."""
    if count < 0:
        raise ValueError(f"trading_days count must be >= 0, got {count}")
    days: list[date] = []
    day = start
    while len(days) < count:
        if is_trading_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def trading_days_between(first: date, last: date) -> list[date]:
    """Trading days d with first < d < last (the sessions strictly between two dates)."""
    days: list[date] = []
    day = first + timedelta(days=1)
    while day < last:
        if is_trading_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days
