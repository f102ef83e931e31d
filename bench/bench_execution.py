"""Nanoseconds per operation of the PaperBroker and the Portfolio hot paths.

    python -m bench.bench_execution [--n 500000]

- on_bar_open + on_bar_close with nothing working (what most of a backtest's bars cost);
- one round of submit + fill at the next open + apply_fill (a market order, default costs);
- the same with a volume cap splitting each order over two bars;
- Portfolio.mark with a position open (one curve point per call);
- allocations left behind by the idle bar loop (tracemalloc).
"""
from __future__ import annotations

import argparse
import time
import tracemalloc
from datetime import datetime, timedelta, timezone

from engine.config import ExecutionSettings
from engine.data.bar import Bar
from engine.execution import Order, PaperBroker, Side
from engine.portfolio import Portfolio

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)


def make_bars(n: int) -> list[Bar]:
    return [Bar.at("QQQ", T0 + timedelta(minutes=i), 100.0, 100.5, 99.5, 100.2, 10_000.0) for i in range(n)]


def idle_bars(bars: list[Bar]) -> float:
    broker = PaperBroker(ExecutionSettings(fill="close"))
    started = time.perf_counter_ns()
    for bar in bars:
        broker.on_bar_open(bar, 0.2)
        broker.on_bar_close(bar, 0.2)
    return (time.perf_counter_ns() - started) / len(bars)


def round_trips(bars: list[Bar], settings: ExecutionSettings) -> float:
    """ns per order: submit on one bar, fill on the next open(s), book every fill."""
    broker = PaperBroker(settings)
    portfolio = Portfolio(1e9)
    orders = 0
    started = time.perf_counter_ns()
    for i, bar in enumerate(bars):
        for fill in broker.on_bar_open(bar, 0.2):
            portfolio.apply_fill(fill)
        if not broker.open_orders():
            side = Side.BUY if orders % 2 == 0 else Side.SELL
            broker.submit(Order(f"o{i}", "QQQ", side, 1_000.0))
            orders += 1
        broker.drain_events()
    return (time.perf_counter_ns() - started) / orders


def marks(n: int) -> float:
    portfolio = Portfolio(1e6)
    portfolio.mark(0, "QQQ", 100.0)
    broker = PaperBroker()
    broker.submit(Order("o", "QQQ", Side.BUY, 100.0))
    for fill in broker.on_bar_open(Bar.at("QQQ", T0, 100.0, 100.0, 100.0, 100.0, 1.0), 0.0):
        portfolio.apply_fill(fill)
    prices = [100.0 + (i % 100) * 0.01 for i in range(n)]
    started = time.perf_counter_ns()
    for i in range(n):
        portfolio.mark(i + 1, "QQQ", prices[i])
    return (time.perf_counter_ns() - started) / n


def idle_allocations(bars: list[Bar]) -> int:
    broker = PaperBroker()
    for bar in bars[:100]:                 # warm up: interned constants, method caches
        broker.on_bar_open(bar, 0.2)
        broker.on_bar_close(bar, 0.2)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for bar in bars:
        broker.on_bar_open(bar, 0.2)
        broker.on_bar_close(bar, 0.2)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename") if "engine" in str(stat.traceback))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500_000, help="bars per measurement")
    n = parser.parse_args().n
    bars = make_bars(n)
    print(f"{n:,} bars per measurement")
    print(f"on_bar_open + on_bar_close, nothing working  {idle_bars(bars):8.0f} ns/bar")
    print(f"submit + next-open fill + apply_fill         {round_trips(bars, ExecutionSettings()):8.0f} ns/order")
    capped = ExecutionSettings(max_volume_share=0.06)      # 1,000 shares vs 600 per bar: two fills per order
    print(f"  the same, volume-capped (2 fills/order)    {round_trips(bars, capped):8.0f} ns/order")
    print(f"Portfolio.mark, one open position            {marks(n):8.0f} ns/mark")
    print(f"bytes left allocated by the idle bar loop    {idle_allocations(bars[: min(n, 50_000)]):8d}")


if __name__ == "__main__":
    main()
