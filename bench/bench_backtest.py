"""Full-pipeline and sma_cross backtest throughput and peak memory on synthetic 1-minute bars.

    python bench/bench_backtest.py [--bars 500000]
"""
from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

from engine.backtest.backtester import Backtester
from engine.config import load_settings, validate
from engine.data.synthetic import generate_bars


def settings_for(agents: list[str] | None, adapt: bool = True, risk: bool = True):
    from app.commands.backtest import permissive_risk

    data = load_settings().to_dict()
    if agents is not None:
        data["agents"]["enabled"] = agents
    data["adaptation"]["enabled"] = adapt
    if not risk:
        data["risk"] = permissive_risk(data["risk"])
    return validate(data)


def measure(label: str, settings, series) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    result = Backtester(settings).run(series)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<34} {len(series):>9,} bars  {seconds:7.2f} s  {len(series) / seconds:>11,.0f} bars/s  "
          f"peak traced {peak / 2**20:7.1f} MiB  trades {result.stats.trades:,}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=500_000)
    args = parser.parse_args()
    days = -(-args.bars // 390)
    series = generate_bars("QQQ", days=days, seed=7).slice(0, args.bars)
    measure("full pipeline (4 agents, risk, adapt)", settings_for(None), series)
    measure("sma_cross alone, no risk, no adapt", settings_for(["sma_cross"], adapt=False, risk=False), series)
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
