"""The settings dialog: a form generated from engine/config.py, validated as you type.

Every edit rebuilds the settings mapping and runs `engine.config.validate` on it, the same
check a YAML file goes through; each problem is shown in plain words next to its field and
Save/Apply stay disabled until none is left. Fields that differ from the defaults are bold
with a dot, the default in their tooltip.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.theme import LOSS, SOFT_LIMIT, TEXT_DIM
from engine.config import SAFE_LIVE_PATH, ConfigError, Settings, load_settings, save_settings, validate
from engine.persistence.db import STATE_DIR
from widgets.config_fields import FieldEditor, UnparsedInput, make_editor

DEFAULT_SAVE_PATH = STATE_DIR / "user_settings.yaml"
MODIFIED_MARK = "● "


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value


def plain_message(message: str, value: Any) -> str:
    """A pydantic message in a trader's words: "Input should be a valid number" -> "'abc' is not a number"."""
    message = message.removeprefix("wrong type or choice: ")
    if message.startswith("Input should be a valid number"):
        return "a number is required" if value == "" else f"{value!r} is not a number"
    if message.startswith("Input should be a valid integer"):
        return "a whole number is required" if value == "" else f"{value!r} is not a whole number"
    replacements = {"a valid dictionary": "a mapping such as {key: value}", "a valid list": "a list such as [a, b]",
                    "a valid string": "text"}
    for old, new in replacements.items():
        message = message.replace(old, new)
    return message.replace("Input should be ", "must be ")


