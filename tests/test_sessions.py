"""Session day keys: vectorised and streaming agree, across DST changes."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from engine.data.sessions import SessionClock, session_days


def test_local_midnight_not_utc_midnight_turns_the_day() -> None:
    # 2024-03-08 23:30 New York is already 03-09 in UTC.
    ts = pd.DatetimeIndex(["2024-03-09 04:30", "2024-03-09 05:30"], tz="UTC").as_unit("ns").asi8
    days = session_days(ts, "America/New_York")
    assert [date.fromordinal(int(d)) for d in days] == [date(2024, 3, 8), date(2024, 3, 9)]


def test_streaming_equals_vectorised_across_dst_changes() -> None:
    spans = [("2024-03-08", "2024-03-12"), ("2024-10-31", "2024-11-05")]
    ts = np.concatenate([pd.date_range(a, b, freq="7min", tz="UTC").as_unit("ns").asi8 for a, b in spans])
    clock = SessionClock("America/New_York")
    assert np.array_equal(session_days(ts, "America/New_York"), [clock.day(int(t)) for t in ts])
