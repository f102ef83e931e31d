"""The interactive backtest dialog: choose, run (off the GUI thread), inspect, compare.

Left: the form, Run and Cancel, a progress bar with the time left. Right: the runs kept so
far; selecting one shows it in detail, selecting two or more compares them. A failed run
is reported in a banner in plain words; the dialog and the window behind it keep working.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QScrollArea, QSplitter, QStackedWidget, QVBoxLayout, QWidget)

from app import theme
from app.backtest_runner import BacktestRunner, RunOutcome, RunProgress
from engine.config import Settings
from engine.data.cache import PROJECT_ROOT
from widgets.backtest_form import BacktestForm
from widgets.backtest_results import ComparisonView, ResultView, RunRecord, swatch

MAX_RUNS = 20            # the oldest run is dropped beyond this: each keeps its bar arrays
CLOSE_WAIT_SECONDS = 2.0
_RUN_NUMBER = Qt.ItemDataRole.UserRole


def format_seconds_left(seconds: float | None) -> str:
    if seconds is None:
        return "estimating time left"
    if seconds < 1.0:
        return "under a second left"
    whole = round(seconds)
    if whole < 60:
        return f"about {whole} s left"
    return f"about {whole // 60} min {whole % 60:02d} s left"


def resolve_cache_path(settings: Settings, cache_path: str | None) -> Path:
    """The cache to browse: the argument, else settings `data.cache_path` (relative to the project)."""
    path = Path(cache_path if cache_path is not None else settings.data.cache_path)
    return path if path.is_absolute() else PROJECT_ROOT / path


class BacktestDialog(QDialog):
    """Backtests from the workstation. `run_finished(RunOutcome)` fires after every run."""

    run_finished = Signal(object)

    def __init__(self, settings: Settings, cache_path: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Backtest")
        self.resize(1440, 900)
        self.runs: list[RunRecord] = []
        self._next_number = 1
        self.runner = BacktestRunner(self)
        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)

        self.form = BacktestForm(settings, resolve_cache_path(settings, cache_path))
        self.form.changed.connect(self._update_buttons)
        self.run_button = QPushButton("▶ Run backtest")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the running backtest (Esc)")
        self.cancel_button.clicked.connect(self.cancel_run)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.status = QLabel("Choose the data and agents, then Run.")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color: {theme.TEXT_DIM};")

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        scroll.setMinimumWidth(380)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.status)

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setStyleSheet(f"background: {theme.ERROR_BANNER}; color: white; padding: 6px;")
        self.banner.hide()
        self.runs_list = QListWidget()
        self.runs_list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.runs_list.itemSelectionChanged.connect(self._show_selection)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("forget the selected runs")
        self.remove_button.clicked.connect(self.remove_selected)
        runs_header = QHBoxLayout()
        runs_header.addWidget(QLabel("Runs — select one for details, two or more (Ctrl/Shift-click) to compare"), 1)
        runs_header.addWidget(self.remove_button)
        runs_box = QWidget()
        runs_layout = QVBoxLayout(runs_box)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        runs_layout.addLayout(runs_header)
        runs_layout.addWidget(self.runs_list)

        self.result_view = ResultView()
        self.compare_view = ComparisonView()
        self.placeholder = QLabel("No run yet. Results appear here.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet(f"color: {theme.TEXT_DIM};")
        self.stack = QStackedWidget()
        for page in (self.placeholder, self.result_view, self.compare_view):
            self.stack.addWidget(page)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(runs_box)
        right.addWidget(self.stack)
        right.setSizes([100, 800])
        right_box = QWidget()
        right_layout = QVBoxLayout(right_box)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.banner)
        right_layout.addWidget(right, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right_box)
        splitter.setSizes([400, 1040])
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self._update_buttons()

    # -- running ----------------------------------------------------------------------------------

    def start_run(self) -> bool:
        """Start the form's request; False (and nothing started) while the form has problems."""
        request = self.form.request()
        if request is None or self.runner.running:
            return False
        self.banner.hide()
        self.runner.start(request)
        self.progress.setRange(0, 0)      # busy until the first report says how many bars
        self.progress.setFormat("loading data and computing features…")
        self.status.setText(f"Running {request.label}")
        self._set_status_color(theme.TEXT_DIM)
        self._update_buttons()
        return True

    def cancel_run(self) -> None:
        if self.runner.running:
            self.runner.cancel()
            self.progress.setFormat("cancelling…")

    def _on_progress(self, p: RunProgress) -> None:
        if p.total <= 0:
            return
        self.progress.setRange(0, p.total)
        self.progress.setValue(p.done)
        if p.done == 0:
            self.progress.setFormat(f"computing features for {p.total:,} bars…")
        else:
            self.progress.setFormat(f"%p% · {p.done:,} / {p.total:,} bars · {format_seconds_left(p.seconds_left)}")

    def _on_finished(self, outcome: RunOutcome) -> None:
        self.progress.setRange(0, 1)
        if outcome.status == "finished" and outcome.result is not None:
            self.progress.setValue(1)
            self.progress.setFormat("done")
            self._set_status_color(theme.TEXT)
            self._add_run(RunRecord(self._next_number, outcome.request.label, outcome.result))
            self._next_number += 1
        elif outcome.status == "cancelled":
            self.progress.setValue(0)
            self.progress.setFormat("cancelled")
            self._set_status_color(theme.SOFT_LIMIT)
        else:
            self.progress.setValue(0)
            self.progress.setFormat("failed")
            self._set_status_color(theme.LOSS)
            self.banner.setText(outcome.message)
            self.banner.show()
        self.status.setText(outcome.message)
        self._update_buttons()
        self.run_finished.emit(outcome)

    def _set_status_color(self, color: str) -> None:
        self.status.setStyleSheet(f"color: {color};")

    def _update_buttons(self) -> None:
        running = self.runner.running
        self.run_button.setEnabled(not running and self.form.request() is not None)
        self.run_button.setToolTip("" if self.form.request() is not None else
                                   "fix the problems shown in red first")
        self.cancel_button.setEnabled(running)
        self.form.setEnabled(not running)

    # -- runs ------------------------------------------------------------------------------------

    def _add_run(self, run: RunRecord) -> None:
        self.runs.append(run)
        item = QListWidgetItem(swatch(run.color), run.title)
        item.setData(_RUN_NUMBER, run.number)
        self.runs_list.addItem(item)
        while len(self.runs) > MAX_RUNS:
            self.runs.pop(0)
            self.runs_list.takeItem(0)
        self.runs_list.clearSelection()
        item.setSelected(True)
        self.runs_list.scrollToItem(item)

    def selected_runs(self) -> list[RunRecord]:
        numbers = {item.data(_RUN_NUMBER) for item in self.runs_list.selectedItems()}
        return [run for run in self.runs if run.number in numbers]

    def select_runs(self, numbers: list[int]) -> None:
        """Select these runs in the list (one shows details, several compare)."""
        self.runs_list.clearSelection()
        for row in range(self.runs_list.count()):
            item = self.runs_list.item(row)
            if item.data(_RUN_NUMBER) in numbers:
                item.setSelected(True)

    def remove_selected(self) -> None:
        for item in self.runs_list.selectedItems():
            number = item.data(_RUN_NUMBER)
            self.runs = [run for run in self.runs if run.number != number]
            self.runs_list.takeItem(self.runs_list.row(item))
        self._show_selection()

    def _show_selection(self) -> None:
        chosen = self.selected_runs()
        if len(chosen) == 1:
            self.result_view.show_run(chosen[0])
            self.stack.setCurrentWidget(self.result_view)
        elif len(chosen) > 1:
            self.compare_view.show_runs(chosen)
            self.stack.setCurrentWidget(self.compare_view)
        else:
            self.stack.setCurrentWidget(self.placeholder)
        self.remove_button.setEnabled(bool(chosen))

    # -- closing ---------------------------------------------------------------------------------

    def done(self, result: int) -> None:
        """Closing cancels a running backtest and waits briefly for its thread to end."""
        self.runner.cancel()
        self.runner.wait(CLOSE_WAIT_SECONDS)
        super().done(result)
