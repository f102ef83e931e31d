"""`futbot data`: make synthetic bars, check bar files, fill and list the bar cache."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.config import load_settings
from engine.data.cache import BarCache, timeframe_for
from engine.data.files import CSV_SUFFIXES, PARQUET_SUFFIXES, file_format, load_bars, save_bars
from engine.data.synthetic import generate_many
from engine.data.timestamps import format_ts


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="synthetic data, validation, the bar cache")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    synth = actions.add_parser("synth", help="write embedded synthetic one-minute bars to a file")
    synth.add_argument("--symbol", default=None, help="one or more symbols, comma-separated (default: settings data.symbol)")
    synth.add_argument("--days", type=int, default=20, help="trading days (390 bars each)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--start", default="2024-01-02", help="first day (the next trading day if closed)")
    synth.add_argument(
        "--out", type=Path, required=True,
        help="FILE.csv or FILE.parquet; with several symbols each goes to FILE_<SYMBOL>.csv|.parquet",
    )
    synth.set_defaults(run=run_synth)

    validate = actions.add_parser("validate", help="check a CSV/Parquet bar file; exit 1 if rows are bad")
    validate.add_argument("file", type=Path)
    validate.add_argument("--symbol", default=None, help="the symbol (or the rows of it, in a multi-symbol file)")
    validate.add_argument("--tz", default=None, help="zone of naive times (default: settings data.timezone)")
    validate.add_argument("--strict", action="store_true", help="holes inside sessions also fail")
    validate.set_defaults(run=run_validate)

    imp = actions.add_parser("import", help="validate a bar file and store its clean rows in the cache")
    imp.add_argument("file", type=Path)
    imp.add_argument("--symbol", required=True)
    imp.add_argument("--timeframe", default=None, help="e.g. 1min, 5min, 1d (default: from the bar spacing)")
    imp.add_argument("--tz", default=None, help="zone of naive times (default: settings data.timezone)")
    imp.add_argument("--cache", type=Path, default=None, help="cache file (default: settings data.cache_path)")
    imp.set_defaults(run=run_import)

    listing = actions.add_parser("list", help="what the bar cache holds")
    listing.add_argument("--cache", type=Path, default=None, help="cache file (default: settings data.cache_path)")
    listing.set_defaults(run=run_list)


def run_synth(args: argparse.Namespace) -> int:
    file_format(args.out)   # a wrong extension fails before any work
    symbols = [s for s in (args.symbol or load_settings().data.symbol).split(",") if s.strip()]
    if not symbols:
        raise ValueError(f"--symbol {args.symbol!r} names no symbol")
    many = generate_many(symbols, days=args.days, seed=args.seed, start=args.start)
    for symbol, series in many.items():
        path = args.out if len(many) == 1 else _per_symbol(args.out, symbol)
        save_bars(series, path)
        print(f"{symbol}: {len(series):,} bars -> {path}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    _, report = load_bars(args.file, symbol=args.symbol, tz=args.tz)
    print(report.summary())
    failed = not report.ok or (args.strict and report.hole_count > 0)
    return 1 if failed else 0


def run_import(args: argparse.Namespace) -> int:
    series, report = load_bars(args.file, symbol=args.symbol, tz=args.tz)
    print(report.summary())
    if len(series) == 0:
        raise ValueError(f"{args.file}: no valid bars to import")
    if args.timeframe is not None:
        timeframe = args.timeframe
    elif report.frequency_ns is not None:
        timeframe = timeframe_for(report.frequency_ns)
    else:
        raise ValueError(f"{args.file}: a single bar has no spacing; pass --timeframe")
    with BarCache(args.cache) as cache:
        written = cache.save(series, timeframe)
        print(f"imported {written:,} {timeframe} bars of {series.symbol} into {cache.path}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with BarCache(args.cache) as cache:
        entries = cache.catalog()
        if not entries:
            print(f"{cache.path}: empty")
            return 0
        tz = cache.tz
        print(f"{cache.path}:")
        print(f"{'symbol':<10} {'timeframe':<9} {'bars':>10}  first -> last ({tz})")
        for entry in entries:
            first, last, count = entry.coverage
            print(
                f"{entry.symbol:<10} {entry.timeframe:<9} {count:>10,}  "
                f"{format_ts(first, tz)} -> {format_ts(last, tz)}"
            )
    return 0


def _per_symbol(out: Path, symbol: str) -> Path:
    """bars.csv -> bars_QQQ.csv (the extension was checked by file_format)."""
    name = out.name
    suffix = next(s for s in (*CSV_SUFFIXES, *PARQUET_SUFFIXES) if name.lower().endswith(s))
    return out.with_name(f"{name[: -len(suffix)]}_{symbol}{name[-len(suffix):]}")
