"""Latency of the live loop and the cost of its persistence.

    python -m bench.bench_live [--days 5] [--seed 7]

- per-bar latency in live mode: from the feed handing a bar over to the `on_step` hook,
  i.e. Engine.step + daily tasks + checkpoint capture + one SQLite transaction (WAL);
- Engine.step alone over the same bars, and checkpoint capture + JSON alone, for the split;
- the marginal cost of one fill in a commit: commits of the same step with 0, 1, 10 and 50
  fills, the slope per fill;
- database bytes per bar;
- a kill requested while the loop waits a minute for its next bar: from the request to the
  kill committed and published (the feed is woken; nothing waits for the bar).
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.config import load_settings
from engine.data.bar import Bar
from engine.data.synthetic import generate_bars
from engine.engine import Engine, StepResult
from engine.live.feeds import IteratorFeed, ReplayFeed
from engine.live.loop import LiveTradingLoop
from engine.observability.events import EventLogger
from engine.persistence import checkpoint
from engine.persistence.db import Database
from engine.persistence.session_store import SessionStore


def percentiles(ns: list[int]) -> str:
    a = np.asarray(ns, dtype=np.float64) / 1e3
    return f"p50 {np.percentile(a, 50):8.1f} us   p99 {np.percentile(a, 99):8.1f} us   max {a.max():9.1f} us"


def live_latency(bars: list[Bar], folder: Path) -> tuple[list[int], int]:
    handed: list[int] = []
    latency: list[int] = []

    def timed() -> Iterator[Bar]:
        for bar in bars:
            handed.append(time.perf_counter_ns())
            yield bar

    def on_step(_r: StepResult) -> None:
        latency.append(time.perf_counter_ns() - handed[-1])

    db = Database(folder / "live.sqlite")
    events = EventLogger(folder / "live.jsonl")
    loop = LiveTradingLoop(Engine(load_settings(), events=events), IteratorFeed(timed()), SessionStore(db), "bench",
                           on_step=on_step)
    loop.run()
    events.close()
    db.close()
    return latency, (folder / "live.sqlite").stat().st_size


def step_only(bars: list[Bar]) -> tuple[list[int], list[int], list[StepResult], list[dict]]:
    engine = Engine(load_settings())
    steps: list[int] = []
    captures: list[int] = []
    results, docs = [], []
    for bar in bars:
        t0 = time.perf_counter_ns()
        results.append(engine.step(bar))
        t1 = time.perf_counter_ns()
        doc = checkpoint.capture(engine)
        checkpoint.dumps(doc)
        t2 = time.perf_counter_ns()
        steps.append(t1 - t0)
        captures.append(t2 - t1)
        docs.append(doc)
    return steps, captures, results, docs


def per_fill_cost(results: list[StepResult], docs: list[dict], folder: Path, rounds: int = 300) -> dict[int, float]:
    """Mean ns of commit_step for one step carrying k fills (copies of a real fill)."""
    sample = next(r for r in results if r.fills)
    doc = docs[results.index(sample)]
    store = SessionStore(Database(folder / "fills.sqlite"))
    out: dict[int, float] = {}
    step = 0
    for k in (0, 1, 10, 50):
        sid = store.open_session(f"k{k}", "QQQ", "paper", "bench").id
        variant = replace(sample, fills=sample.fills[:1] * k, trades=(), orders=())
        spent = 0
        for _ in range(rounds):
            r = replace(variant, index=step)
            t0 = time.perf_counter_ns()
            store.commit_step(sid, r, doc)
            spent += time.perf_counter_ns() - t0
            step += 1
        out[k] = spent / rounds
    store.db.close()
    return out


def kill_between_bars(bars: list[Bar], folder: Path, rounds: int = 20) -> list[int]:
    latencies: list[int] = []
    for k in range(rounds):
        engine = Engine(load_settings(), events=EventLogger(folder / f"kill{k}.jsonl"))
        stepped, killed = threading.Event(), threading.Event()
        loop = LiveTradingLoop(
            engine, ReplayFeed(bars[:3], speed=1.0), SessionStore(Database(folder / f"kill{k}.sqlite")), "k",
            on_step=lambda r: stepped.set(),
            on_events=lambda events: killed.set() if any(e.type == "kill_switch" for e in events) else None,
        )
        runner = threading.Thread(target=loop.run)
        runner.start()
        stepped.wait()
        time.sleep(0.05)   # well inside the minute's wait for bar 2
        started = time.perf_counter_ns()
        loop.request_kill("bench")
        killed.wait()
        latencies.append(time.perf_counter_ns() - started)
        loop.stop()
        runner.join()
        engine.events.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    bars = list(generate_bars("QQQ", days=args.days, seed=args.seed))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        latency, db_bytes = live_latency(bars, folder)
        steps, captures, results, docs = step_only(bars)
        fills = sum(len(r.fills) for r in results)
        costs = per_fill_cost(results, docs, folder)
        kills = kill_between_bars(bars, folder)
    print(f"FutBot live loop · {len(bars):,} one-minute bars ({args.days} days) · {fills} fills")
    print(f"  live bar (step + tasks + capture + commit)   {percentiles(latency)}")
    print(f"  Engine.step alone                            {percentiles(steps)}")
    print(f"  checkpoint capture + JSON alone              {percentiles(captures)}")
    print(f"  commit_step, 0 fills                         {costs[0] / 1e3:8.1f} us")
    slope = (costs[50] - costs[0]) / 50
    print(f"  commit_step, 1 / 10 / 50 fills               {costs[1] / 1e3:8.1f} / {costs[10] / 1e3:.1f} / "
          f"{costs[50] / 1e3:.1f} us   -> {slope / 1e3:.1f} us per extra fill")
    print(f"  database size                                {db_bytes / len(bars):8.0f} bytes per bar")
    print(f"  kill between bars -> committed, published    {percentiles(kills)}")


if __name__ == "__main__":
    main()
