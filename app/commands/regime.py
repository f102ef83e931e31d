"""`futbot regime`: the regime distribution of a data set, scored on synthetic data."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.config import load_settings
from engine.features.pipeline import compute_features
from engine.regime.engine import RegimeEngine, confusion_matrix
from engine.regime.regime import Regime


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("regime", help="classify every bar and print the regime distribution")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", type=Path, help="CSV or Parquet bar file")
    src.add_argument("--synthetic", action="store_true", help="embedded synthetic data (the default)")
    p.add_argument("--symbol", default=None)
    p.add_argument("--days", type=int, default=20)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--config", type=Path)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.data is not None:
        from engine.data.files import load_bars

        series, report = load_bars(args.data, symbol=args.symbol, tz=settings.data.timezone)
        if not report.ok:
            print(report.summary())
    else:
        from engine.data.synthetic import generate_bars

        series = generate_bars(args.symbol or settings.data.symbol, days=args.days, seed=args.seed)
    predicted = RegimeEngine(settings.regime).classify_frame(compute_features(series, settings))
    print(f"{series.symbol}: {len(series):,} bars")
    print(distribution(predicted))
    if series.phase is not None:
        print()
        print(scorecard(series.phase, predicted))
    return 0


def distribution(codes: np.ndarray) -> str:
    counts = np.bincount(codes.astype(np.int64), minlength=len(Regime))
    lines = ["regime            bars    share"]
    for r in Regime:
        lines.append(f"{r.label:<16}{counts[r]:>6,}  {counts[r] / max(len(codes), 1):>7.1%}")
    flips = int(np.count_nonzero(np.diff(codes)))
    lines.append(f"regime changes: {flips:,} (one every {len(codes) / max(flips, 1):,.0f} bars)")
    return "\n".join(lines)


def scorecard(true: np.ndarray, predicted: np.ndarray) -> str:
    m = confusion_matrix(true, predicted)
    labels = [r.label for r in Regime]
    accuracy = np.trace(m) / max(m.sum(), 1)
    lines = [f"accuracy against the generator's true phases: {accuracy:.1%}",
             "confusion matrix (rows true, columns predicted):",
             f"{'':<16}" + "".join(f"{x[:12]:>14}" for x in labels) + f"{'recall':>10}"]
    for i, label in enumerate(labels):
        recall = m[i, i] / max(m[i].sum(), 1)
        lines.append(f"{label:<16}" + "".join(f"{v:>14,}" for v in m[i]) + f"{recall:>10.1%}")
    precision = [m[j, j] / max(m[:, j].sum(), 1) for j in range(len(labels))]
    lines.append(f"{'precision':<16}" + "".join(f"{p:>14.1%}" for p in precision))
    return "\n".join(lines)
