"""Feature library speed and memory on synthetic one-minute bars.

    python -m bench.bench_features [--bars 500000] [--stream-bars 50000] [--repeat 3]

Prints: the whole vectorised set (GARCH included) as time and bars/s, each feature's own
time, the streaming cost per bar (mean, p50, p99, max; refits land in max), and peak memory
of the vectorised run (tracemalloc and the process's max RSS). Times are the best of
`--repeat` runs, so other load on the machine shows less.
"""
from __future__ import annotations

import argparse
import math
import resource
import time
import tracemalloc
from typing import Callable

import numpy as np

from engine.config import Settings, load_settings
from engine.data.bar import BarSeries
from engine.data.sessions import session_days
from engine.data.synthetic import generate_bars
from engine.features import indicators as ind
from engine.features.fvg import track_gaps
from engine.features.garch import garch_volatility
from engine.features.hurst import hurst
from engine.features.frame import FEATURE_FIELDS, FeatureFrame
from engine.features.pipeline import FeatureStream, compute_features
from engine.features.regression import rolling_regression
from engine.features.volatility_rank import volatility_rank


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def per_feature(series: BarSeries, repeat: int) -> None:
    s = load_settings()
    f = s.features
    h, l, c, v = series.high, series.low, series.close, series.volume
    atr = ind.atr(h, l, c, f.atr_period)
    returns = np.log(c[1:] / c[:-1])
    sessions = session_days(series.ts, s.data.timezone)
    jobs: dict[str, Callable[[], object]] = {
        "atr": lambda: ind.atr(h, l, c, f.atr_period),
        "adx (+DI, -DI)": lambda: ind.adx(h, l, c, f.adx_period),
        "rsi": lambda: ind.rsi(c, f.rsi_period),
        "ema fast + slow": lambda: (ind.ema(c, f.ema_fast), ind.ema(c, f.ema_slow)),
        "session days": lambda: session_days(series.ts, s.data.timezone),
        "vwap": lambda: ind.vwap(h, l, c, v, sessions),
        "hurst": lambda: hurst(c, f.hurst_window),
        "garch": lambda: garch_volatility(returns, f.garch_window, f.garch_refit_every),
        "vol_rank": lambda: volatility_rank(atr / c, f.volatility_rank_window),
        "regression": lambda: rolling_regression(c, f.regression_window),
        "fvg": lambda: track_gaps(series.ts, h, l, atr, s.fvg.min_size_atr, s.fvg.max_age_bars),
    }
    fits = math.ceil(max(len(returns) - f.garch_window + 1, 0) / f.garch_refit_every)
    print(f"  per feature (garch_window={f.garch_window}, garch_refit_every={f.garch_refit_every}: {fits} fits)")
    for name, job in jobs.items():
        print(f"    {name:18s} {best_of(repeat, job) * 1e3:8.1f} ms")


def streaming(series: BarSeries) -> None:
    stream = FeatureStream(load_settings())
    bars = list(series)
    costs = np.empty(len(bars))
    clock = time.perf_counter_ns
    for i, bar in enumerate(bars):
        start = clock()
        stream.update(bar)
        costs[i] = clock() - start
    us = costs / 1e3
    print(f"  streaming over {len(bars):,} bars: mean {us.mean():.1f} us, p50 {np.percentile(us, 50):.1f} us, "
          f"p99 {np.percentile(us, 99):.1f} us, max {us.max() / 1e3:.1f} ms (a GARCH refit)")


def every_column(series: BarSeries, settings: Settings) -> FeatureFrame:
    """The frame with every column made: `compute_features` computes a column when first read."""
    frame = compute_features(series, settings)
    for name in FEATURE_FIELDS:
        frame[name]
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=500_000)
    parser.add_argument("--stream-bars", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    series = generate_bars("QQQ", days=math.ceil(args.bars / 390), seed=7).slice(0, args.bars)
    settings = load_settings()
    print(f"feature bench: {len(series):,} one-minute bars")
    whole = best_of(args.repeat, lambda: every_column(series, settings))
    print(f"  whole vectorised set: {whole:.2f} s = {len(series) / whole:,.0f} bars/s")
    per_feature(series, args.repeat)
    tracemalloc.start()
    every_column(series, settings)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory of one vectorised run: {peak / 2**20:.0f} MiB traced; process max RSS {rss_mb:.0f} MiB")
    streaming(series.slice(0, args.stream_bars))


if __name__ == "__main__":
    main()
