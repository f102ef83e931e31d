"""Finnhub news sentiment (GET /news-sentiment) and company news (GET /company-news).

The token travels in the `X-Finnhub-Token` header, never in a URL. With a SentimentCache,
a sentiment fetched less than `max_age` ago is returned from the cache without a request.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from engine.config import load_settings
from engine.data.http import DataSourceError, api_key_from, check_base_url, check_symbol, json_client
from engine.data.news import NewsItem, NewsSentiment
from engine.data.sentiment_cache import SentimentCache

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://finnhub.io/api/v1"
API_KEY_ENV = "FINNHUB_API_KEY"
TOKEN_HEADER = "X-Finnhub-Token"


class FinnhubError(DataSourceError):
    """Finnhub answered, but with an error or a payload not of the documented shape."""


class FinnhubClient:
    """Finnhub client. The token comes from `api_key` or $FINNHUB_API_KEY.

    `timeout`, `max_retries` and `max_age` default to settings `data.http_timeout_seconds`,
    `data.http_max_retries` and `data.sentiment_max_age_minutes`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        cache: SentimentCache | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        max_age: timedelta | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        token = api_key_from(api_key, API_KEY_ENV, "Finnhub")
        self.base_url = check_base_url(base_url)
        self.cache = cache
        if max_age is None:
            max_age = timedelta(minutes=load_settings().data.sentiment_max_age_minutes)
        if max_age < timedelta(0):
            raise ValueError(f"max_age {max_age} is negative; expected a duration >= 0")
        self.max_age = max_age
        self._http = json_client(timeout, max_retries, secrets=(token,), sleep=sleep, headers={TOKEN_HEADER: token})
        self._clock = clock

    def __repr__(self) -> str:
        return f"FinnhubClient(base_url={self.base_url!r}, max_age={self.max_age}, api_key='***')"

    def news_sentiment(self, symbol: str) -> NewsSentiment:
        """The symbol's news sentiment: from the cache when fresh, else fetched (and cached)."""
        ticker = check_symbol(symbol)
        now = self._now()
        if self.cache is not None and self.max_age > timedelta(0):
            cached = self.cache.latest(ticker, not_before=now - self.max_age)
            if cached is not None:
                return cached
        document = self._get("/news-sentiment", {"symbol": ticker})
        sentiment = parse_sentiment(document, ticker, now)
        if self.cache is not None:
            self.cache.save(sentiment)
        return sentiment

    def company_news(self, symbol: str, start: date, end: date) -> list[NewsItem]:
        """Headlines about the company published from `start` to `end` (dates, inclusive), newest first."""
        ticker = check_symbol(symbol)
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, date) or isinstance(value, datetime):
                raise ValueError(f"company_news {name} {value!r} is not a date; expected e.g. date(2024, 1, 2)")
        if start > end:
            raise ValueError(f"company_news start {start} is after end {end}")
        document = self._get("/company-news", {"symbol": ticker, "from": start.isoformat(), "to": end.isoformat()})
        if not isinstance(document, list):
            raise FinnhubError(f"Finnhub company news for {ticker}: expected a JSON list, got {type(document).__name__}")
        items = [parse_news_item(entry, ticker, i) for i, entry in enumerate(document)]
        return sorted(items, key=lambda item: item.published_at, reverse=True)

    def _get(self, path: str, params: dict[str, str]) -> Any:
        document = self._http.get_json(f"{self.base_url}{path}", params)
        if isinstance(document, dict) and isinstance(document.get("error"), str):
            raise FinnhubError(f"Finnhub {path} for {params['symbol']}: {self._http.redact(document['error'])}")
        return document

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError(f"clock() returned naive {now!r}; expected a tz-aware datetime")
        return now.astimezone(timezone.utc)


def parse_sentiment(document: Any, symbol: str, fetched_at: datetime) -> NewsSentiment:
    """A /news-sentiment answer as a NewsSentiment; FinnhubError names a malformed field."""
    if not isinstance(document, dict):
        raise FinnhubError(f"Finnhub news sentiment for {symbol}: expected a JSON object, got {type(document).__name__}")
    buzz = _section(document, "buzz", symbol)
    sentiment = _section(document, "sentiment", symbol)
    articles = _number(buzz, "buzz.articlesInLastWeek", "articlesInLastWeek", symbol)
    if articles is not None and articles != int(articles):
        raise FinnhubError(f"Finnhub news sentiment for {symbol}: buzz.articlesInLastWeek = {articles!r}, expected a count")
    return NewsSentiment(
        symbol=symbol,
        fetched_at=fetched_at,
        articles_in_last_week=None if articles is None else int(articles),
        weekly_average=_number(buzz, "buzz.weeklyAverage", "weeklyAverage", symbol),
        buzz=_number(buzz, "buzz.buzz", "buzz", symbol),
        company_news_score=_number(document, "companyNewsScore", "companyNewsScore", symbol),
        sector_average_bullish_percent=_number(
            document, "sectorAverageBullishPercent", "sectorAverageBullishPercent", symbol
        ),
        sector_average_news_score=_number(document, "sectorAverageNewsScore", "sectorAverageNewsScore", symbol),
        bearish_percent=_number(sentiment, "sentiment.bearishPercent", "bearishPercent", symbol),
        bullish_percent=_number(sentiment, "sentiment.bullishPercent", "bullishPercent", symbol),
    )


def parse_news_item(entry: Any, symbol: str, index: int) -> NewsItem:
    """One /company-news entry; `datetime` is epoch seconds UTC."""
    where = f"Finnhub company news for {symbol}: item {index}"
    if not isinstance(entry, dict):
        raise FinnhubError(f"{where} is {type(entry).__name__}, expected a JSON object")
    stamp = entry.get("datetime")
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
        raise FinnhubError(f"{where}: datetime = {stamp!r}, expected epoch seconds")
    texts = {}
    for key in ("headline", "source", "url", "summary"):
        value = entry.get(key, "")
        if not isinstance(value, str):
            raise FinnhubError(f"{where}: {key} = {value!r}, expected text")
        texts[key] = value
    return NewsItem(symbol=symbol, published_at=datetime.fromtimestamp(stamp, tz=timezone.utc), **texts)


def _section(document: dict[str, Any], key: str, symbol: str) -> dict[str, Any]:
    section = document.get(key)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise FinnhubError(f"Finnhub news sentiment for {symbol}: {key} = {section!r}, expected an object")
    return section


def _number(section: dict[str, Any], name: str, key: str, symbol: str) -> float | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FinnhubError(f"Finnhub news sentiment for {symbol}: {name} = {value!r}, expected a number")
    return float(value)
