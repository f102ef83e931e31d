"""GUI latency and memory with every pane live.

Feeds synthetic snapshot batches into the MainWindow at a steady bar rate (default 2,000
bars/s as 30 batches a second) and measures, on the GUI thread:
  - bars/s actually taken in (a stalled event loop fires the feed timer late),
  - event-loop stalls: a 5 ms timer records how late each tick fires (p50, p99, max),
  - the time spent in each apply_batch, and how often each pane was redrawn,
  - the cost of one redraw of each pane, painting included (after the live feed),
  - kill-switch latency: a click on the kill button, through a fake worker on its own
    QThread that answers with a HALTED batch, until the status bar is painted HALTED
    (measured while the feed runs),
  - cold start: process start to the first painted price chart,
  - RSS after pushing 500,000 bars through (Linux /proc).
Also saves docs/screenshot-panes.png after a few thousand bars.

    QT_QPA_PLATFORM=offscreen python -m bench.bench_gui [--seconds 30] [--rate 2000]
"""
from __future__ import annotations

import time

PROCESS_START = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import (QEvent, QEventLoop, QObject, QSettings, Qt, QThread, QTimer,  # noqa: E402
                            Signal, Slot)
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QAbstractScrollArea, QApplication  # noqa: E402

from app.snapshot import SnapshotBatch, Status  # noqa: E402
from app.theme import apply_dark_theme  # noqa: E402
from app.window import MainWindow  # noqa: E402
from gui_factory import SnapshotStream  # noqa: E402

TICK_MS = 5
KILL_EVERY_S = 2.0


class FirstPaint(QObject):
    """Records when a widget is painted for the first time."""

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if self.at is None and event.type() == QEvent.Type.Paint:
            self.at = time.perf_counter()
        return False


class FakeWorker(QObject):
    """Stands in for the engine worker: answers a kill with a HALTED status batch."""

    batch_ready = Signal(object)

    @Slot()
    def kill(self) -> None:
        empty = np.empty(0)
        status = Status(mode="replay", broker="paper", connected=True, trading_state="HALTED",
                        equity=100_000.0, cash=100_000.0, day_pnl=0.0, day_pnl_pct=0.0,
                        drawdown=0.0, ts=0, symbol="QQQ", running=True, speed=0.0)
        self.batch_ready.emit(SnapshotBatch(
            ts=np.empty(0, dtype=np.int64), open=empty, high=empty, low=empty, close=empty,
            volume=empty, regime=np.empty(0, dtype=np.int8), equity=empty, drawdown=empty,
            status=status))


