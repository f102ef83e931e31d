"""Turning the timestamps found in files and arguments into int64 nanoseconds UTC.

Naive times are wall-clock times in an explicit time zone (the exchange's by default);
times with an offset are converted; numbers are epoch seconds, milliseconds,
microseconds or nanoseconds told apart by magnitude, or YYYYMMDD dates.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

NAT = np.iinfo(np.int64).min   # how pandas stores NaT in int64
NS_PER_MINUTE = 60_000_000_000
NS_PER_DAY = 86_400_000_000_000

# Epoch units by magnitude of the values: 1e9 seconds is 2001, 1e12 ms is 2001, ...
_EPOCH_UNITS = (("s", 1e8, 1e10), ("ms", 1e11, 1e13), ("us", 1e14, 1e16), ("ns", 1e17, 1e19))
# A clock time followed by Z or +hh[:mm] (a bare date's "-02" is not an offset).
_OFFSET_AT_END = re.compile(r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$")


def exchange_timezone() -> str:
    """The configured exchange time zone (settings `data.timezone`)."""
    from engine.config import load_settings   # settings are read only when needed

    return load_settings().data.timezone


def check_timezone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {tz!r}; expected an IANA name such as 'America/New_York' or 'UTC'") from None
    return tz


def parse_timestamps(values: pd.Series, tz: str, where: str) -> np.ndarray:
    """Parse a column of timestamps to int64 ns UTC; `where` names it in errors.

    Raises ValueError naming the first row (1-based data row) that cannot be read.
    """
    check_timezone(tz)
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        raise ValueError(f"{where}: missing timestamp at data row {row + 1}")
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = pd.DatetimeIndex(values)
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = _localize(pd.DatetimeIndex(values), tz, where)
    elif pd.api.types.is_bool_dtype(values.dtype):
        raise ValueError(f"{where}: holds true/false values, expected timestamps")
    elif pd.api.types.is_numeric_dtype(values.dtype):
        parsed = _from_numbers(values.to_numpy(), tz, where)
    else:
        parsed = _from_text(values.astype(str).str.strip(), tz, where)
    return parsed.tz_convert("UTC").as_unit("ns").asi8.astype(np.int64)


def to_utc_ns(value: int | str | date | datetime | pd.Timestamp, tz: str, what: str) -> int:
    """One point in time as int ns UTC: an int is already ns UTC; naive values are in `tz`."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"{what} {value!r} is not a time (expected e.g. '2024-01-02 09:30' or an aware datetime)") from None
    if stamp is pd.NaT:
        raise ValueError(f"{what} is missing (NaT)")
    if stamp.tzinfo is None:
        stamp = _localize(pd.DatetimeIndex([stamp]), check_timezone(tz), what)[0]
    return int(stamp.tz_convert("UTC").as_unit("ns").value)


def format_ts(ts: int, tz: str = "UTC") -> str:
    """A readable time with its offset, e.g. '2024-01-02 09:30:00-05:00'."""
    if ts == NAT:
        return "NaT"
    return str(pd.Timestamp(ts, unit="ns", tz="UTC").tz_convert(tz))


def _localize(index: pd.DatetimeIndex, tz: str, where: str) -> pd.DatetimeIndex:
    try:
        return index.tz_localize(tz, ambiguous="raise", nonexistent="raise")
    except Exception as exc:   # pytz/zoneinfo raise several types for DST problems
        raise ValueError(
            f"{where}: a naive time is ambiguous or does not exist in {tz} at a daylight-saving "
            f"change ({exc}); store times in UTC or with an offset"
        ) from None


def _from_numbers(numbers: np.ndarray, tz: str, where: str) -> pd.DatetimeIndex:
    magnitude = np.abs(numbers.astype(np.float64))
    whole = bool(np.all(numbers == np.floor(numbers)))
    if whole and magnitude.min() >= 19000101 and magnitude.max() <= 21001231:
        try:
            return _localize(pd.DatetimeIndex(pd.to_datetime(numbers.astype(np.int64).astype(str), format="%Y%m%d")), tz, where)
        except ValueError:
            pass   # not YYYYMMDD after all; try epochs
    for unit, low, high in _EPOCH_UNITS:
        if magnitude.min() >= low and magnitude.max() < high:
            return pd.DatetimeIndex(pd.to_datetime(numbers, unit=unit, utc=True))
    raise ValueError(
        f"{where}: numbers from {numbers.min()} to {numbers.max()} are not epoch seconds, "
        "milliseconds, microseconds or nanoseconds (or YYYYMMDD dates) of one unit throughout"
    )


def _from_text(text: pd.Series, tz: str, where: str) -> pd.DatetimeIndex:
    for fmt in ("ISO8601", None):
        try:
            parsed = pd.DatetimeIndex(pd.to_datetime(text, format=fmt))
        except (ValueError, TypeError, OverflowError):
            continue
        return parsed if parsed.tz is not None else _localize(parsed, tz, where)
    has_offset = text.str.contains(_OFFSET_AT_END).to_numpy()
    if has_offset.all():
        # Offsets that differ (daylight saving) need a common zone: UTC.
        try:
            return pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601", utc=True))
        except (ValueError, TypeError, OverflowError):
            pass
    elif has_offset.any():
        row = int(np.argmin(has_offset)) if has_offset[0] else int(np.argmax(has_offset))
        raise ValueError(
            f"{where}: mixes times with and without a UTC offset (data row {row + 1}: {text.iloc[row]!r})"
        )
    coerced = pd.to_datetime(text, format="mixed", errors="coerce").isna().to_numpy()
    row = int(np.argmax(coerced)) if coerced.any() else 0
    raise ValueError(
        f"{where}: unparseable timestamp {text.iloc[row]!r} at data row {row + 1} "
        "(expected e.g. '2024-01-02 09:30:00', '2024-01-02T14:30:00Z' or epoch seconds)"
    )