class ConfigDialog(QDialog):
    """Edit settings; Apply emits `settings_applied(Settings)`, Save… writes YAML."""

    settings_applied = Signal(object)   # Settings

    def __init__(
        self, settings: Settings, defaults: Settings, parent: QWidget | None = None, save_path: str | Path | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.resize(760, 620)
        self._defaults = defaults
        self._default_values = defaults.to_dict()
        self._last_valid = settings
        self._current: Settings | None = settings
        self._save_path = Path(save_path) if save_path is not None else DEFAULT_SAVE_PATH
        self._editors: dict[tuple[str, ...], FieldEditor] = {}
        self._labels: dict[tuple[str, ...], QLabel] = {}
        self._errors: dict[tuple[str, ...], QLabel] = {}
        self._loading = False
        self.problems: dict[str, str] = {}   # field key -> message currently shown

        self.tabs = QTabWidget()
        for name, field in Settings.model_fields.items():
            page = QWidget()
            layout = QVBoxLayout(page)
            self._add_section(layout, (name,), field.annotation)
            layout.addStretch(1)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(page)
            self.tabs.addTab(scroll, name)

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(f"color: {LOSS};")
        self.banner.hide()
        self.apply_status = QLabel()
        self.apply_status.setWordWrap(True)
        self.apply_status.setStyleSheet(f"color: {TEXT_DIM};")

        self.safe_live_button = QPushButton("Safe-live preset")
        self.safe_live_button.setToolTip(f"Load the conservative values of {SAFE_LIVE_PATH.name} into the form")
        self.reset_button = QPushButton("Reset to defaults")
        self.save_button = QPushButton("Save…")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setDefault(True)
        close_button = QPushButton("Close")
        self.safe_live_button.clicked.connect(self.load_safe_live)
        self.reset_button.clicked.connect(lambda: self.show_settings(self._defaults))
        self.save_button.clicked.connect(self._ask_and_save)
        self.apply_button.clicked.connect(self.apply)
        close_button.clicked.connect(self.reject)

        buttons = QHBoxLayout()
        for button in (self.safe_live_button, self.reset_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.save_button, self.apply_button, close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.banner)
        layout.addWidget(self.apply_status)
        layout.addLayout(buttons)

        self.show_settings(settings)

    # -- building the form -------------------------------------------------------------------

    def _add_section(self, layout: QVBoxLayout, path: tuple[str, ...], model: type[BaseModel]) -> None:
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        layout.addLayout(grid)
        nested: list[tuple[str, type[BaseModel]]] = []
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                nested.append((name, annotation))
                continue
            field_path = path + (name,)
            editor = make_editor(field_path, field, self._revalidate)
            label = QLabel(name)
            error = QLabel()
            error.setWordWrap(True)
            error.setStyleSheet(f"color: {LOSS};")
            error.hide()
            row = grid.rowCount()
            grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(editor.widget, row, 1, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(error, row, 2, Qt.AlignmentFlag.AlignTop)
            tip = f"{'.'.join(field_path)}: {editor.hint()}\ndefault: {_get(self._default_values, field_path)!r}"
            label.setToolTip(tip)
            editor.widget.setToolTip(tip)
            self._editors[field_path] = editor
            self._labels[field_path] = label
            self._errors[field_path] = error
        for name, sub_model in nested:
            box = QGroupBox(name)
            box_layout = QVBoxLayout(box)
            self._add_section(box_layout, path + (name,), sub_model)
            layout.addWidget(box)

    # -- public API --------------------------------------------------------------------------

    def show_settings(self, settings: Settings) -> None:
        """Put `settings` into the form (presets, reset) and revalidate once."""
        values = settings.to_dict()
        self._loading = True
        try:
            for path, editor in self._editors.items():
                editor.set_value(_get(values, path))
        finally:
            self._loading = False
        self._revalidate()

    def load_safe_live(self) -> None:
        try:
            self.show_settings(load_settings(SAFE_LIVE_PATH))
        except ConfigError as exc:
            self.set_apply_status(f"cannot load the safe-live preset: {'; '.join(exc.problems)}")

    def current_settings(self) -> Settings | None:
        """The settings in the form, or None while any field is invalid."""
        return self._current

    def editor(self, key: str) -> FieldEditor:
        """The editor of a dotted key such as 'risk.soft_drawdown'."""
        return self._editors[tuple(key.split("."))]

    def error_text(self, key: str) -> str:
        """The message shown next to a field ('' when it is valid)."""
        label = self._errors[tuple(key.split("."))]
        return label.text() if not label.isHidden() else ""

    def is_marked_modified(self, key: str) -> bool:
        return self._labels[tuple(key.split("."))].text().startswith(MODIFIED_MARK)

    def apply(self) -> None:
        settings = self.current_settings()
        if settings is not None:
            self.set_apply_status("applying…")
            self.settings_applied.emit(settings)

    def set_apply_status(self, text: str) -> None:
        """Show what the engine reports, e.g. 'applied at bar 10:31' or 'restart needed for: data.symbol'."""
        self.apply_status.setText(text)

    def save_to(self, path: str | Path) -> bool:
        """Write the form's settings as YAML to `path`; False (with the reason shown) if it cannot."""
        settings = self.current_settings()
        if settings is None:
            return False
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            save_settings(settings, target)
        except OSError as exc:
            self.set_apply_status(f"could not save to {target}: {exc.strerror or exc}")
            return False
        self._save_path = target
        self.set_apply_status(f"saved to {target}")
        return True

    # -- validation --------------------------------------------------------------------------

    def _ask_and_save(self) -> None:
        chosen, _filter = QFileDialog.getSaveFileName(self, "Save settings", str(self._save_path), "YAML (*.yaml *.yml)")
        if chosen:
            self.save_to(chosen)

    def _revalidate(self) -> None:
        if self._loading:
            return
        problems: dict[tuple[str, ...], list[str]] = {}
        data: dict[str, Any] = {}
        fallback = self._last_valid.to_dict()
        for path, editor in self._editors.items():
            try:
                value = editor.value()
            except UnparsedInput as exc:
                problems.setdefault(path, []).append(str(exc))
                value = _get(fallback, path)   # keep the rest of the form checkable
            _put(data, path, value)
        unplaced: list[str] = []
        try:
            settings = validate(data)
        except ConfigError as exc:
            for problem in exc.problems:
                for path, message in self._locate(problem, data):
                    if path is None:
                        unplaced.append(message)
                    else:
                        problems.setdefault(path, []).append(message)
        else:
            if not problems:
                self._last_valid = settings
        self._current = self._last_valid if not problems and not unplaced else None
        self._show_problems(problems, unplaced)
        self._mark_modified(data)

    def _locate(self, problem: str, data: dict[str, Any]) -> list[tuple[tuple[str, ...] | None, str]]:
        """Map one `validate` problem line back to the field(s) it is about, with a plain message."""
        text = problem.removeprefix("settings: ")
        unknown = re.match(r"unknown key '([^']+)'", text)
        if unknown:
            loc = tuple(unknown.group(1).split("."))
            message = f"unknown key {loc[-1]!r}"
        else:
            key, _, rest = text.partition(" = ")
            loc = tuple(key.split("."))
            if loc[-1] == "[key]":
                loc = loc[:-1]
                value: Any = loc[-1]
                prefix = "not an allowed key; "
            else:
                value = _get(data, loc)
                prefix = ""
            raw = rest.removeprefix(f"{value!r}: ")
            message = prefix + plain_message(raw, value)
        for depth in range(len(loc), 0, -1):
            if loc[:depth] in self._editors:
                inner = loc[depth:]
                return [(loc[:depth], f"{'.'.join(inner)}: {message}" if inner else message)]
        # A rule over a whole section: show it next to every field it names.
        named = [path for path in self._editors if path[:-1] == loc and re.search(rf"\b{path[-1]}\b", message)]
        return [(path, message) for path in named] or [(None, f"{'.'.join(loc)}: {message}")]

    def _show_problems(self, problems: dict[tuple[str, ...], list[str]], unplaced: list[str]) -> None:
        # Widgets are touched only when their state changes: a keystroke then costs a few Qt calls.
        self.problems = {".".join(path): "; ".join(messages) for path, messages in problems.items()}
        for path, label in self._errors.items():
            text = self.problems.get(".".join(path), "")
            if label.text() != text:
                label.setText(text)
                label.setVisible(bool(text))
        bad_sections = {path[0] for path in problems}
        for index, name in enumerate(Settings.model_fields):
            title = f"{name} ⚠" if name in bad_sections else name
            if self.tabs.tabText(index) != title:
                self.tabs.setTabText(index, title)
        count = len(self.problems) + len(unplaced)
        banner = (f"{count} problem{'s' if count > 1 else ''} to fix before saving or applying"
                  + "".join(f"\n{m}" for m in unplaced)) if count else ""
        if self.banner.text() != banner:
            self.banner.setText(banner)
            self.banner.setVisible(bool(count))
        valid = count == 0
        if self.apply_button.isEnabled() != valid:
            self.save_button.setEnabled(valid)
            self.apply_button.setEnabled(valid)

    def _mark_modified(self, data: dict[str, Any]) -> None:
        for path, label in self._labels.items():
            modified = _get(data, path) != _get(self._default_values, path)
            text = f"{MODIFIED_MARK}{path[-1]}" if modified else path[-1]
            if label.text() != text:
                label.setText(text)
                label.setStyleSheet(f"color: {SOFT_LIMIT}; font-weight: bold;" if modified else "")
