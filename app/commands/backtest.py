"""`futbot backtest`: the full pipeline over embedded or file data, with a readable report."""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import threading
import time
from pathlib import Path
from typing import Any

from engine.backtest.backtester import Backtester, BacktestResult, prepare
from engine.backtest.setup import backtest_settings
from engine.config import Settings, load_settings, validate
from engine.data.bar import BarSeries
from engine.observability.events import iso


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="run the full pipeline over historical bars and print the report")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", type=Path, help="CSV or Parquet bar file")
    src.add_argument("--synthetic", action="store_true", help="embedded synthetic data (the default)")
    p.add_argument("--symbol", default=None, help="symbol (synthetic profile, or selects rows in a file)")
    p.add_argument("--days", type=int, default=20, help="synthetic trading days (default 20)")
    p.add_argument("--seed", type=int, default=7, help="synthetic seed (default 7)")
    p.add_argument("--config", type=Path, help="YAML settings overriding config/settings.yaml")
    p.add_argument("--agents", help="comma-separated agents to run, e.g. trend,fvg or sma_cross")
    p.add_argument("--no-risk", action="store_true", help="turn the risk layers off (kill switch and sizing stay)")
    p.add_argument("--no-adapt", action="store_true", help="keep agent weights fixed")
    p.add_argument("--no-regime", action="store_true",
                   help="skip the regime engine (no per-regime breakdown); only for runs whose decisions "
                        "do not read the regime, e.g. --agents sma_cross --no-adapt --no-risk")
    p.add_argument("--cash", type=float, help="initial cash")
    p.add_argument("--commission", type=float, help="commission per share")
    p.add_argument("--slippage-bps", type=float, help="slippage in basis points")
    p.add_argument("--fill", choices=("next_open", "close"), help="fill model")
    p.add_argument("--json", type=Path, dest="json_out", help="write stats and every trade as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings file, then the command-line switches, validated by the same rules."""
    base = load_settings(args.config)
    if args.symbol:
        base = validate({**base.to_dict(), "data": {**base.data.model_dump(), "symbol": args.symbol}})
    agents = [a.strip() for a in args.agents.split(",") if a.strip()] if args.agents else None
    return backtest_settings(base, agents=agents, adaptation=not args.no_adapt, risk=not args.no_risk,
                             cash=args.cash, commission_per_share=args.commission,
                             slippage_bps=args.slippage_bps, fill=args.fill)


def load_series(args: argparse.Namespace, settings: Settings) -> BarSeries:
    if args.data is not None:
        from engine.data.files import load_bars

        series, report = load_bars(args.data, symbol=args.symbol, tz=settings.data.timezone)
        if not report.ok:
            print(report.summary(), file=sys.stderr)
        return series
    from engine.data.synthetic import generate_bars

    return generate_bars(settings.data.symbol, days=args.days, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    series = load_series(args, settings)
    if len(series) == 0:
        raise ValueError("no bars to backtest")
    started = time.perf_counter()
    prepare()  # so the report's time is the run's, not the loop's one-off compilation
    if not args.quiet and time.perf_counter() - started > 2.0:
        print(f"compiled the backtest loop in {time.perf_counter() - started:.1f} s (once after install)",
              file=sys.stderr)
    bar = None if args.quiet else ProgressBar()
    cancel = threading.Event()
    try:
        result = Backtester(settings, regimes=not args.no_regime).run(series, progress=bar, cancel=cancel,
                                                                      progress_every=5_000)
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return 130
    if bar is not None:
        bar.close()
    print(report(result))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result_json(result), indent=2))
        print(f"wrote {args.json_out}")
    return 0


class ProgressBar:
    def __init__(self, width: int = 40) -> None:
        self.width = width
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if total < 20_000 or not sys.stderr.isatty():
            return
        filled = int(self.width * done / total)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done:,}/{total:,} bars")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def report(result: BacktestResult) -> str:
    lines = [f"FutBot backtest · {result.symbol} · {result.bars:,} bars · {result.seconds:.2f} s "
             f"({result.bars / max(result.seconds, 1e-9):,.0f} bars/s)", ""]
    rows = result.stats.as_rows()
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    for title, table in (("by regime", result.by_regime), ("by agent", result.by_agent)):
        if title == "by regime" and not result.regimes:
            lines += ["", "Trades by regime: not computed (--no-regime)"]
            continue
        lines += ["", f"Trades {title}:", f"  {'':<16}{'trades':>8}{'win rate':>10}{'pnl':>14}{'PF':>8}{'expect.':>10}"]
        for key, t in sorted(table.items()):
            lines.append(f"  {key or '-':<16}{t.count:>8}{t.win_rate:>10.1%}{t.total_pnl:>14,.2f}"
                         f"{t.profit_factor:>8.2f}{t.expectancy:>10.2f}")
    return "\n".join(lines)


def result_json(result: BacktestResult) -> dict[str, Any]:
    return {
        "symbol": result.symbol,
        "bars": result.bars,
        "start": iso(int(result.ts[0])) if result.bars else None,
        "end": iso(int(result.ts[-1])) if result.bars else None,
        "stats": _plain(result.stats),
        "by_regime": {k: _plain(v) for k, v in result.by_regime.items()},
        "by_agent": {k: _plain(v) for k, v in result.by_agent.items()},
        "weights": result.weights,
        "trades": [
            {"symbol": t.symbol, "side": t.side.value, "qty": t.qty, "entry_time": iso(t.entry_ts),
             "entry_price": t.entry_price, "exit_time": iso(t.exit_ts), "exit_price": t.exit_price,
             "pnl": t.pnl, "fees": t.fees, "agent": t.agent, "regime": t.regime, "bars_held": t.bars_held}
            for t in result.trades
        ],
    }


def _plain(value: Any) -> dict[str, Any]:
    # JSON has no inf/NaN: an infinite profit factor (no losing trade) becomes null.
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None)
            for k, v in dataclasses.asdict(value).items()}
