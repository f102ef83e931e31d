"""Market data: bars and where they come from.

- `bar`: Bar and BarSeries, the columnar form everything vectorised uses.
- `synthetic`: embedded one-minute bars with known regimes (`generate_bars`, `generate_many`).
- `validation`: `validate_bars` -> (clean series, ValidationReport).
- `files`: `load_bars` / `save_bars` for CSV and Parquet.
- `cache`: `BarCache`, the SQLite bar cache.
- `calendar`, `sessions`, `timestamps`: exchange days, session keys, time parsing.
- `polygon`: `PolygonClient.bars` (aggregates, cached; `fetch_log` records what was downloaded).
- `finnhub`: `FinnhubClient.news_sentiment` / `company_news`; `news` values; `sentiment_cache`.
- `http`: JSON over HTTP with retries and masked API keys, shared by the clients.

Nothing is re-exported here, so importing `engine.data.bar` stays cheap (no SQLAlchemy,
SciPy or Arrow).
"""
