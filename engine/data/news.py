"""News values: a symbol's news sentiment snapshot and one company headline."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class NewsSentiment:
    """News sentiment of one symbol as Finnhub scores it, at `fetched_at` (tz-aware UTC).

    Scores are fractions (0.62 means 62 %); `buzz` is this week's article count over the
    weekly average. A field the service left out is None.
    """

    symbol: str
    fetched_at: datetime
    articles_in_last_week: int | None
    weekly_average: float | None
    buzz: float | None
    company_news_score: float | None
    sector_average_bullish_percent: float | None
    sector_average_news_score: float | None
    bearish_percent: float | None
    bullish_percent: float | None

    def __post_init__(self) -> None:
        if self.fetched_at.tzinfo is None:
            raise ValueError(f"NewsSentiment fetched_at {self.fetched_at!r} is naive; expected tz-aware UTC")


@dataclass(frozen=True, slots=True)
class NewsItem:
    """One headline about a company; `published_at` is tz-aware UTC."""

    symbol: str
    published_at: datetime
    headline: str
    source: str
    url: str
    summary: str
