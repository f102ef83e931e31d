"""GUI latency and memory with every pane live.

Feeds synthetic snapshot batches into the MainWindow at a steady bar rate (default 2,000
bars/s as 30 batches a second) and measures, on the GUI thread:
  - event-loop stalls: a 5 ms QTimer records how late each tick fires (max, p99),
  - the time spent in each apply_batch,
  - cold start: process start to the first painted price chart,
  - RSS after pushing 500,000 bars through (Linux /proc).
Also saves docs/screenshot-panes.png after a few thousand bars.

    QT_QPA_PLATFORM=offscreen python bench/bench_gui.py [--seconds 30] [--rate 2000]
"""
from __future__ import annotations

import time

PROCESS_START = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import widgets  # noqa: E402,F401  (guards the PySide6 build first)
import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.theme import apply_dark_theme  # noqa: E402
from app.window import MainWindow  # noqa: E402
from gui_factory import SnapshotStream  # noqa: E402

TICK_MS = 5


class FirstPaint(QObject):
    """Records when a widget is painted for the first time."""

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if self.at is None and event.type() == QEvent.Type.Paint:
            self.at = time.perf_counter()
        return False


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="live feed duration")
    parser.add_argument("--rate", type=float, default=2000.0, help="bars per second")
    parser.add_argument("--hz", type=float, default=30.0, help="batches per second")
    parser.add_argument("--total-bars", type=int, default=500_000, help="bars pushed for RSS")
    parser.add_argument("--screenshot", default=str(ROOT / "docs" / "screenshot-panes.png"))
    args = parser.parse_args()

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
    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(args.screenshot)
    print(f"screenshot: {args.screenshot} after {stream.bars:,} bars")

    n_batches = int(args.seconds * args.hz)
    batches = [stream.next_batch(bars_per_batch) for _ in range(n_batches)]
    lateness: list[float] = []
    apply_ms: list[float] = []
    last_tick = [time.perf_counter()]
    fed = [0]

    def on_tick() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, (now - last_tick[0]) * 1000.0 - TICK_MS))
        last_tick[0] = now

    def on_feed() -> None:
        if fed[0] >= len(batches):
            app.quit()
            return
        start = time.perf_counter()
        window.apply_batch(batches[fed[0]])
        apply_ms.append((time.perf_counter() - start) * 1000.0)
        fed[0] += 1

    ticker = QTimer()
    ticker.setInterval(TICK_MS)
    ticker.timeout.connect(on_tick)
    feeder = QTimer()
    feeder.setInterval(round(1000.0 / args.hz))
    feeder.timeout.connect(on_feed)
    t0 = time.perf_counter()
    ticker.start()
    feeder.start()
    app.exec()
    wall = time.perf_counter() - t0
    ticker.stop()
    feeder.stop()
    stalls = np.asarray(lateness)
    applies = np.asarray(apply_ms)
    print(f"live feed: {fed[0] * bars_per_batch:,} bars in {wall:.1f} s "
          f"({fed[0] * bars_per_batch / wall:,.0f} bars/s asked {args.rate:,.0f}), "
          f"{bars_per_batch} bars a batch at {args.hz:.0f} Hz")
    print(f"event-loop stall (lateness of a {TICK_MS} ms timer): "
          f"p50 {np.percentile(stalls, 50):.1f} ms, p99 {np.percentile(stalls, 99):.1f} ms, "
          f"max {stalls.max():.1f} ms over {len(stalls):,} ticks")
    print(f"apply_batch: p50 {np.percentile(applies, 50):.2f} ms, "
          f"p99 {np.percentile(applies, 99):.2f} ms, max {applies.max():.2f} ms")

    # Memory: push the rest of the bars through, painting now and then like a busy session.
    big = 2_000
    pushed_since_paint = 0
    while window.clock.total < args.total_bars:
        window.apply_batch(stream.next_batch(min(big, args.total_bars - window.clock.total)))
        pushed_since_paint += big
        if pushed_since_paint >= 20_000:
            app.processEvents()
            pushed_since_paint = 0
    app.processEvents()
    start = time.perf_counter()
    window.apply_batch(stream.next_batch(bars_per_batch))
    app.processEvents()
    print(f"after {window.clock.total:,} bars: RSS {rss_mb():,.0f} MB; one batch + repaint "
          f"{(time.perf_counter() - start) * 1000:.1f} ms")
    settings_file = Path(settings.fileName())
    window.close()
    settings_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
