"""FinnhubClient and SentimentCache against a local server speaking Finnhub's JSON."""
from __future__ import annotations

import logging
import sqlite3
import traceback
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.main import main
from engine.data.finnhub import TOKEN_HEADER, FinnhubClient, FinnhubError, parse_sentiment
from engine.data.http import HttpError, MissingApiKeyError
from engine.data.news import NewsSentiment
from engine.data.sentiment_cache import SentimentCache
from engine.persistence.db import Database
from fake_http import FakeService, Reply, Seen, json_reply

KEY = "fh_SECRET_c0ffee1234"
T0 = datetime(2024, 3, 4, 15, 0, 0, 123456, tzinfo=timezone.utc)

# Finnhub's documented example answer for GET /news-sentiment?symbol=V
SENTIMENT = {
    "buzz": {"articlesInLastWeek": 20, "buzz": 0.8888, "weeklyAverage": 22.5},
    "companyNewsScore": 0.9166,
    "sectorAverageBullishPercent": 0.6482,
    "sectorAverageNewsScore": 0.5191,
    "sentiment": {"bearishPercent": 0, "bullishPercent": 1},
    "symbol": "V",
}
NEWS = [
    {"category": "company news", "datetime": 1704207600, "headline": "Older", "id": 1, "image": "",
     "related": "AAPL", "source": "Reuters", "summary": "first", "url": "https://example.com/1"},
    {"category": "company news", "datetime": 1704294000, "headline": "Newer", "id": 2, "image": "",
     "related": "AAPL", "source": "Yahoo", "summary": "second", "url": "https://example.com/2"},
]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _routes(seen: Seen) -> Reply:
    if seen.path == "/api/v1/news-sentiment":
        return json_reply({**SENTIMENT, "symbol": seen.query["symbol"]})
    if seen.path == "/api/v1/company-news":
        return json_reply(NEWS)
    return json_reply({"error": "not found"}, 404)


def _client(server: FakeService, cache: SentimentCache | None = None, clock: Clock | None = None,
            **kwargs) -> FinnhubClient:
    return FinnhubClient(KEY, base_url=f"{server.url}/api/v1", cache=cache, timeout=2.0,
                         max_retries=kwargs.pop("max_retries", 1), clock=clock or Clock(T0),
                         sleep=lambda s: None, **kwargs)


@pytest.fixture()
def cache(tmp_path: Path):
    with SentimentCache(tmp_path / "futbot.sqlite") as opened:
        yield opened


def test_the_token_travels_in_the_header_not_the_url() -> None:
    with FakeService(_routes) as server:
        _client(server).news_sentiment("v")
    (seen,) = server.requests
    assert seen.headers[TOKEN_HEADER.lower()] == KEY
    assert KEY not in seen.raw_path and seen.query == {"symbol": "V"}


def test_sentiment_fields_are_mapped_from_the_documented_answer() -> None:
    with FakeService(_routes) as server:
        s = _client(server).news_sentiment("V")
    assert s == NewsSentiment(
        symbol="V", fetched_at=T0, articles_in_last_week=20, weekly_average=22.5, buzz=0.8888,
        company_news_score=0.9166, sector_average_bullish_percent=0.6482, sector_average_news_score=0.5191,
        bearish_percent=0.0, bullish_percent=1.0,
    )


def test_missing_fields_are_none() -> None:
    s = parse_sentiment({"buzz": {}, "symbol": "XYZ"}, "XYZ", T0)
    assert s.articles_in_last_week is None and s.bullish_percent is None and s.company_news_score is None


@pytest.mark.parametrize("document,message", [
    ([], "expected a JSON object, got list"),
    ({"buzz": [1]}, "buzz = \\[1\\], expected an object"),
    ({"companyNewsScore": "high"}, "companyNewsScore = 'high', expected a number"),
    ({"sentiment": {"bullishPercent": True}}, "sentiment.bullishPercent = True, expected a number"),
    ({"buzz": {"articlesInLastWeek": 2.5}}, "buzz.articlesInLastWeek = 2.5, expected a count"),
])
def test_a_malformed_answer_names_the_field(document: object, message: str) -> None:
    with pytest.raises(FinnhubError, match=message):
        parse_sentiment(document, "V", T0)


