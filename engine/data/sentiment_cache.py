"""News sentiment snapshots in the application database, so a fresh one is not fetched again.

Every fetch is kept (one row per symbol and fetch time): the newest answers "is there a
fresh one?", and the history is a record of what the engine knew and when.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import BigInteger, Float, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from engine.data.bar import ns_since_epoch
from engine.data.news import NewsSentiment
from engine.persistence.db import DEFAULT_DB_PATH, Base, Database

SCHEMA_VERSION = 1
COMPONENT = "news_sentiment"
_SCORES = (
    "weekly_average", "buzz", "company_news_score", "sector_average_bullish_percent",
    "sector_average_news_score", "bearish_percent", "bullish_percent",
)


class _SentimentRow(Base):
    __tablename__ = "news_sentiment"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    fetched_ns: Mapped[int] = mapped_column(BigInteger, primary_key=True)   # ns since the epoch, UTC
    articles_in_last_week: Mapped[int | None] = mapped_column(Integer)
    weekly_average: Mapped[float | None] = mapped_column(Float)
    buzz: Mapped[float | None] = mapped_column(Float)
    company_news_score: Mapped[float | None] = mapped_column(Float)
    sector_average_bullish_percent: Mapped[float | None] = mapped_column(Float)
    sector_average_news_score: Mapped[float | None] = mapped_column(Float)
    bearish_percent: Mapped[float | None] = mapped_column(Float)
    bullish_percent: Mapped[float | None] = mapped_column(Float)


class SentimentCache:
    """Sentiment snapshots in `db` (a Database, a file path, or the default state file)."""

    def __init__(self, db: Database | str | Path | None = None) -> None:
        self._owns_db = not isinstance(db, Database)
        self.db = db if isinstance(db, Database) else Database(DEFAULT_DB_PATH if db is None else db)
        self.db.create_tables()
        self.db.ensure_schema(COMPONENT, SCHEMA_VERSION)

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    def __enter__(self) -> "SentimentCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self, sentiment: NewsSentiment) -> None:
        """Keep a snapshot; saving the same (symbol, fetched_at) twice replaces it."""
        row = _SentimentRow(
            symbol=sentiment.symbol,
            fetched_ns=ns_since_epoch(sentiment.fetched_at),
            articles_in_last_week=sentiment.articles_in_last_week,
            **{name: getattr(sentiment, name) for name in _SCORES},
        )
        with self.db.session() as session:
            session.merge(row)

    def latest(self, symbol: str, not_before: datetime | None = None) -> NewsSentiment | None:
        """The newest snapshot of `symbol`, if any was fetched at or after `not_before`."""
        query = select(_SentimentRow).where(_SentimentRow.symbol == symbol)
        if not_before is not None:
            query = query.where(_SentimentRow.fetched_ns >= ns_since_epoch(not_before))
        with self.db.session() as session:
            row = session.scalars(query.order_by(_SentimentRow.fetched_ns.desc()).limit(1)).first()
            return None if row is None else _value(row)

    def history(self, symbol: str) -> list[NewsSentiment]:
        """Every snapshot of `symbol`, oldest first."""
        query = select(_SentimentRow).where(_SentimentRow.symbol == symbol).order_by(_SentimentRow.fetched_ns)
        with self.db.session() as session:
            return [_value(row) for row in session.scalars(query)]


def _value(row: _SentimentRow) -> NewsSentiment:
    seconds, ns = divmod(row.fetched_ns, 1_000_000_000)
    fetched_at = datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=ns // 1_000)
    return NewsSentiment(
        symbol=row.symbol,
        fetched_at=fetched_at,
        articles_in_last_week=row.articles_in_last_week,
        **{name: getattr(row, name) for name in _SCORES},
    )
