"""The backtest dialog's costs: runner overhead, GUI stalls during a run, cancel latency, showing results.

    QT_QPA_PLATFORM=offscreen python bench/bench_backtest_dialog.py [--days 60]
"""
from __future__ import annotations

import argparse
import statistics
import time

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from app import theme
from app.backtest_runner import BacktestRunner, RunOutcome, RunRequest, SyntheticSource
from engine.backtest.backtester import Backtester
from engine.config import load_settings
from engine.data.synthetic import generate_bars
from widgets.backtest_results import ComparisonView, ResultView, RunRecord


def run_in_runner(request: RunRequest, cancel_after: float | None = None
                  ) -> tuple[RunOutcome, float, list[float], float | None]:
    """(outcome, wall seconds, gaps between 5 ms timer ticks, seconds from cancel to outcome).

    The GUI side runs a real event loop (as the app does), with a 5 ms timer standing in for
    the window's own work, so the figures show what a trader feels while a backtest runs.
    """
    runner = BacktestRunner()
    loop = QEventLoop()
    outcomes: list[RunOutcome] = []
    runner.finished.connect(outcomes.append)
    runner.finished.connect(loop.quit)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(5)
    cancelled_at: list[float] = []
    if cancel_after is not None:
        QTimer.singleShot(int(cancel_after * 1e3), lambda: (cancelled_at.append(time.perf_counter()), runner.cancel()))
    started = time.perf_counter()
    runner.start(request)
    loop.exec()
    ended = time.perf_counter()
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    return outcomes[0], ended - started, gaps, ended - cancelled_at[0] if cancelled_at else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args()
    app = QApplication([])
    theme.apply_dark_theme(app)
    settings = load_settings()
    series = generate_bars("QQQ", days=args.days, seed=7)
    request = RunRequest("bench", SyntheticSource("QQQ", args.days, 7), settings, series=series)

    started = time.perf_counter()
    direct = Backtester(settings).run(series)
    seconds = time.perf_counter() - started
    print(f"direct Backtester.run     {len(series):>8,} bars  {seconds:6.2f} s  {len(series) / seconds:>9,.0f} bars/s")

    outcome, wall, gaps, _ = run_in_runner(request)
    assert outcome.result is not None
    print(f"through BacktestRunner    {len(series):>8,} bars  {wall:6.2f} s  {len(series) / wall:>9,.0f} bars/s "
          f"(GUI event loop alongside)")
    print(f"GUI timer (5 ms) during the run: median gap {statistics.median(gaps) * 1e3:5.1f} ms, "
          f"p99 {sorted(gaps)[int(len(gaps) * 0.99)] * 1e3:5.1f} ms, max {max(gaps) * 1e3:5.1f} ms")

    latencies = []
    for share in (0.2, 0.4, 0.6):
        outcome, _, _, latency = run_in_runner(request, cancel_after=share * seconds)
        if outcome.status != "cancelled" or latency is None:
            latencies.append("finished before the cancel")
        else:
            latencies.append(f"{latency * 1e3:.0f} ms")
    print(f"cancel -> outcome in the GUI: {', '.join(latencies)}")

    view = ResultView()
    view.resize(1100, 800)
    view.show()
    run = RunRecord(1, "bench", direct)
    started = time.perf_counter()
    view.show_run(run)
    app.processEvents()
    print(f"ResultView.show_run: {len(direct.trades):,} trades, {direct.bars:,} bars  "
          f"{(time.perf_counter() - started) * 1e3:6.1f} ms")
    compare = ComparisonView()
    compare.resize(1100, 800)
    compare.show()
    runs = [RunRecord(i, f"run {i}", direct) for i in range(1, 5)]
    started = time.perf_counter()
    compare.show_runs(runs)
    app.processEvents()
    print(f"ComparisonView.show_runs: 4 runs x {direct.bars:,} bars  {(time.perf_counter() - started) * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
