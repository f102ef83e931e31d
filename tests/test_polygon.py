"""PolygonClient against a local server speaking Polygon's aggregates JSON."""
from __future__ import annotations

import logging
import re
import traceback
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from app.main import main
from engine.data.cache import BarCache
from engine.data.fetch_log import FetchLog
from engine.data.http import HttpError, MissingApiKeyError
from engine.data.polygon import MAX_GAPS, SOURCE, PolygonClient, PolygonError, regular_session_mask
from fake_http import FakeService, Reply, Seen, json_reply

KEY = "pk_SECRET_4b8e2d6f0a"
NY = ZoneInfo("America/New_York")
AGGS = re.compile(r"^/v2/aggs/ticker/(?P<ticker>[^/]+)/range/(?P<mult>\d+)/(?P<span>\w+)/(?P<lo>\d+)/(?P<hi>\d+)$")


def _ms(day: date, hour: int, minute: int) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY).timestamp() * 1000)


def _row(t: int, base: float) -> dict:
    """One Polygon aggregate; prices differ per bar so mapping mistakes show."""
    return {"v": 1000 + base, "vw": base + 0.1, "o": base, "h": base + 0.5, "l": base - 0.25, "c": base + 0.2,
            "t": t, "n": 12}


def _day_rows(day: date, minutes: int = 6, start: tuple[int, int] = (9, 30), base: float = 100.0) -> list[dict]:
    first = _ms(day, *start)
    return [_row(first + 60_000 * i, base + i) for i in range(minutes)]


class FakePolygon:
    """Answers /v2/aggs requests from `rows`, inside [from, to] ms, `page_size` rows a page."""

    def __init__(self, rows: list[dict], page_size: int = 50_000) -> None:
        self.rows = sorted(rows, key=lambda r: r["t"])
        self.page_size = page_size

    def __call__(self, seen: Seen) -> Reply:
        match = AGGS.match(seen.path)
        if match is None:
            return json_reply({"status": "NOT_FOUND", "message": "Not found"}, 404)
        lo, hi = int(match["lo"]), int(match["hi"])
        inside = [r for r in self.rows if lo <= r["t"] <= hi]
        offset = int(seen.query.get("cursor", 0))
        page = inside[offset:offset + self.page_size]
        document = {"ticker": match["ticker"], "queryCount": len(page), "resultsCount": len(page),
                    "adjusted": seen.query.get("adjusted") == "true", "status": "OK", "request_id": "r1",
                    "count": len(page)}
        if page:
            document["results"] = page
        if offset + self.page_size < len(inside):
            document["next_url"] = f"http://{seen.headers['host']}{seen.path}?cursor={offset + self.page_size}"
        return json_reply(document)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _client(server: FakeService, cache: BarCache | None = None, **kwargs) -> PolygonClient:
    kwargs.setdefault("max_retries", 2)
    kwargs.setdefault("sleep", Sleeps())
    return PolygonClient(KEY, base_url=server.url, cache=cache, timeout=2.0, tz="America/New_York", **kwargs)


@pytest.fixture()
def cache(tmp_path: Path):
    with BarCache(tmp_path / "bars.sqlite", tz="America/New_York") as opened:
        yield opened


JAN2, JAN3, JAN4, JAN5 = (date(2024, 1, d) for d in (2, 3, 4, 5))


