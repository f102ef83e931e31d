"""The session clock: phases in exchange time (DST included), closed days, daily tasks once a day."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data.calendar import is_trading_day
from engine.live.scheduler import Due, SessionPhase, SessionScheduler, Task

ET = ZoneInfo("America/New_York")
NS = 1_000_000_000


def et(y: int, m: int, d: int, hh: int, mm: int) -> int:
    """ns UTC of an exchange-local wall time."""
    return int(datetime(y, m, d, hh, mm, tzinfo=ET).timestamp()) * NS


def utc(y: int, m: int, d: int, hh: int, mm: int) -> int:
    return int(datetime(y, m, d, hh, mm, tzinfo=timezone.utc).timestamp()) * NS


def minutes(start: int, end: int, step: int = 1) -> list[int]:
    return list(range(start, end, step * 60 * NS))


@pytest.mark.parametrize(("hh", "mm", "phase"), [
    (3, 59, SessionPhase.CLOSED), (4, 0, SessionPhase.PRE_MARKET), (9, 29, SessionPhase.PRE_MARKET),
    (9, 30, SessionPhase.REGULAR), (15, 59, SessionPhase.REGULAR), (16, 0, SessionPhase.AFTER_HOURS),
    (19, 59, SessionPhase.AFTER_HOURS), (20, 0, SessionPhase.CLOSED),
])
def test_phase_boundaries_on_a_trading_day(hh: int, mm: int, phase: SessionPhase) -> None:
    assert SessionScheduler().phase(et(2024, 3, 8, hh, mm)) is phase


def test_the_open_moves_in_utc_when_daylight_saving_starts() -> None:
    clock = SessionScheduler()
    # Friday 8 March 2024 is EST (UTC-5): the open is 14:30 UTC.
    assert clock.phase(utc(2024, 3, 8, 14, 29)) is SessionPhase.PRE_MARKET
    assert clock.phase(utc(2024, 3, 8, 14, 30)) is SessionPhase.REGULAR
    # Clocks go forward on Sunday 10 March; on Monday 11 March (EDT, UTC-4) the open is 13:30 UTC.
    assert clock.phase(utc(2024, 3, 11, 13, 29)) is SessionPhase.PRE_MARKET
    assert clock.phase(utc(2024, 3, 11, 13, 30)) is SessionPhase.REGULAR
    assert clock.phase(utc(2024, 3, 11, 20, 0)) is SessionPhase.AFTER_HOURS


def test_the_close_moves_back_when_daylight_saving_ends() -> None:
    clock = SessionScheduler()
    # Friday 1 November 2024 is EDT: the close is 20:00 UTC; Monday 4 November is EST: 21:00 UTC.
    assert clock.phase(utc(2024, 11, 1, 19, 59)) is SessionPhase.REGULAR
    assert clock.phase(utc(2024, 11, 1, 20, 0)) is SessionPhase.AFTER_HOURS
    assert clock.phase(utc(2024, 11, 4, 20, 59)) is SessionPhase.REGULAR
    assert clock.phase(utc(2024, 11, 4, 21, 0)) is SessionPhase.AFTER_HOURS


@pytest.mark.parametrize("day", [
    date(2024, 3, 9), date(2024, 3, 10),   # a weekend (10 March is the DST change)
    date(2024, 7, 4), date(2024, 3, 29),   # Independence Day, Good Friday
])
def test_weekends_and_holidays_are_closed_all_day(day: date) -> None:
    clock = SessionScheduler()
    assert all(clock.phase(et(day.year, day.month, day.day, h, 0)) is SessionPhase.CLOSED for h in range(24))


def test_a_trading_day_runs_each_task_once_at_its_time() -> None:
    clock = SessionScheduler()
    fired = [(ts, due) for ts in minutes(et(2024, 3, 8, 7, 0), et(2024, 3, 8, 18, 0)) for due in clock.due(ts)]
    day = date(2024, 3, 8)
    assert fired == [
        (et(2024, 3, 8, 9, 0), Due(Task.PRE_MARKET, day)),
        (et(2024, 3, 8, 12, 30), Due(Task.MID_DAY, day)),
        (et(2024, 3, 8, 16, 0), Due(Task.EOD, day)),
    ]


def test_a_late_start_runs_the_pre_market_checks_first() -> None:
    clock = SessionScheduler()
    assert clock.due(et(2024, 3, 8, 13, 5)) == [Due(Task.PRE_MARKET, date(2024, 3, 8)), Due(Task.MID_DAY, date(2024, 3, 8))]
    assert clock.due(et(2024, 3, 8, 13, 6)) == []


def test_a_missed_close_is_summed_up_before_the_next_day_starts() -> None:
    clock = SessionScheduler()
    clock.due(et(2024, 3, 8, 9, 30))          # Friday, then nothing until Monday
    assert clock.due(et(2024, 3, 11, 9, 30)) == [
        Due(Task.EOD, date(2024, 3, 8)), Due(Task.PRE_MARKET, date(2024, 3, 11))]


def test_a_day_first_seen_after_the_close_gets_no_summary() -> None:
    clock = SessionScheduler()
    assert clock.due(et(2024, 3, 8, 17, 0)) == []
    assert clock.due(et(2024, 3, 11, 9, 0)) == [Due(Task.PRE_MARKET, date(2024, 3, 11))]


def test_nothing_runs_on_a_holiday() -> None:
    clock = SessionScheduler()
    assert [d for ts in minutes(et(2024, 7, 4, 0, 0), et(2024, 7, 4, 23, 59), 5) for d in clock.due(ts)] == []


def test_the_state_survives_a_restart_mid_day() -> None:
    times = minutes(et(2024, 3, 8, 8, 0), et(2024, 3, 11, 17, 0), 7)
    whole = SessionScheduler()
    expected = [d for ts in times for d in whole.due(ts)]
    first = SessionScheduler()
    cut = len(times) // 3
    got = [d for ts in times[:cut] for d in first.due(ts)]
    second = SessionScheduler()
    second.restore(first.state())
    got += [d for ts in times[cut:] for d in second.due(ts)]
    assert got == expected


def test_task_times_outside_the_session_are_refused() -> None:
    with pytest.raises(ValueError, match="mid_day_at = 16:30:00"):
        SessionScheduler(mid_day_at=datetime(2024, 1, 1, 16, 30).time())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 21 * 24 * 60 - 1), min_size=1, max_size=400))
def test_tasks_run_at_most_once_a_day_and_only_on_trading_days(offsets: list[int]) -> None:
    start = et(2024, 6, 10, 0, 0)     # three weeks including Juneteenth and a 4 July week-end
    clock = SessionScheduler()
    fired = [d for m in sorted(set(offsets)) for d in clock.due(start + m * 60 * NS)]
    keys = [(d.task, d.day) for d in fired]
    assert len(keys) == len(set(keys))
    assert all(is_trading_day(d.day) for d in fired)
    pre = [d.day for d in fired if d.task is Task.PRE_MARKET]
    eod = [d.day for d in fired if d.task is Task.EOD]
    assert eod == pre[: len(eod)] and len(pre) - len(eod) in (0, 1)   # every day opened is closed, in order
    last = start + max(offsets) * 60 * NS
    last_day = datetime.fromtimestamp(last / NS, tz=ET).date()
    if len(pre) > len(eod):   # only the day in progress may still be open
        assert pre[-1] == last_day and datetime.fromtimestamp(last / NS, tz=ET).hour < 16


def test_holiday_list_has_the_days_this_file_relies_on() -> None:
    assert not is_trading_day(date(2024, 7, 4)) and not is_trading_day(date(2024, 6, 19))
    assert is_trading_day(date(2024, 3, 8)) and is_trading_day(date(2024, 3, 11))
