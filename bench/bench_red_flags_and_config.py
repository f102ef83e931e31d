"""Prints the cost of the red-flag monitor per bar and of one config-dialog revalidation.

The monitor runs on every bar of a live or replay session; the dialog revalidates the whole
form on every keystroke, so both must stay far below a bar and a keystroke respectively.
"""
from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from engine.observability.red_flags import Observation, RedFlagMonitor


def bench_red_flags(n_bars: int = 100_000) -> None:
    rng = np.random.default_rng(7)
    t0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
    agents = ("trend", "mean_reversion", "volatility", "fvg")
    weights = np.clip(0.25 + np.cumsum(rng.normal(0, 0.002, (n_bars, 4)), axis=0), 0.05, 0.7)
    observations = [
        Observation(t0 + timedelta(minutes=i), weights=dict(zip(agents, map(float, weights[i]))),
                    high_confidence_no_trade=bool(rng.random() < 0.02))
        for i in range(n_bars)
    ]
    monitor = RedFlagMonitor()
    start = time.perf_counter()
    alerts = sum(len(monitor.observe(obs)) for obs in observations)
    elapsed = time.perf_counter() - start
    print(f"red flags: {n_bars:,} bars x 4 weights in {elapsed:.3f} s = {elapsed / n_bars * 1e6:.1f} µs/bar "
          f"({n_bars / elapsed:,.0f} bars/s), {alerts} alerts")


def bench_config_dialog(edits: int = 200) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from engine.config import load_settings
    from widgets.config_dialog import ConfigDialog

    app = QApplication.instance() or QApplication([])
    settings = load_settings()
    start = time.perf_counter()
    dialog = ConfigDialog(settings, settings)
    built = time.perf_counter() - start
    field = dialog.editor("risk.daily_loss_limit").widget
    start = time.perf_counter()
    for i in range(edits):
        field.setText(f"0.0{i % 9 + 1}")   # each setText revalidates the whole form
    per_edit = (time.perf_counter() - start) / edits
    app.processEvents()
    print(f"config dialog: built in {built * 1e3:.1f} ms; one keystroke revalidation {per_edit * 1e3:.2f} ms")


if __name__ == "__main__":
    bench_red_flags()
    bench_config_dialog()