def test_a_fresh_cached_sentiment_makes_no_request(cache: SentimentCache) -> None:
    clock = Clock(T0)
    with FakeService(_routes) as server:
        client = _client(server, cache, clock, max_age=timedelta(minutes=15))
        first = client.news_sentiment("AAPL")
        clock.now = T0 + timedelta(minutes=14, seconds=59)
        second = client.news_sentiment("AAPL")
    assert len(server.requests) == 1
    assert second == first and second.fetched_at == T0


def test_a_stale_cached_sentiment_is_fetched_again_and_both_are_kept(cache: SentimentCache) -> None:
    clock = Clock(T0)
    with FakeService(_routes) as server:
        client = _client(server, cache, clock, max_age=timedelta(minutes=15))
        client.news_sentiment("AAPL")
        clock.now = T0 + timedelta(minutes=15, microseconds=1)
        again = client.news_sentiment("AAPL")
    assert len(server.requests) == 2 and again.fetched_at == clock.now
    assert [s.fetched_at for s in cache.history("AAPL")] == [T0, clock.now]


def test_the_cache_is_per_symbol(cache: SentimentCache) -> None:
    with FakeService(_routes) as server:
        client = _client(server, cache, max_age=timedelta(minutes=15))
        client.news_sentiment("AAPL")
        msft = client.news_sentiment("MSFT")
    assert len(server.requests) == 2 and msft.symbol == "MSFT"


def test_max_age_zero_always_fetches(cache: SentimentCache) -> None:
    with FakeService(_routes) as server:
        client = _client(server, cache, max_age=timedelta(0))
        client.news_sentiment("AAPL")
        client.news_sentiment("AAPL")
    assert len(server.requests) == 2