class HaltedPaint(QObject):
    """Times a kill click until the status bar is painted HALTED."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.window = window
        self.clicked_at: float | None = None
        self.latencies_ms: list[float] = []
        window.status_bar.installEventFilter(self)

    def click(self) -> None:
        self.clicked_at = time.perf_counter()
        QTest.mouseClick(self.window.kill_button, Qt.MouseButton.LeftButton)

    @property
    def waiting(self) -> bool:
        return self.clicked_at is not None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if (self.clicked_at is not None and event.type() == QEvent.Type.Paint
                and self.window.status_bar.trading_state == "HALTED"):
            self.latencies_ms.append((time.perf_counter() - self.clicked_at) * 1000.0)
            self.clicked_at = None
        return False


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def stats(values: list[float]) -> str:
    a = np.asarray(values)
    return (f"p50 {np.percentile(a, 50):.2f} ms, p99 {np.percentile(a, 99):.2f} ms, "
            f"max {a.max():.2f} ms")


def pane_redraw_costs(app: QApplication, window: MainWindow, stream: SnapshotStream,
                      bars_per_batch: int, rounds: int = 20
                      ) -> dict[str, tuple[list[float], list[float]]]:
    """(wall ms, GUI-thread CPU ms) of one pane's redraw and its synchronous repaint, after a
    fresh batch, per pane. CPU time is what the pane costs; wall time adds waiting for a core."""
    costs: dict[str, tuple[list[float], list[float]]] = {
        name: ([], []) for name in window.redraws.redraw_counts}
    for _ in range(rounds):
        window.apply_batch(stream.next_batch(bars_per_batch))
        for name, pane in window._panes.items():
            # A widget's repaint() leaves out the viewports of its charts and tables.
            viewports = [area.viewport() for area in pane.findChildren(QAbstractScrollArea)]
            start, cpu = time.perf_counter(), time.thread_time()
            pane.redraw()
            pane.dirty = False
            pane.repaint()
            for viewport in viewports:
                viewport.repaint()
            costs[name][0].append((time.perf_counter() - start) * 1000.0)
            costs[name][1].append((time.thread_time() - cpu) * 1000.0)
        app.processEvents()
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="live feed duration")
    parser.add_argument("--rate", type=float, default=2000.0, help="bars per second")
    parser.add_argument("--hz", type=float, default=30.0, help="batches per second")
    parser.add_argument("--total-bars", type=int, default=500_000, help="bars pushed for RSS")
    parser.add_argument("--screenshot", default=str(ROOT / "docs" / "screenshot-panes.png"))
    args = parser.parse_args()
    # Other programs on a small machine inflate the wall-clock figures; say how busy it was.
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    app = QApplication(sys.argv)
    apply_dark_theme(app)
    settings = QSettings(str(Path("/tmp") / f"futbot-bench-{os.getpid()}.ini"),
                         QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    first_paint = FirstPaint()
    window.price.plot_widget.viewport().installEventFilter(first_paint)
    window.show()
    while first_paint.at is None:
        app.processEvents()
    print(f"cold start to first drawn frame: {(first_paint.at - PROCESS_START) * 1000:.0f} ms "
          "(interpreter start excluded)")

    stream = SnapshotStream(seed=7)
    bars_per_batch = max(1, round(args.rate / args.hz))
    for _ in range(3_000 // bars_per_batch):
        window.apply_batch(stream.next_batch(bars_per_batch))
        app.processEvents()
    window.redraw_now()
    app.processEvents()
    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(args.screenshot)
    print(f"screenshot: {args.screenshot} after {stream.bars:,} bars")

    # The fake worker lives on its own thread, so a kill makes two queued hops like the app.
    worker_thread = QThread()
    worker = FakeWorker()
    worker.moveToThread(worker_thread)
    window.kill_requested.connect(worker.kill)
    worker.batch_ready.connect(window.apply_batch)
    worker_thread.start()
    halted = HaltedPaint(window)

    n_batches = int(args.seconds * args.hz)
    batches = [stream.next_batch(bars_per_batch) for _ in range(n_batches)]
    lateness: list[float] = []
    apply_ms: list[float] = []
    last_tick = [time.perf_counter()]
    fed = [0]
    next_kill = [time.perf_counter() + KILL_EVERY_S]

    def on_tick() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, (now - last_tick[0]) * 1000.0 - TICK_MS))
        last_tick[0] = now

    # A local loop: QApplication.quit() would close the window (Qt 6) before the later phases.
    loop = QEventLoop()

    def on_feed() -> None:
        if fed[0] >= len(batches):
            loop.quit()
            return
        batch = batches[fed[0]]
        if halted.waiting:
            # The engine keeps reporting HALTED after a kill, until it is measured re-armed.
            batch = replace(batch, status=replace(batch.status, trading_state="HALTED"))
        start = time.perf_counter()
        window.apply_batch(batch)
        apply_ms.append((time.perf_counter() - start) * 1000.0)
        fed[0] += 1
        if not halted.waiting and time.perf_counter() >= next_kill[0]:
            next_kill[0] = time.perf_counter() + KILL_EVERY_S
            halted.click()

    ticker = QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.setInterval(TICK_MS)
    ticker.timeout.connect(on_tick)
    feeder = QTimer()
    feeder.setTimerType(Qt.TimerType.PreciseTimer)
    feeder.setInterval(round(1000.0 / args.hz))
    feeder.timeout.connect(on_feed)
    counts_before = dict(window.redraws.redraw_counts)
    t0, cpu0 = time.perf_counter(), time.thread_time()
    ticker.start()
    feeder.start()
    loop.exec()
    wall = time.perf_counter() - t0
    gui_cpu = time.thread_time() - cpu0
    ticker.stop()
    feeder.stop()
    bars_in = fed[0] * bars_per_batch
    print(f"live feed: {bars_in:,} bars in {wall:.1f} s = {bars_in / wall:,.0f} bars/s consumed "
          f"(asked {args.rate:,.0f}), {bars_per_batch} bars a batch at {args.hz:.0f} Hz")
    print(f"event-loop stall (lateness of a {TICK_MS} ms timer, {len(lateness):,} ticks): "
          f"{stats(lateness)}")
    print(f"apply_batch: {stats(apply_ms)}")
    print(f"GUI thread busy {gui_cpu / wall:.0%} of one core while live")
    rates = ", ".join(f"{name} {(n - counts_before[name]) / wall:.1f}"
                      for name, n in window.redraws.redraw_counts.items())
    print(f"redraws per second while live (hidden tabs stay at 0): {rates}")
    if halted.latencies_ms:
        print(f"kill switch, click to HALTED painted (via a worker thread, under load, "
              f"{len(halted.latencies_ms)} clicks): {stats(halted.latencies_ms)}")
    worker_thread.quit()
    worker_thread.wait()

    print("redraw + repaint cost per pane (one at a time, after a fresh batch), wall | CPU:")
    for name, (wall_ms, cpu_ms) in pane_redraw_costs(app, window, stream, bars_per_batch).items():
        print(f"  {name:<10} {stats(wall_ms)} | CPU p50 {np.median(cpu_ms):.2f} ms, "
              f"max {max(cpu_ms):.2f} ms")

    # Memory: push the rest of the bars through, drawing now and then like a busy session.
    big = 2_000
    pushed_since_paint = 0
    while window.clock.total < args.total_bars:
        window.apply_batch(stream.next_batch(min(big, args.total_bars - window.clock.total)))
        pushed_since_paint += big
        if pushed_since_paint >= 20_000:
            window.redraw_now()
            app.processEvents()
            pushed_since_paint = 0
    window.redraw_now()
    app.processEvents()
    start = time.perf_counter()
    window.apply_batch(stream.next_batch(bars_per_batch))
    window.redraw_now()
    for area in window.findChildren(QAbstractScrollArea):
        area.viewport().repaint()
    print(f"after {window.clock.total:,} bars: RSS {rss_mb():,.0f} MB; one batch + redraw of "
          f"every pane + repaint {(time.perf_counter() - start) * 1000:.1f} ms")
    settings_file = Path(settings.fileName())
    window.close()
    settings_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
