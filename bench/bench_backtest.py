"""Full-pipeline and sma_cross backtest throughput and peak memory on synthetic 1-minute bars.

    python bench/bench_backtest.py [--bars 500000]

Each case runs in a fresh process so its peak RSS is its own; throughput is timed without
tracemalloc (which slows allocation-heavy Python several times over), and after the compiled
loop is loaded (its load time is printed too).
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

CASES = {
    "full": "full pipeline (4 agents, risk, adaptation)",
    "sma": "sma_cross alone, no risk, no adaptation",
    "sma-bare": "the same, regime engine skipped",
    "full-step": "full pipeline, stepping Engine.advance",
}


def settings_for(case: str):
    from engine.backtest.setup import backtest_settings
    from engine.config import load_settings

    if case.startswith("sma"):
        return backtest_settings(load_settings(), agents=["sma_cross"], adaptation=False, risk=False)
    return load_settings()


def run_case(case: str, bars: int) -> None:
    from engine.backtest.backtester import Backtester
    from engine.data.synthetic import generate_bars

    from engine.backtest.backtester import prepare

    series = generate_bars("QQQ", days=-(-bars // 390), seed=7).slice(0, bars)
    settings = settings_for(case)
    # Once per process the compiled loop is loaded from numba's cache (compiled on the first
    # run after install); the GUI does this in the background at start-up. Timed apart.
    started = time.perf_counter()
    prepare()
    load = time.perf_counter() - started
    started = time.perf_counter()
    result = Backtester(settings, regimes=case != "sma-bare", fast=case != "full-step").run(series)
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{CASES[case]:<44} {len(series):>9,} bars  {seconds:7.2f} s  {len(series) / seconds:>9,.0f} bars/s  "
          f"peak RSS {rss:6,.0f} MiB  trades {result.stats.trades:,}  (loop loaded in {load:.2f} s before)",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=500_000)
    parser.add_argument("--case", choices=sorted(CASES))
    args = parser.parse_args()
    if args.case:
        run_case(args.case, args.bars)
        return
    for case in CASES:
        subprocess.run([sys.executable, __file__, "--case", case, "--bars", str(args.bars)], check=True)


if __name__ == "__main__":
    main()
