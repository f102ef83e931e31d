"""Polygon.io aggregate bars (GET /v2/aggs/ticker/...), cached in the SQLite bar cache.

Requests always send millisecond timestamps for `from`/`to`, so a window means the same
instants whatever zone Polygon would read a bare date in. Dates given to `bars()` are whole
exchange-local days, `end` included; datetimes are instants, `end` included as Polygon does.

Caching (only for adjusted bars of timespans the cache can name: second .. week): the
windows downloaded are recorded in a `FetchLog` beside the bars, and a request downloads
only the parts of its window no recorded download covers, one request per gap; more than
`MAX_GAPS` gaps fetch the whole window at once instead. A window is recorded only up to the
last exchange-local midnight and the last bar already closed, so today's bars (still
forming, or not yet published on delayed plans) are fetched again next time.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from operator import itemgetter
from datetime import date, datetime, time as clock_time, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from engine.data.bar import BarSeries
from engine.data.cache import BarCache
from engine.data.calendar import SESSION_MINUTES, SESSION_OPEN_MINUTE, is_trading_day
from engine.data.fetch_log import FetchLog, Window, missing_windows
from engine.data.http import DataSourceError, api_key_from, check_base_url, check_symbol, json_client
from engine.data.sessions import session_days
from engine.data.timestamps import check_timezone, exchange_timezone, to_utc_ns
from engine.data.validation import validate_bars

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.polygon.io"
API_KEY_ENV = "POLYGON_API_KEY"
PAGE_LIMIT = 50_000         # Polygon's maximum; it counts base aggregates, so pages may hold fewer bars
MAX_GAPS = 4                # more uncovered pieces than this: one request for the whole window
SOURCE = "polygon"          # the FetchLog's name for downloads from here
_OK_STATUSES = frozenset({"OK", "DELAYED"})
_NS_PER_MS = 1_000_000
_FIELDS = itemgetter("t", "o", "h", "l", "c", "v")
# Timespans the bar cache can name, with the length of one unit and the cache's suffix.
_CACHEABLE: dict[str, tuple[int, str]] = {
    "second": (1_000_000_000, "s"),
    "minute": (60_000_000_000, "min"),
    "hour": (3_600_000_000_000, "h"),
    "day": (86_400_000_000_000, "d"),
    "week": (604_800_000_000_000, "w"),
}
CACHED_TIMESPANS = tuple(_CACHEABLE)
TIMESPANS = (*CACHED_TIMESPANS, "month", "quarter", "year")


class PolygonError(DataSourceError):
    """Polygon answered, but with an error status or a payload that is not aggregate bars."""


class PolygonClient:
    """Aggregate bars from Polygon. The API key comes from `api_key` or $POLYGON_API_KEY.

    `timeout` and `max_retries` default to settings `data.http_timeout_seconds` and
    `data.http_max_retries`; `sleep` and `clock` are injectable for tests.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        cache: BarCache | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        *,
        tz: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._api_key = api_key_from(api_key, API_KEY_ENV, "Polygon")
        self.base_url = check_base_url(base_url)
        self.cache = cache
        self.tz = check_timezone(tz or exchange_timezone())
        self._http = json_client(timeout, max_retries, secrets=(self._api_key,), sleep=sleep)
        self._clock = clock
        self._fetch_log = FetchLog(cache.path) if cache is not None else None

    def __repr__(self) -> str:
        cache = self.cache.path if self.cache is not None else None
        return f"PolygonClient(base_url={self.base_url!r}, cache={str(cache)!r}, api_key='***')"

    def close(self) -> None:
        if self._fetch_log is not None:
            self._fetch_log.close()

    def __enter__(self) -> "PolygonClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bars(
        self,
        symbol: str,
        start: date | datetime,
        end: date | datetime,
        multiplier: int = 1,
        timespan: str = "minute",
        adjusted: bool = True,
        regular_session_only: bool = False,
    ) -> BarSeries:
        """Bars opening in [start, end], oldest first, validated (bad rows dropped and logged).

        `regular_session_only` keeps intraday bars that open 09:30-16:00 on trading days.
        """
        ticker = check_symbol(symbol)
        if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
            raise ValueError(f"multiplier {multiplier!r} is not valid; expected a whole number >= 1")
        if timespan not in TIMESPANS:
            raise ValueError(f"timespan {timespan!r} is not valid; expected one of {', '.join(TIMESPANS)}")
        if regular_session_only and timespan not in ("second", "minute", "hour"):
            raise ValueError(f"regular_session_only needs intraday bars; timespan is {timespan!r}")
        window = self._window(start, end)
        if self.cache is not None and adjusted and timespan in _CACHEABLE:
            series = self._through_cache(ticker, multiplier, timespan, window)
        else:
            series = self._download(ticker, multiplier, timespan, window, adjusted)
        if regular_session_only:
            series = _take(series, regular_session_mask(series.ts, self.tz))
        return series

    def _window(self, start: date | datetime, end: date | datetime) -> Window:
        """[start, end] as half-open ns UTC, ms-aligned as Polygon's timestamps are."""
        zone = ZoneInfo(self.tz)
        lo = _bound_ns(start, zone, "start", is_end=False)
        hi = _bound_ns(end, zone, "end", is_end=True)
        if lo >= hi:
            raise ValueError(f"start {start!r} is after end {end!r}; expected start <= end")
        return lo, hi

    def _through_cache(self, ticker: str, multiplier: int, timespan: str, window: Window) -> BarSeries:
        assert self.cache is not None and self._fetch_log is not None
        unit_ns, suffix = _CACHEABLE[timespan]
        timeframe = f"{multiplier}{suffix}"
        gaps = missing_windows(window, self._fetch_log.windows(SOURCE, ticker, timeframe))
        if len(gaps) > MAX_GAPS:
            gaps = [window]
        settled = self._settled_ns(multiplier * unit_ns)
        for gap in gaps:
            fresh = self._download(ticker, multiplier, timespan, gap, adjusted=True)
            if len(fresh):
                self.cache.save(fresh, timeframe)
            if min(gap[1], settled) > gap[0]:
                self._fetch_log.record(SOURCE, ticker, timeframe, (gap[0], min(gap[1], settled)))
        if gaps:
            log.info("%s %s: downloaded %d uncovered piece(s) of the window", ticker, timeframe, len(gaps))
        if self.cache.coverage(ticker, timeframe) is None:
            return _empty(ticker)
        return self.cache.load(ticker, window[0], window[1], timeframe)

    def _settled_ns(self, bar_ns: int) -> int:
        """Bars opening before this are final: closed, and from a day before today."""
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError(f"clock() returned naive {now!r}; expected a tz-aware datetime")
        today = datetime.combine(now.astimezone(ZoneInfo(self.tz)).date(), clock_time(), ZoneInfo(self.tz))
        return min(to_utc_ns(today, self.tz, "today"), to_utc_ns(now, self.tz, "now") - bar_ns)

    def _download(self, ticker: str, multiplier: int, timespan: str, window: Window, adjusted: bool) -> BarSeries:
        lo, hi = window
        from_ms, to_ms = -(-lo // _NS_PER_MS), (hi - 1) // _NS_PER_MS
        url = f"{self.base_url}/v2/aggs/ticker/{quote(ticker, safe='')}/range/{multiplier}/{timespan}/{from_ms}/{to_ms}"
        what = f"{ticker} {multiplier} {timespan} bars"
        page = self._http.get_json(url, {
            "adjusted": "true" if adjusted else "false", "sort": "asc", "limit": str(PAGE_LIMIT),
            "apiKey": self._api_key,
        })
        pages: list[np.ndarray] = []
        seen: set[str] = set()
        while True:
            pages.append(_page_rows(_checked_page(page, what), what, first_row=sum(map(len, pages))))
            next_url = page.get("next_url")
            if not next_url:
                break
            self._check_next_url(next_url, seen, what)
            page = self._http.get_json(next_url, {"apiKey": self._api_key})
        series = _series(ticker, pages)
        series = _take(series, (series.ts >= lo) & (series.ts < hi))
        clean, report = validate_bars(series, tz=self.tz)
        if not report.ok:
            log.warning("Polygon %s: bad rows dropped:\n%s", what, report.summary())
        return clean

    def _check_next_url(self, next_url: Any, seen: set[str], what: str) -> None:
        if not isinstance(next_url, str):
            raise PolygonError(f"Polygon {what}: next_url is {type(next_url).__name__}, expected a URL string")
        ours, theirs = urlsplit(self.base_url), urlsplit(next_url)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            # The key is appended to next_url: never send it to another host.
            raise PolygonError(
                f"Polygon {what}: next_url points to {theirs.scheme}://{theirs.netloc}, "
                f"expected {ours.scheme}://{ours.netloc}"
            )
        if next_url in seen:
            raise PolygonError(f"Polygon {what}: next_url repeats a page already read; stopping")
        seen.add(next_url)


def regular_session_mask(ts: np.ndarray, tz: str) -> np.ndarray:
    """True where a bar opens in the regular session (09:30-16:00 local, trading days)."""
    if len(ts) == 0:
        return np.zeros(0, dtype=bool)
    local = pd.DatetimeIndex(pd.to_datetime(ts, unit="ns", utc=True)).tz_convert(tz)
    minute = np.asarray(local.hour * 60 + local.minute)
    days, which = np.unique(session_days(ts, tz), return_inverse=True)
    trading = np.array([is_trading_day(date.fromordinal(int(d))) for d in days], dtype=bool)
    in_hours = (minute >= SESSION_OPEN_MINUTE) & (minute < SESSION_OPEN_MINUTE + SESSION_MINUTES)
    return in_hours & trading[which]


def _bound_ns(value: date | datetime, zone: ZoneInfo, what: str, *, is_end: bool) -> int:
    """A date is a whole exchange-local day; a datetime an instant (naive: exchange time)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        ns = to_utc_ns(moment, "UTC", what)
        # Polygon stamps bars in whole ms: [start, end] becomes [ceil ms, floor ms + 1 ms).
        return (ns // _NS_PER_MS + 1) * _NS_PER_MS if is_end else -(-ns // _NS_PER_MS) * _NS_PER_MS
    if isinstance(value, date):
        day = value + timedelta(days=1) if is_end else value
        return to_utc_ns(datetime.combine(day, clock_time(), zone), "UTC", what)
    raise ValueError(f"{what} {value!r} is not a date or datetime")


def _checked_page(page: Any, what: str) -> list[Any]:
    """The page's `results` (absent when resultsCount is 0), or PolygonError for an error page."""
    if not isinstance(page, dict):
        raise PolygonError(f"Polygon {what}: expected a JSON object, got {type(page).__name__}")
    status = page.get("status")
    if status is not None and status not in _OK_STATUSES:
        message = page.get("error") or page.get("message") or "no message"
        raise PolygonError(f"Polygon {what}: status {status}: {message}")
    results = page.get("results", [])
    if not isinstance(results, list):
        raise PolygonError(f"Polygon {what}: results is {type(results).__name__}, expected a list")
    return results


def _page_rows(results: list[Any], what: str, first_row: int) -> np.ndarray:
    """A page's bars as an (n, 6) float64 array of t (ms), o, h, l, c, v."""
    try:
        table = np.array(list(map(_FIELDS, results)))
    except (KeyError, TypeError, ValueError):
        table = None
    if table is not None and (table.dtype.kind in "if" or len(results) == 0):
        return table.astype(np.float64).reshape(len(results), 6)
    for i, row in enumerate(results):   # the slow path only to say which row is wrong
        try:
            values = _FIELDS(row)
        except (KeyError, TypeError):
            keys = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise PolygonError(f"Polygon {what}: result {first_row + i} lacks one of t, o, h, l, c, v (has {keys})") from None
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
            raise PolygonError(f"Polygon {what}: result {first_row + i} has a non-numeric value: {row!r}")
    raise PolygonError(f"Polygon {what}: results are not a table of numbers")


def _series(ticker: str, pages: list[np.ndarray]) -> BarSeries:
    table = np.concatenate(pages) if pages else np.zeros((0, 6))
    ms = table[:, 0]
    if not np.all(ms == np.floor(ms)):
        raise PolygonError(f"Polygon {ticker}: bar timestamps are not whole milliseconds")
    ts = ms.astype(np.int64) * _NS_PER_MS   # exact: ms epochs are far below 2**53
    order = np.argsort(ts, kind="stable")   # pages are ascending; a stray row is sorted, not dropped
    return BarSeries(ticker, ts[order], *(np.ascontiguousarray(table[order, k]) for k in range(1, 6)))


def _take(series: BarSeries, mask: np.ndarray) -> BarSeries:
    if mask.all():
        return series
    return BarSeries(series.symbol, series.ts[mask], series.open[mask], series.high[mask], series.low[mask],
                     series.close[mask], series.volume[mask])


def _empty(ticker: str) -> BarSeries:
    nothing = np.zeros(0, dtype=np.float64)
    return BarSeries(ticker, np.zeros(0, dtype=np.int64), nothing, nothing, nothing, nothing, nothing)
