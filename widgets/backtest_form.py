"""The backtest form: data source, date range, agents, config, switches and costs.

Every edit revalidates the whole form; each problem is shown in plain words under its
group and `request()` is None until none is left, so the dialog can keep Run disabled.
Synthetic data and files are loaded here, as soon as they are chosen, so the loader's own
error text shows next to the field and the date range is checked against the real bars;
a cached symbol only has its coverage read (the runner reads the bars of the range).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import get_args

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDateTimeEdit, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QStackedWidget, QVBoxLayout, QWidget)

from app import theme
from app.backtest_runner import (CacheSource, DataSource, FileSource, RunOptions, RunRequest, Span, SyntheticSource,
                                 build_settings, format_et_minute, open_source, range_problem, run_label)
from engine.agents.registry import available_agents
from engine.config import SAFE_LIVE_PATH, ConfigError, ExecutionSettings, Settings, load_settings
from engine.data.bar import BarSeries
from engine.data.cache import BarCache
from engine.data.synthetic import PROFILES

SYNTHETIC, FILE, CACHE = "Synthetic (embedded)", "CSV / Parquet file", "Cached symbol"
CURRENT, SAFE_LIVE, YAML_FILE = "Current settings", "Safe-live preset", "YAML file"
FILL_MODELS = {"next_open": "next bar's open", "close": "this bar's close"}
_DATE_FORMAT = "yyyy-MM-dd HH:mm"


def _error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {theme.LOSS};")
    label.hide()
    return label


def _spin(low: float, high: float, decimals: int, suffix: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setGroupSeparatorShown(True)
    box.setKeyboardTracking(False)
    return box


class BacktestForm(QWidget):
    """`changed` fires after every revalidation; `problems` maps group -> message."""

    changed = Signal()

    def __init__(self, settings: Settings, cache_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._current_settings = settings
        self._cache_path = cache_path
        self._base: Settings | None = settings
        self._config_name: str | None = None
        self._series: BarSeries | None = None
        self._span: Span | None = None
        self._source: DataSource | None = None
        self._source_problem = ""
        self._config_problem = ""
        self._request: RunRequest | None = None
        self._quiet = False
        self.problems: dict[str, str] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_source())
        layout.addWidget(self._build_range())
        layout.addWidget(self._build_agents())
        layout.addWidget(self._build_config())
        layout.addWidget(self._build_costs())
        layout.addStretch(1)
        self._errors = {"source": self.source_error, "range": self.range_error, "agents": self.agents_error,
                        "config": self.config_error, "settings": self.settings_error}
        self._apply_base(settings)
        self._reload_source()

    # -- building ---------------------------------------------------------------------------------

    def _build_source(self) -> QGroupBox:
        box = QGroupBox("Data")
        self.source_combo = QComboBox()
        self.source_combo.addItems([SYNTHETIC, FILE, CACHE])
        self.pages = QStackedWidget()

        synthetic = QWidget()
        form = QFormLayout(synthetic)
        form.setContentsMargins(0, 0, 0, 0)
        self.symbol_combo = QComboBox()
        self.symbol_combo.setEditable(True)
        self.symbol_combo.addItems(sorted(PROFILES))
        self.symbol_combo.setCurrentText(self._current_settings.data.symbol)
        self.days_spin = QSpinBox()
        self.days_spin.setRange(1, 2_520)
        self.days_spin.setValue(20)
        self.days_spin.setSuffix(" sessions")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setValue(7)
        for spin in (self.days_spin, self.seed_spin):
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._reload_source)
        self.symbol_combo.currentTextChanged.connect(self._reload_source)
        form.addRow("Symbol", self.symbol_combo)
        form.addRow("Days", self.days_spin)
        form.addRow("Seed", self.seed_spin)
        self.pages.addWidget(synthetic)

        files = QWidget()
        form = QFormLayout(files)
        form.setContentsMargins(0, 0, 0, 0)
        self.file_path = QLineEdit()
        self.file_path.setPlaceholderText("bars.csv or bars.parquet")
        self.file_path.editingFinished.connect(self._reload_source)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_data)
        row = QHBoxLayout()
        row.addWidget(self.file_path, 1)
        row.addWidget(browse)
        self.file_symbol = QLineEdit()
        self.file_symbol.setPlaceholderText("optional: rows of one symbol")
        self.file_symbol.editingFinished.connect(self._reload_source)
        form.addRow("File", row)
        form.addRow("Symbol", self.file_symbol)
        self.pages.addWidget(files)

        cached = QWidget()
        form = QFormLayout(cached)
        form.setContentsMargins(0, 0, 0, 0)
        self.cache_combo = QComboBox()
        self.cache_combo.currentIndexChanged.connect(self._reload_source)
        form.addRow("Symbol", self.cache_combo)
        form.addRow("Cache", QLabel(str(self._cache_path)))
        self.pages.addWidget(cached)

        self.source_combo.currentIndexChanged.connect(self._source_kind_changed)
        self.source_note = QLabel()
        self.source_note.setWordWrap(True)
        self.source_note.setStyleSheet(f"color: {theme.TEXT_DIM};")
        self.source_error = _error_label()
        layout = QVBoxLayout(box)
        layout.addWidget(self.source_combo)
        layout.addWidget(self.pages)
        layout.addWidget(self.source_note)
        layout.addWidget(self.source_error)
        return box

    def _build_range(self) -> QGroupBox:
        box = QGroupBox(f"Date range ({theme.EXCHANGE_TZ_LABEL}, from ≤ bar < to)")
        self.from_edit = QDateTimeEdit()
        self.to_edit = QDateTimeEdit()
        for edit in (self.from_edit, self.to_edit):
            edit.setDisplayFormat(_DATE_FORMAT)
            edit.setCalendarPopup(True)
            edit.dateTimeChanged.connect(self._revalidate)
        whole = QPushButton("Whole data")
        whole.setToolTip("from the first bar to the end of the last")
        whole.clicked.connect(self._whole_range)
        grid = QGridLayout(box)
        grid.addWidget(QLabel("From"), 0, 0)
        grid.addWidget(self.from_edit, 0, 1)
        grid.addWidget(QLabel("To"), 1, 0)
        grid.addWidget(self.to_edit, 1, 1)
        grid.addWidget(whole, 0, 2)
        self.range_error = _error_label()
        grid.addWidget(self.range_error, 2, 0, 1, 3)
        grid.setColumnStretch(1, 1)
        return box

    def _build_agents(self) -> QGroupBox:
        box = QGroupBox("Agents")
        grid = QGridLayout(box)
        self.agent_boxes: dict[str, QCheckBox] = {}
        for i, name in enumerate(available_agents()):
            check = QCheckBox(name)
            check.setStyleSheet(f"QCheckBox {{ color: {theme.agent_color(name).name()}; }}")
            check.toggled.connect(self._revalidate)
            self.agent_boxes[name] = check
            grid.addWidget(check, i // 2, i % 2)
        self.agents_error = _error_label()
        grid.addWidget(self.agents_error, grid.rowCount(), 0, 1, 2)
        return box

    def _build_config(self) -> QGroupBox:
        box = QGroupBox("Config")
        self.config_combo = QComboBox()
        self.config_combo.addItems([CURRENT, SAFE_LIVE, YAML_FILE])
        self.config_combo.setItemData(1, f"{SAFE_LIVE_PATH.name}: conservative values over the defaults",
                                      Qt.ItemDataRole.ToolTipRole)
        self.config_combo.currentIndexChanged.connect(self._reload_config)
        self.config_path = QLineEdit()
        self.config_path.setPlaceholderText("settings.yaml")
        self.config_path.editingFinished.connect(self._reload_config)
        self.config_browse = QPushButton("Browse…")
        self.config_browse.clicked.connect(self._browse_config)
        row = QHBoxLayout()
        row.addWidget(self.config_path, 1)
        row.addWidget(self.config_browse)
        self.risk_off = QCheckBox("Risk off (limits never bind; sizing and kill switch stay)")
        self.adaptation_off = QCheckBox("Adaptation off (agent weights fixed)")
        for check in (self.risk_off, self.adaptation_off):
            check.toggled.connect(self._revalidate)
        self.config_error = _error_label()
        layout = QVBoxLayout(box)
        layout.addWidget(self.config_combo)
        layout.addLayout(row)
        layout.addWidget(self.config_error)
        layout.addWidget(self.risk_off)
        layout.addWidget(self.adaptation_off)
        self._show_config_path(False)
        return box

    def _build_costs(self) -> QGroupBox:
        box = QGroupBox("Account and costs")
        self.cash_spin = _spin(100.0, 1e10, 2, " $")
        self.commission_spin = _spin(0.0, 10.0, 4, " $/share")
        self.slippage_spin = _spin(0.0, 1_000.0, 2, " bps")
        self.fill_combo = QComboBox()
        for model in get_args(ExecutionSettings.model_fields["fill"].annotation):
            self.fill_combo.addItem(FILL_MODELS.get(model, model), model)
        for spin in (self.cash_spin, self.commission_spin, self.slippage_spin):
            spin.valueChanged.connect(self._revalidate)
        self.fill_combo.currentIndexChanged.connect(self._revalidate)
        form = QFormLayout(box)
        form.addRow("Cash", self.cash_spin)
        form.addRow("Commission", self.commission_spin)
        form.addRow("Slippage", self.slippage_spin)
        form.addRow("Fill at", self.fill_combo)
        self.settings_error = _error_label()
        form.addRow(self.settings_error)
        return box

    # -- public API -------------------------------------------------------------------------------

    def request(self) -> RunRequest | None:
        """What Run would start, or None while any problem is shown."""
        return self._request

    def set_file_path(self, path: str | Path) -> None:
        """Choose the file source with this file and load it (what Browse… does)."""
        self.source_combo.setCurrentText(FILE)
        self.file_path.setText(str(path))
        self._reload_source()

    def set_range(self, start_ns: int, end_ns: int) -> None:
        self._quiet = True
        try:
            _set_edit(self.from_edit, start_ns)
            _set_edit(self.to_edit, end_ns)
        finally:
            self._quiet = False
        self._revalidate()

    def range_ns(self) -> tuple[int, int]:
        return _edit_ns(self.from_edit), _edit_ns(self.to_edit)

    def refresh_cache(self) -> None:
        """Re-read the cache's catalog (symbols and coverage)."""
        self._quiet = True
        try:
            self.cache_combo.clear()
            if self._cache_path.is_file():
                with BarCache(self._cache_path) as cache:
                    for entry in cache.catalog():
                        self.cache_combo.addItem(f"{entry.symbol} ({entry.timeframe})", entry)
        finally:
            self._quiet = False

    # -- reacting to edits ------------------------------------------------------------------------

    def _source_kind_changed(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        if self.source_combo.currentText() == CACHE:
            self.refresh_cache()
        self._reload_source()

    def _browse_data(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Bar file", self.file_path.text(),
                                              "Bars (*.csv *.csv.gz *.parquet *.pq);;All files (*)")
        if path:
            self.set_file_path(path)

    def _browse_config(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Settings file", self.config_path.text(), "YAML (*.yaml *.yml)")
        if path:
            self.config_path.setText(path)
            self._reload_config()

    def _reload_source(self) -> None:
        if self._quiet:
            return
        previous = self._span
        self._series, self._span, self._source, self._source_problem = None, None, None, ""
        loaded = None
        try:
            source = self._chosen_source()
            loaded = open_source(source, self._current_settings.data.timezone)
            self._series, self._span, self._source = loaded.series, loaded.span, source
        except Exception as exc:  # noqa: BLE001 - the loader's own words, whatever broke (pyarrow, pandas, OS)
            self._source_problem = str(exc) or type(exc).__name__
        if loaded is not None:
            self._fit_range(previous)
        self.source_note.setText("" if loaded is None else loaded.note)
        self.source_note.setToolTip("" if loaded is None else loaded.details)
        self.source_note.setVisible(loaded is not None)
        self._revalidate()

    def _chosen_source(self) -> DataSource:
        kind = self.source_combo.currentText()
        if kind == SYNTHETIC:
            symbol = self.symbol_combo.currentText().strip().upper()
            if not symbol:
                raise ValueError("symbol is empty: type one, e.g. QQQ")
            return SyntheticSource(symbol, self.days_spin.value(), self.seed_spin.value())
        if kind == FILE:
            text = self.file_path.text().strip()
            if not text:
                raise ValueError("choose a CSV or Parquet bar file")
            return FileSource(Path(text), self.file_symbol.text().strip() or None)
        entry = self.cache_combo.currentData()
        if entry is None:
            raise ValueError(f"the cache {self._cache_path} holds no bars; `futbot data` fills it")
        return CacheSource(self._cache_path, entry.symbol, entry.timeframe)

    def _fit_range(self, previous: Span | None) -> None:
        """Keep a range the user narrowed if it still lies within the new data; else take all of it."""
        span = self._span
        assert span is not None
        start, end = self.range_ns()
        whole_before = previous is not None and (start, end) == (previous.start_ns, previous.end_ns)
        if previous is None or whole_before or not (span.start_ns <= start < end <= span.end_ns):
            self.set_range(span.start_ns, span.end_ns)

    def _whole_range(self) -> None:
        if self._span is not None:
            self.set_range(self._span.start_ns, self._span.end_ns)

    def _show_config_path(self, visible: bool) -> None:
        self.config_path.setVisible(visible)
        self.config_browse.setVisible(visible)

    def _reload_config(self) -> None:
        choice = self.config_combo.currentText()
        self._show_config_path(choice == YAML_FILE)
        self._base, self._config_name, self._config_problem = None, None, ""
        try:
            if choice == CURRENT:
                base = self._current_settings
            elif choice == SAFE_LIVE:
                base, self._config_name = load_settings(SAFE_LIVE_PATH), "safe-live"
            else:
                text = self.config_path.text().strip()
                if not text:
                    raise ValueError("choose a YAML settings file")
                base, self._config_name = load_settings(text), Path(text).name
            self._apply_base(base)
        except ConfigError as exc:
            self._config_problem = "\n".join(exc.problems)
        except ValueError as exc:
            self._config_problem = str(exc)
        self._revalidate()

    def _apply_base(self, base: Settings) -> None:
        """Show a config's agents and costs in the form: choosing a config starts from its values."""
        self._base = base
        self._quiet = True
        try:
            for name, check in self.agent_boxes.items():
                check.setChecked(name in base.agents.enabled)
            self.adaptation_off.setChecked(not base.adaptation.enabled)
            self.cash_spin.setValue(base.portfolio.initial_cash)
            self.commission_spin.setValue(base.execution.commission_per_share)
            self.slippage_spin.setValue(base.execution.slippage_bps)
            self.fill_combo.setCurrentIndex(max(0, self.fill_combo.findData(base.execution.fill)))
        finally:
            self._quiet = False

    def _options(self) -> RunOptions:
        return RunOptions(
            agents=tuple(name for name, check in self.agent_boxes.items() if check.isChecked()),
            risk_off=self.risk_off.isChecked(),
            adaptation_off=self.adaptation_off.isChecked(),
            cash=self.cash_spin.value(),
            commission_per_share=self.commission_spin.value(),
            slippage_bps=self.slippage_spin.value(),
            fill=str(self.fill_combo.currentData()),
        )

    def _range_problem(self) -> str:
        if self._span is None:
            return ""
        start, end = self.range_ns()
        return range_problem(self._span, None if self._series is None else self._series.ts, start, end)

    def _revalidate(self) -> None:
        if self._quiet:
            return
        options = self._options()
        problems = {"source": self._source_problem, "range": self._range_problem(),
                    "agents": "" if options.agents else "tick at least one agent",
                    "config": self._config_problem, "settings": ""}
        settings = None
        if self._base is not None and options.agents:
            try:
                settings = build_settings(self._base, options)
            except ConfigError as exc:
                problems["settings"] = "\n".join(exc.problems)
        self.problems = {key: text for key, text in problems.items() if text}
        for key, label in self._errors.items():
            label.setText(problems[key])
            label.setVisible(bool(problems[key]))
        self._request = None
        if not self.problems and settings is not None and self._source is not None and self._span is not None:
            start, end = self.range_ns()
            label = run_label(self._source, options, self._config_name)
            if (start, end) != (self._span.start_ns, self._span.end_ns):
                label += f" · {format_et_minute(start)[:16]} → {format_et_minute(end)[:16]}"
            self._request = RunRequest(label, self._source, settings, start, end, self._series)
        self.changed.emit()


def _edit_ns(edit: QDateTimeEdit) -> int:
    """The edit's wall-clock value read as exchange time."""
    value = edit.dateTime()
    d, t = value.date(), value.time()
    local = datetime(d.year(), d.month(), d.day(), t.hour(), t.minute(), tzinfo=theme.EXCHANGE_TZ)
    return int(local.timestamp()) * 10**9


def _set_edit(edit: QDateTimeEdit, ns: int) -> None:
    local = theme.exchange_time(ns)
    edit.setDateTime(QDateTime(QDate(local.year, local.month, local.day), QTime(local.hour, local.minute)))
