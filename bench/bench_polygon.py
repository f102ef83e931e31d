"""Polygon client speed against a local server: download + parse + validate, cache fill, cache hit.

The server is tests/fake_http.py on 127.0.0.1, so the figures are the client's own cost
(JSON decoding, row mapping, validation, SQLite), not the network's.

Run: python bench/bench_polygon.py [--days 60] [--page 50000]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from engine.data.cache import BarCache  # noqa: E402
from engine.data.calendar import trading_days  # noqa: E402
from engine.data.polygon import PolygonClient  # noqa: E402
from fake_http import FakeService, Reply, Seen  # noqa: E402

BARS_PER_DAY = 960   # 04:00-20:00 New York, extended hours as Polygon serves them


def _pages(days: int, page: int) -> list[bytes]:
    """Pre-encoded pages, so the server's own JSON work is not timed."""
    rows = []
    for day in trading_days(date(2024, 1, 2), days):
        first = int(datetime(day.year, day.month, day.day, 9, tzinfo=timezone.utc).timestamp() * 1000)
        for i in range(BARS_PER_DAY):
            price = 400.0 + (i % 50) * 0.01
            rows.append({"v": 1000 + i, "vw": price, "o": price, "h": price + 0.05, "l": price - 0.05,
                         "c": price + 0.01, "t": first + 60_000 * i, "n": 10})
    chunks = [rows[i:i + page] for i in range(0, len(rows), page)]
    return [
        json.dumps({"status": "OK", "resultsCount": len(chunk), "results": chunk,
                    **({"next_url": f"__HOST__/v2/aggs/page?cursor={n + 1}"} if n + 1 < len(chunks) else {})}).encode()
        for n, chunk in enumerate(chunks)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--page", type=int, default=50_000)
    args = parser.parse_args()
    pages = _pages(args.days, args.page)
    bars = args.days * BARS_PER_DAY

    def respond(seen: Seen) -> Reply:
        body = pages[int(seen.query.get("cursor", 0))]
        return Reply(200, body.replace(b"__HOST__", f"http://{seen.headers['host']}".encode()))

    days = trading_days(date(2024, 1, 2), args.days)
    first_day, last_day = days[0], days[-1]
    with FakeService(respond) as server, tempfile.TemporaryDirectory() as tmp:
        plain = PolygonClient("bench-key", base_url=server.url, timeout=30, max_retries=0)
        start = time.perf_counter()
        series = plain.bars("QQQ", first_day, last_day)
        download = time.perf_counter() - start
        assert len(series) == bars, (len(series), bars)

        with BarCache(Path(tmp) / "bars.sqlite", tz="America/New_York") as cache, \
                PolygonClient("bench-key", base_url=server.url, cache=cache, timeout=30, max_retries=0) as cached:
            start = time.perf_counter()
            cached.bars("QQQ", first_day, last_day)
            fill = time.perf_counter() - start
            requests = len(server.requests)
            start = time.perf_counter()
            hit = cached.bars("QQQ", first_day, last_day)
            hit_time = time.perf_counter() - start
            assert len(hit) == bars and len(server.requests) == requests

    print(f"Polygon client, {bars:,} one-minute bars in {len(pages)} page(s) of <= {args.page:,} rows")
    print(f"  download+parse+validate   {download:8.3f} s   {bars / download:12,.0f} bars/s")
    print(f"  same, filling the cache   {fill:8.3f} s   {bars / fill:12,.0f} bars/s")
    print(f"  cache hit (no request)    {hit_time:8.3f} s   {bars / hit_time:12,.0f} bars/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
