"""`futbot fetch`: download bars from Polygon and news sentiment from Finnhub into the caches.

API keys come only from the environment (POLYGON_API_KEY, FINNHUB_API_KEY), never from the
command line, where they would be left in shell history and process listings.
"""
from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from engine.data.cache import BarCache
from engine.data.finnhub import FinnhubClient
from engine.data.http import DataSourceError
from engine.data.polygon import DEFAULT_BASE_URL as POLYGON_URL
from engine.data.polygon import CACHED_TIMESPANS, TIMESPANS, PolygonClient
from engine.data.sentiment_cache import SentimentCache
from engine.data.timestamps import format_ts


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("fetch", help="download bars (Polygon) or news sentiment (Finnhub)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    bars = actions.add_parser("bars", help="aggregate bars from Polygon into the bar cache ($POLYGON_API_KEY)")
    bars.add_argument("--symbol", required=True)
    bars.add_argument("--from", dest="start", required=True, type=_when,
                      help="first day YYYY-MM-DD (or an ISO time, exchange time zone if naive)")
    bars.add_argument("--to", dest="end", required=True, type=_when, help="last day, included (or an ISO time)")
    bars.add_argument("--timespan", default="minute", choices=TIMESPANS)
    bars.add_argument("--multiplier", type=int, default=1, help="bar size in timespans, e.g. 5 for 5-minute bars")
    bars.add_argument("--unadjusted", action="store_true", help="prices not adjusted for splits (not cached)")
    bars.add_argument("--regular-session", action="store_true", help="keep only bars opening 09:30-16:00")
    bars.add_argument("--cache", type=Path, default=None, help="cache file (default: settings data.cache_path)")
    bars.add_argument("--base-url", default=POLYGON_URL, help=argparse.SUPPRESS)
    bars.set_defaults(run=run_bars)

    sentiment = actions.add_parser("sentiment", help="news sentiment from Finnhub ($FINNHUB_API_KEY)")
    sentiment.add_argument("--symbol", required=True)
    sentiment.add_argument("--db", type=Path, default=None, help="database file (default: state/futbot.sqlite)")
    sentiment.add_argument("--max-age-minutes", type=int, default=None,
                           help="reuse a cached sentiment this young (default: settings data.sentiment_max_age_minutes)")
    sentiment.add_argument("--base-url", default=None, help=argparse.SUPPRESS)
    sentiment.set_defaults(run=run_sentiment)

    news = actions.add_parser("news", help="company headlines from Finnhub ($FINNHUB_API_KEY)")
    news.add_argument("--symbol", required=True)
    news.add_argument("--from", dest="start", required=True, type=date.fromisoformat, help="first day YYYY-MM-DD")
    news.add_argument("--to", dest="end", required=True, type=date.fromisoformat, help="last day, included")
    news.add_argument("--limit", type=int, default=20, help="headlines shown, newest first")
    news.add_argument("--base-url", default=None, help=argparse.SUPPRESS)
    news.set_defaults(run=run_news)


def run_bars(args: argparse.Namespace) -> int:
    with BarCache(args.cache) as cache:
        try:
            with PolygonClient(base_url=args.base_url, cache=cache) as client:
                series = client.bars(args.symbol, args.start, args.end, args.multiplier, args.timespan,
                                     adjusted=not args.unadjusted, regular_session_only=args.regular_session)
        except DataSourceError as exc:
            return _failed(args, exc)
        cached = not args.unadjusted and args.timespan in CACHED_TIMESPANS
        where = str(cache.path) if cached else "not cached"
        if len(series) == 0:
            print(f"{series.symbol}: no bars of {args.multiplier} {args.timespan} in that range ({where})")
            return 0
        print(
            f"{series.symbol}: {len(series):,} bars of {args.multiplier} {args.timespan}, "
            f"{format_ts(int(series.ts[0]), cache.tz)} -> {format_ts(int(series.ts[-1]), cache.tz)} ({where})"
        )
    return 0


def run_sentiment(args: argparse.Namespace) -> int:
    max_age = None if args.max_age_minutes is None else timedelta(minutes=args.max_age_minutes)
    with SentimentCache(args.db) as cache:
        try:
            client = FinnhubClient(cache=cache, max_age=max_age, **_base_url(args))
            s = client.news_sentiment(args.symbol)
        except DataSourceError as exc:
            return _failed(args, exc)
    print(f"{s.symbol} news sentiment, fetched {s.fetched_at:%Y-%m-%d %H:%M:%S} UTC")
    for label, value in (
        ("bullish", s.bullish_percent), ("bearish", s.bearish_percent),
        ("company news score", s.company_news_score),
        ("sector bullish", s.sector_average_bullish_percent), ("sector news score", s.sector_average_news_score),
        ("buzz", s.buzz), ("articles last week", s.articles_in_last_week), ("weekly average", s.weekly_average),
    ):
        print(f"  {label:<20} {'n/a' if value is None else format(value, 'g')}")
    return 0


def run_news(args: argparse.Namespace) -> int:
    try:
        items = FinnhubClient(**_base_url(args)).company_news(args.symbol, args.start, args.end)
    except DataSourceError as exc:
        return _failed(args, exc)
    print(f"{args.symbol.upper()}: {len(items)} headlines {args.start} -> {args.end}")
    for item in items[: max(args.limit, 0)]:
        print(f"  {item.published_at:%Y-%m-%d %H:%M} UTC  [{item.source}] {item.headline}")
    return 0


def _when(text: str) -> date | datetime:
    """A bare date stays a date (a whole day); anything longer is an ISO time."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time; expected e.g. 2024-01-02 or 2024-01-02T09:30"
        ) from None


def _base_url(args: argparse.Namespace) -> dict[str, str]:
    return {} if args.base_url is None else {"base_url": args.base_url}


def _failed(args: argparse.Namespace, exc: DataSourceError) -> int:
    # Service errors are expected in day-to-day use: one line, no traceback.
    print(f"futbot fetch {args.action}: {exc}", file=sys.stderr)
    return 1