def test_sentiment_cache_round_trips_exactly_and_records_its_schema(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.sqlite")
    with SentimentCache(db) as cache:
        s = parse_sentiment(SENTIMENT, "V", T0)
        cache.save(s)
        cache.save(s)   # the same snapshot again replaces, never duplicates
        assert cache.history("V") == [s]
        assert cache.latest("V", not_before=T0) == s
        assert cache.latest("V", not_before=T0 + timedelta(microseconds=1)) is None
        assert cache.latest("AAPL") is None
    assert db.schema_version("news_sentiment") == 1
    db.close()


def test_company_news_sends_the_dates_and_maps_items_newest_first() -> None:
    with FakeService(_routes) as server:
        items = _client(server).company_news("aapl", date(2024, 1, 2), date(2024, 1, 3))
    assert server.requests[0].query == {"symbol": "AAPL", "from": "2024-01-02", "to": "2024-01-03"}
    assert [i.headline for i in items] == ["Newer", "Older"]
    newer = items[0]
    assert newer.published_at == datetime(2024, 1, 3, 15, 0, tzinfo=timezone.utc)   # 1704294000 s
    assert (newer.source, newer.url, newer.summary, newer.symbol) == ("Yahoo", "https://example.com/2", "second", "AAPL")


def test_company_news_refuses_reversed_or_non_date_bounds() -> None:
    with FakeService(_routes) as server:
        client = _client(server)
        with pytest.raises(ValueError, match="start 2024-01-03 is after end 2024-01-02"):
            client.company_news("AAPL", date(2024, 1, 3), date(2024, 1, 2))
        with pytest.raises(ValueError, match="start '2024-01-02' is not a date"):
            client.company_news("AAPL", "2024-01-02", date(2024, 1, 2))   # type: ignore[arg-type]
    assert server.requests == []


def test_a_bad_news_item_names_its_index() -> None:
    with FakeService(lambda seen: json_reply([NEWS[0], {"datetime": "yesterday"}])) as server:
        with pytest.raises(FinnhubError, match="item 1: datetime = 'yesterday', expected epoch seconds"):
            _client(server).company_news("AAPL", date(2024, 1, 2), date(2024, 1, 3))


def test_an_invalid_key_is_not_retried_and_quotes_finnhub() -> None:
    with FakeService(lambda seen: json_reply({"error": "Invalid API key"}, 401)) as server:
        with pytest.raises(HttpError) as caught:
            _client(server, max_retries=3).news_sentiment("AAPL")
    assert len(server.requests) == 1 and caught.value.status == 401 and "Invalid API key" in str(caught.value)


def test_an_error_in_a_200_answer_raises() -> None:
    with FakeService(lambda seen: json_reply({"error": "You don't have access to this resource."})) as server:
        with pytest.raises(FinnhubError, match="/news-sentiment for AAPL: You don't have access"):
            _client(server).news_sentiment("AAPL")


def test_the_rate_limit_is_waited_out() -> None:
    answers = iter([json_reply({"error": "API limit reached. Please try again later."}, 429)])
    with FakeService(lambda seen: next(answers, None) or _routes(seen)) as server:
        s = _client(server, max_retries=2).news_sentiment("AAPL")
    assert len(server.requests) == 2 and s.symbol == "AAPL"


def test_the_key_comes_from_the_environment_else_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", KEY)
    with FakeService(_routes) as server:
        FinnhubClient(base_url=f"{server.url}/api/v1", timeout=1.0, max_retries=0).news_sentiment("AAPL")
    assert server.requests[0].headers[TOKEN_HEADER.lower()] == KEY
    monkeypatch.delenv("FINNHUB_API_KEY")
    with pytest.raises(MissingApiKeyError, match="set the FINNHUB_API_KEY environment variable"):
        FinnhubClient()


def test_negative_max_age_is_refused() -> None:
    with pytest.raises(ValueError, match="max_age -1 day.* is negative"):
        FinnhubClient(KEY, max_age=timedelta(minutes=-5), timeout=1.0, max_retries=0)


@pytest.mark.parametrize("reply", [
    json_reply({"error": f"Invalid API key {KEY}"}, 401),
    json_reply({"error": "API limit reached"}, 429, **{"Retry-After": "0"}),
    json_reply({"error": "internal"}, 500),
    Reply(200, f"not json {KEY}".encode()),
    Reply(200, SENTIMENT, delay=0.5),
    json_reply({"error": f"token {KEY} has no access"}),
])
def test_the_key_is_never_in_errors_logs_reprs_or_the_database(
    reply: Reply, cache: SentimentCache, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeService(lambda seen: reply if seen.query["symbol"] == "BAD" else _routes(seen)) as server:
        client = FinnhubClient(KEY, base_url=f"{server.url}/api/v1", cache=cache, timeout=0.1, max_retries=1,
                               sleep=lambda s: None)
        client.news_sentiment("AAPL")   # a good fetch, so the database holds a row
        with pytest.raises((HttpError, FinnhubError)) as caught:
            client.news_sentiment("BAD")
    said = "\n".join([str(caught.value), repr(caught.value), *traceback.format_exception(caught.value), repr(client)])
    assert KEY not in said
    assert all(KEY not in record.getMessage() for record in caplog.records)
    cache.close()
    for path in tmp_path.iterdir():
        assert KEY.encode() not in path.read_bytes(), path
    with sqlite3.connect(tmp_path / "futbot.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM news_sentiment").fetchone()[0] == 1


def test_cli_fetch_sentiment_prints_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", KEY)
    argv = ["fetch", "sentiment", "--symbol", "AAPL", "--db", str(tmp_path / "db.sqlite"), "--max-age-minutes", "15"]
    with FakeService(_routes) as server:
        assert main([*argv, "--base-url", f"{server.url}/api/v1"]) == 0
        assert main([*argv, "--base-url", f"{server.url}/api/v1"]) == 0
    out = capsys.readouterr().out
    assert len(server.requests) == 1
    assert "AAPL news sentiment" in out and "bullish              1" in out and KEY not in out
