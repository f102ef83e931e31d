"""Run: python -m bench.bench_metrics

Microseconds per EngineMetrics.observe() over the StepResults of a synthetic session.

The engine runs first and its results are kept, so the timed loop holds only observe().
Two figures: the session as it came (orders, fills and trades on some bars), and a quiet
bar repeated (the common case: gauges and the histogram only). The agent weights are the
finished engine's, so they are written once and then only compared, as between two
adaptation intervals. Also the cost of one scrape (rendering the registry as text).
"""
from __future__ import annotations

import time

from prometheus_client import generate_latest

from engine.config import load_settings
from engine.data.synthetic import generate_bars
from engine.engine import Engine, StepResult
from engine.observability.metrics import EngineMetrics

DAYS = 5
REPEATS = 4
ROUNDS = 5


def session() -> tuple[Engine, list[StepResult]]:
    engine = Engine(load_settings())
    return engine, [engine.step(bar) for bar in generate_bars("QQQ", days=DAYS, seed=1)]


def per_observe_us(engine: Engine, results: list[StepResult]) -> float:
    """Best of ROUNDS: other processes on a shared machine only ever add time."""
    metrics = EngineMetrics()
    observe = metrics.observe
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(REPEATS):
            for result in results:
                observe(result, engine, 5e-5, 0.2)
        best = min(best, (time.perf_counter_ns() - start) / (REPEATS * len(results)) / 1e3)
    return best


def main() -> None:
    engine, results = session()
    busy = sum(1 for r in results if r.orders or r.fills or r.trades)
    print(f"session: {len(results)} steps, {busy} with orders, fills or trades")
    print(f"{'observe(), the session as it came':<44} {per_observe_us(engine, results):6.2f} us per call")
    quiet = next(r for r in results if not (r.orders or r.fills or r.trades))
    print(f"{'observe(), a quiet bar repeated':<44} {per_observe_us(engine, [quiet] * len(results)):6.2f} us per call")

    metrics = EngineMetrics()
    for result in results:
        metrics.observe(result, engine, 5e-5, 0.2)
    n = 2_000
    start = time.perf_counter_ns()
    for _ in range(n):
        generate_latest(metrics.registry)
    print(f"{'one scrape (generate_latest)':<44} {(time.perf_counter_ns() - start) / n / 1e3:6.1f} us")


if __name__ == "__main__":
    main()