def test_bars_are_mapped_exactly_from_the_json_served() -> None:
    rows = _day_rows(JAN2, minutes=5)
    with FakeService(FakePolygon(rows)) as server:
        series = _client(server).bars("qqq", JAN2, JAN2)
    assert series.symbol == "QQQ" and len(series) == 5
    assert series.ts.dtype == np.int64
    for i, row in enumerate(rows):   # the reference: each JSON row, field by field
        assert int(series.ts[i]) == row["t"] * 1_000_000
        assert (series.open[i], series.high[i], series.low[i], series.close[i], series.volume[i]) == (
            row["o"], row["h"], row["l"], row["c"], row["v"])
    assert series.timestamps()[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")   # 09:30 New York, in UTC


def test_the_request_asks_for_whole_exchange_days_in_milliseconds() -> None:
    with FakeService(FakePolygon([])) as server:
        _client(server).bars("QQQ", JAN2, JAN3, multiplier=5, timespan="minute")
    (seen,) = server.requests
    match = AGGS.match(seen.path)
    assert match is not None and (match["ticker"], match["mult"], match["span"]) == ("QQQ", "5", "minute")
    assert int(match["lo"]) == _ms(JAN2, 0, 0)               # midnight New York, 05:00 UTC
    assert int(match["hi"]) == _ms(JAN4, 0, 0) - 1           # the end day is included
    assert seen.query == {"adjusted": "true", "sort": "asc", "limit": "50000", "apiKey": KEY}


def test_datetimes_are_instants_and_the_end_is_included() -> None:
    rows = _day_rows(JAN2, minutes=10)
    start = datetime(2024, 1, 2, 9, 32, tzinfo=NY)
    end = datetime(2024, 1, 2, 14, 35, tzinfo=timezone.utc)   # 09:35 New York
    with FakeService(FakePolygon(rows)) as server:
        series = _client(server).bars("QQQ", start, end)
    assert [int(t) // 1_000_000 for t in series.ts] == [_ms(JAN2, 9, m) for m in range(32, 36)]


def test_pagination_follows_next_url_across_three_pages_with_the_key_each_time() -> None:
    rows = _day_rows(JAN2, minutes=7)
    with FakeService(FakePolygon(rows, page_size=3)) as server:
        series = _client(server).bars("QQQ", JAN2, JAN2)
    assert len(server.requests) == 3
    assert [r.query.get("cursor") for r in server.requests] == [None, "3", "6"]
    assert all(r.query["apiKey"] == KEY for r in server.requests)
    assert [int(t) // 1_000_000 for t in series.ts] == [r["t"] for r in rows]


def test_a_next_url_to_another_host_is_refused_and_gets_no_key() -> None:
    with FakeService(lambda seen: json_reply({})) as elsewhere:
        def respond(seen: Seen) -> Reply:
            return json_reply({"status": "OK", "resultsCount": 1, "results": _day_rows(JAN2, 1),
                               "next_url": f"{elsewhere.url}/v2/aggs/more?cursor=1"})
        with FakeService(respond) as server, pytest.raises(PolygonError, match="next_url points to"):
            _client(server).bars("QQQ", JAN2, JAN2)
    assert elsewhere.requests == []


def test_a_next_url_that_repeats_stops_instead_of_looping() -> None:
    def respond(seen: Seen) -> Reply:
        return json_reply({"status": "OK", "results": _day_rows(JAN2, 1),
                           "next_url": f"http://{seen.headers['host']}/v2/aggs/again?cursor=1"})
    with FakeService(respond) as server, pytest.raises(PolygonError, match="repeats a page"):
        _client(server).bars("QQQ", JAN2, JAN2)
    assert len(server.requests) == 2


def test_no_results_gives_an_empty_series() -> None:
    with FakeService(FakePolygon([])) as server:
        series = _client(server).bars("QQQ", JAN2, JAN2)
    assert len(series) == 0 and series.symbol == "QQQ"


def test_an_error_status_in_a_200_answer_raises_with_polygons_message() -> None:
    body = {"status": "ERROR", "request_id": "x", "error": "Could not parse the time parameter"}
    with FakeService(lambda seen: json_reply(body)) as server, pytest.raises(PolygonError) as caught:
        _client(server).bars("QQQ", JAN2, JAN2)
    assert "status ERROR: Could not parse the time parameter" in str(caught.value)


def test_not_authorized_names_the_status_and_message() -> None:
    body = {"status": "NOT_AUTHORIZED", "request_id": "x", "message": "You are not entitled to this data."}
    with FakeService(lambda seen: json_reply(body, 403)) as server, pytest.raises(HttpError) as caught:
        _client(server).bars("QQQ", JAN2, JAN2)
    assert caught.value.status == 403 and "not entitled" in str(caught.value)
    assert len(server.requests) == 1


def test_a_rate_limit_backs_off_then_succeeds() -> None:
    fake = FakePolygon(_day_rows(JAN2, 3))
    answers = iter([json_reply({"status": "ERROR", "error": "exceeded the maximum requests per minute"}, 429)])
    sleeps = Sleeps()
    with FakeService(lambda seen: next(answers, None) or fake(seen)) as server:
        series = _client(server, sleep=sleeps).bars("QQQ", JAN2, JAN2)
    assert len(series) == 3 and len(server.requests) == 2 and sleeps == [1.0]


def test_a_malformed_result_row_names_the_row() -> None:
    rows = _day_rows(JAN2, 3)
    del rows[2]["c"]
    with FakeService(lambda seen: json_reply({"status": "OK", "results": rows})) as server:
        with pytest.raises(PolygonError, match="result 2 lacks one of t, o, h, l, c, v"):
            _client(server).bars("QQQ", JAN2, JAN2)


def test_bad_rows_are_dropped_by_validation_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    rows = _day_rows(JAN2, 4)
    rows[1]["h"] = rows[1]["l"] - 1.0   # high below low
    with FakeService(FakePolygon(rows)) as server:
        series = _client(server).bars("QQQ", JAN2, JAN2)
    assert len(series) == 3 and int(series.ts[1]) // 1_000_000 == rows[2]["t"]
    assert any("high below low" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_regular_session_only_keeps_bars_opening_0930_to_1559() -> None:
    rows = [_row(_ms(JAN2, h, m), 100.0) for h, m in ((4, 0), (9, 29), (9, 30), (15, 59), (16, 0), (19, 59))]
    with FakeService(FakePolygon(rows)) as server:
        series = _client(server).bars("QQQ", JAN2, JAN2, regular_session_only=True)
    assert [int(t) // 1_000_000 for t in series.ts] == [_ms(JAN2, 9, 30), _ms(JAN2, 15, 59)]


def test_regular_session_mask_excludes_holidays() -> None:
    new_year = date(2024, 1, 1)   # a Monday, market closed
    ts = np.array([_ms(new_year, 10, 0), _ms(JAN2, 10, 0)], dtype=np.int64) * 1_000_000
    assert regular_session_mask(ts, "America/New_York").tolist() == [False, True]


# --- the cache -------------------------------------------------------------------------


def test_a_second_request_for_a_covered_range_makes_no_http_call(cache: BarCache) -> None:
    rows = _day_rows(JAN2, 5) + _day_rows(JAN3, 5, base=200.0)
    with FakeService(FakePolygon(rows)) as server:
        client = _client(server, cache)
        first = client.bars("QQQ", JAN2, JAN3)
        second = client.bars("QQQ", JAN2, JAN3)
        inner = client.bars("QQQ", JAN3, JAN3)
    assert len(server.requests) == 1
    assert np.array_equal(first.ts, second.ts) and np.array_equal(first.close, second.close)
    assert len(first) == 10 and len(inner) == 5 and np.array_equal(inner.ts, first.ts[5:])


def test_a_range_with_no_bars_is_remembered_as_fetched(cache: BarCache) -> None:
    with FakeService(FakePolygon([])) as server:
        client = _client(server, cache)
        assert len(client.bars("QQQ", date(2024, 1, 6), date(2024, 1, 7))) == 0   # a weekend
        assert len(client.bars("QQQ", date(2024, 1, 6), date(2024, 1, 7))) == 0
    assert len(server.requests) == 1


def test_a_partly_covered_range_fetches_only_the_missing_days(cache: BarCache) -> None:
    rows = [r for day in (JAN2, JAN3, JAN4, JAN5) for r in _day_rows(day, 3)]
    with FakeService(FakePolygon(rows)) as server:
        client = _client(server, cache)
        client.bars("QQQ", JAN3, JAN4)
        series = client.bars("QQQ", JAN2, JAN5)
    windows = [(int(m["lo"]), int(m["hi"])) for m in (AGGS.match(r.path) for r in server.requests)]
    assert windows == [
        (_ms(JAN3, 0, 0), _ms(JAN5, 0, 0) - 1),
        (_ms(JAN2, 0, 0), _ms(JAN3, 0, 0) - 1),
        (_ms(JAN5, 0, 0), _ms(date(2024, 1, 6), 0, 0) - 1),
    ]
    assert [int(t) // 1_000_000 for t in series.ts] == [r["t"] for r in rows]


def test_too_many_gaps_fetch_the_whole_window_at_once(cache: BarCache) -> None:
    days = [date(2024, 1, d) for d in range(2, 2 + 2 * (MAX_GAPS + 1))]
    with FakeService(FakePolygon([])) as server:
        client = _client(server, cache)
        for day in days[1::2]:   # every other day: MAX_GAPS + 1 holes in between
            client.bars("QQQ", day, day)
        before = len(server.requests)
        client.bars("QQQ", days[0], days[-1])
    assert len(server.requests) == before + 1
    match = AGGS.match(server.requests[-1].path)
    assert (int(match["lo"]), int(match["hi"])) == (_ms(days[0], 0, 0), _ms(days[-1], 0, 0) + 86_400_000 - 1)


def test_today_is_fetched_again_because_its_bars_are_not_final(cache: BarCache) -> None:
    rows = _day_rows(JAN2, 3) + _day_rows(JAN3, 3)
    noon_jan3 = datetime(2024, 1, 3, 12, 0, tzinfo=NY)
    with FakeService(FakePolygon(rows)) as server:
        client = _client(server, cache, clock=lambda: noon_jan3)
        client.bars("QQQ", JAN2, JAN3)
        client.bars("QQQ", JAN2, JAN3)
    assert len(server.requests) == 2
    match = AGGS.match(server.requests[1].path)
    assert int(match["lo"]) == _ms(JAN3, 0, 0)
    assert FetchLog(cache.path).windows(SOURCE, "QQQ", "1min") == [(_ms(JAN2, 0, 0) * 10**6, _ms(JAN3, 0, 0) * 10**6)]


def test_unadjusted_bars_bypass_the_cache(cache: BarCache) -> None:
    with FakeService(FakePolygon(_day_rows(JAN2, 3))) as server:
        client = _client(server, cache)
        client.bars("QQQ", JAN2, JAN2, adjusted=False)
        client.bars("QQQ", JAN2, JAN2, adjusted=False)
    assert len(server.requests) == 2 and server.requests[0].query["adjusted"] == "false"
    assert cache.coverage("QQQ", "1min") is None


def test_cached_bars_use_the_timeframe_of_multiplier_and_timespan(cache: BarCache) -> None:
    with FakeService(FakePolygon(_day_rows(JAN2, 3))) as server:
        _client(server, cache).bars("QQQ", JAN2, JAN2, multiplier=5)
    assert [e.timeframe for e in cache.catalog()] == ["5min"]


# --- inputs and keys -------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,message", [
    ({"symbol": "QQ Q"}, "symbol 'QQ Q' is not a ticker"),
    ({"timespan": "minutes"}, "timespan 'minutes' is not valid"),
    ({"multiplier": 0}, "multiplier 0 is not valid"),
    ({"start": JAN3, "end": JAN2}, "start datetime.date\\(2024, 1, 3\\) is after end"),
    ({"start": "2024-01-02"}, "start '2024-01-02' is not a date or datetime"),
    ({"timespan": "day", "regular_session_only": True}, "needs intraday bars"),
])
def test_bad_arguments_are_refused_naming_the_value(kwargs: dict, message: str) -> None:
    args = {"symbol": "QQQ", "start": JAN2, "end": JAN2, **kwargs}
    with FakeService(FakePolygon([])) as server, pytest.raises(ValueError, match=message):
        _client(server).bars(**args)


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    with FakeService(FakePolygon([])) as server:
        PolygonClient(base_url=server.url, timeout=1.0, max_retries=0).bars("QQQ", JAN2, JAN2)
    assert server.requests[0].query["apiKey"] == KEY


def test_a_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    with pytest.raises(MissingApiKeyError, match="set the POLYGON_API_KEY environment variable"):
        PolygonClient()


@pytest.mark.parametrize("reply", [
    json_reply({"status": "ERROR", "error": "Unknown API Key"}, 401),
    json_reply({"status": "ERROR", "error": "exceeded the maximum requests"}, 429, **{"Retry-After": "0"}),
    json_reply({"status": "ERROR", "error": "internal"}, 500),
    Reply(200, b'{"status": "OK", "results": [{"t": '),
    Reply(200, {"status": "OK"}, delay=0.5),
])
def test_the_key_is_never_in_errors_logs_reprs_or_the_cache_file(
    reply: Reply, cache: BarCache, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakePolygon(_day_rows(JAN2, 3))
    with FakeService(lambda seen: reply if AGGS.match(seen.path)["lo"] != str(_ms(JAN2, 0, 0)) else fake(seen)) as server:
        client = PolygonClient(KEY, base_url=server.url, cache=cache, timeout=0.1, max_retries=1, sleep=Sleeps())
        assert len(client.bars("QQQ", JAN2, JAN2)) == 3   # a good fetch, so the cache holds data
        with pytest.raises((HttpError, PolygonError)) as caught:
            client.bars("QQQ", JAN3, JAN3)
        said = "\n".join([str(caught.value), repr(caught.value), *traceback.format_exception(caught.value),
                          repr(client)])
        client.close()
    assert KEY not in said
    assert all(KEY not in record.getMessage() for record in caplog.records)
    cache.close()
    for path in tmp_path.iterdir():   # the database and its -wal/-shm companions
        assert KEY.encode() not in path.read_bytes(), path


def test_cli_fetch_bars_fills_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    cache_path = tmp_path / "bars.sqlite"
    with FakeService(FakePolygon(_day_rows(JAN2, 4))) as server:
        code = main(["fetch", "bars", "--symbol", "QQQ", "--from", "2024-01-02", "--to", "2024-01-02",
                     "--base-url", server.url, "--cache", str(cache_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "QQQ: 4 bars of 1 minute, 2024-01-02 09:30:00-05:00" in out and KEY not in out
    with BarCache(cache_path) as reopened:
        assert reopened.coverage("QQQ", "1min").count == 4


def test_cli_fetch_bars_reports_a_service_error_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    with FakeService(lambda seen: json_reply({"status": "ERROR", "error": "Unknown API Key"}, 401)) as server:
        code = main(["fetch", "bars", "--symbol", "QQQ", "--from", "2024-01-02", "--to", "2024-01-02",
                     "--base-url", server.url, "--cache", str(tmp_path / "bars.sqlite")])
    err = capsys.readouterr().err
    assert code == 1 and "HTTP 401" in err and "Unknown API Key" in err and KEY not in err
