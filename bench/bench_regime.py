"""RegimeEngine speed and accuracy against the synthetic generator's true phases.

    python -m bench.bench_regime [--bars 500000] [--days 60] [--settle 30] [--repeat 3]

Prints: `classify_frame` time and bars/s on `--bars` bars (features computed beforehand and
timed apart), the streaming `update` cost per bar, then accuracy per series on the seeds the
thresholds were tuned on and on held-out seeds and symbols: all bars, bars at least
`--settle` bars into their true phase, and regime changes per day next to the true ones.
Ends with the pooled confusion matrix of the held-out series.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from app.commands.regime import scorecard
from engine.config import Settings, load_settings
from engine.data.synthetic import generate_bars
from engine.features.pipeline import compute_features
from engine.regime.engine import RegimeEngine
from engine.regime.evaluation import accuracy, changes_per_day

# The thresholds in config/settings.yaml were tuned on these (60 days each) ...
TUNED_ON = [("QQQ", seed) for seed in range(1, 7)] + [("MSFT", 1), ("IWM", 1)]
# ... and are scored here on series they never saw.
HELD_OUT = [(symbol, seed) for symbol in ("QQQ", "SPY", "AAPL") for seed in (7, 8, 9)]


def throughput(settings: Settings, bars: int, repeat: int) -> None:
    days = math.ceil(bars / 390)
    series = generate_bars("QQQ", days=days, seed=11)
    start = time.perf_counter()
    frame = compute_features(series, settings)
    features_s = time.perf_counter() - start
    engine = RegimeEngine(settings.regime)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        engine.classify_frame(frame)
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"{len(frame):,} bars: features {features_s:.2f} s (not counted); "
          f"classify_frame {best:.3f} s = {len(frame) / best:,.0f} bars/s (best of {repeat})")
    rows = [frame.row(i) for i in range(min(len(frame), 50_000))]
    stream = RegimeEngine(settings.regime)
    start = time.perf_counter()
    for row in rows:
        stream.update(row)
    print(f"streaming update: {(time.perf_counter() - start) / len(rows) * 1e6:.1f} us/bar over {len(rows):,} bars")


def score(settings: Settings, title: str, cases: list[tuple[str, int]], days: int, settle: int) -> tuple[np.ndarray, np.ndarray]:
    print(f"\n{title} ({days} days each)")
    print(f"{'series':<10}{'accuracy':>10}{f'settled {settle}':>12}{'changes/day':>13}{'true/day':>10}")
    trues, preds = [], []
    for symbol, seed in cases:
        series = generate_bars(symbol, days=days, seed=seed)
        predicted = RegimeEngine(settings.regime).classify_frame(compute_features(series, settings))
        true = series.phase
        print(f"{f'{symbol} {seed}':<10}{accuracy(true, predicted):>10.1%}{accuracy(true, predicted, settle):>12.1%}"
              f"{changes_per_day(predicted):>13.1f}{changes_per_day(true):>10.1f}")
        trues.append(true)
        preds.append(predicted)
    # Pooled by concatenation, so the changes at the seams are counted once per series.
    true, predicted = np.concatenate(trues), np.concatenate(preds)
    print(f"{'all':<10}{accuracy(true, predicted):>10.1%}{accuracy(true, predicted, settle):>12.1%}"
          f"{changes_per_day(predicted):>13.1f}{changes_per_day(true):>10.1f}")
    return true, predicted


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bars", type=int, default=500_000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--settle", type=int, default=30)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    settings = load_settings()
    throughput(settings, args.bars, args.repeat)
    score(settings, "tuned on", TUNED_ON, args.days, args.settle)
    true, predicted = score(settings, "held out", HELD_OUT, args.days, args.settle)
    print("\nheld out, pooled:")
    print(scorecard(true, predicted))


if __name__ == "__main__":
    main()
