"""One editor per settings field, chosen from the field's pydantic annotation.

Editors hand back what the user typed in the form YAML would give (numbers parsed, text left
as text), so the dialog can validate it with the very rules the YAML loader uses. A number
field that holds "abc" returns "abc" and validation reports it; only a YAML text field that
does not parse has its own error, since there is no value to validate.
"""
from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
import yaml
from pydantic.fields import FieldInfo
from PySide6.QtCore import QSignalBlocker
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QPlainTextEdit, QWidget


class UnparsedInput(ValueError):
    """The text of a field cannot be read at all (malformed YAML)."""


class FieldEditor:
    """Base: a widget for one settings leaf at `path`, calling `on_change` on every edit."""

    widget: QWidget

    def __init__(self, path: tuple[str, ...], on_change: Callable[[], None]) -> None:
        self.path = path
        self._on_change = on_change

    @property
    def key(self) -> str:
        return ".".join(self.path)

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        with QSignalBlocker(self.widget):
            self._show(value)

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    def hint(self) -> str:
        """What the field accepts, for its tooltip."""
        return ""


class BoolEditor(FieldEditor):
    def __init__(self, path: tuple[str, ...], on_change: Callable[[], None]) -> None:
        super().__init__(path, on_change)
        self.widget = QCheckBox()
        self.widget.toggled.connect(lambda _checked: self._on_change())

    def value(self) -> bool:
        return self.widget.isChecked()

    def _show(self, value: Any) -> None:
        self.widget.setChecked(bool(value))

    def hint(self) -> str:
        return "on or off"


class ChoiceEditor(FieldEditor):
    def __init__(self, path: tuple[str, ...], on_change: Callable[[], None], choices: tuple[str, ...]) -> None:
        super().__init__(path, on_change)
        self.widget = QComboBox()
        self.widget.addItems(list(choices))
        self.widget.currentIndexChanged.connect(lambda _index: self._on_change())
        self._choices = choices

    def value(self) -> str:
        return self.widget.currentText()

    def _show(self, value: Any) -> None:
        self.widget.setCurrentIndex(self._choices.index(value))

    def hint(self) -> str:
        return "one of " + ", ".join(self._choices)


class NumberEditor(FieldEditor):
    def __init__(
        self, path: tuple[str, ...], on_change: Callable[[], None], kind: type, optional: bool, bounds: str
    ) -> None:
        super().__init__(path, on_change)
        self.widget = QLineEdit()
        self.widget.setPlaceholderText("empty = none" if optional else bounds)
        self.widget.textChanged.connect(lambda _text: self._on_change())
        self._kind = kind
        self._optional = optional
        self._bounds = bounds

    def value(self) -> Any:
        text = self.widget.text().strip()
        if text == "" and self._optional:
            return None
        for parse in ((int, float) if self._kind is int else (float,)):
            try:
                return parse(text)
            except ValueError:
                continue
        return text   # not a number: validation names it

    def _show(self, value: Any) -> None:
        self.widget.setText("" if value is None else repr(value))

    def hint(self) -> str:
        kind = "whole number" if self._kind is int else "number"
        parts = [kind] + ([self._bounds] if self._bounds else []) + (["empty for none"] if self._optional else [])
        return ", ".join(parts)


class TextEditor(FieldEditor):
    def __init__(self, path: tuple[str, ...], on_change: Callable[[], None]) -> None:
        super().__init__(path, on_change)
        self.widget = QLineEdit()
        self.widget.textChanged.connect(lambda _text: self._on_change())

    def value(self) -> str:
        return self.widget.text()

    def _show(self, value: Any) -> None:
        self.widget.setText(str(value))

    def hint(self) -> str:
        return "text"


class YamlEditor(FieldEditor):
    """Lists and mappings, edited as YAML in flow style: [a, b] or {key: value}."""

    def __init__(self, path: tuple[str, ...], on_change: Callable[[], None]) -> None:
        super().__init__(path, on_change)
        self.widget = QPlainTextEdit()
        self.widget.setTabChangesFocus(True)
        self.widget.setFixedHeight(QFontMetrics(self.widget.font()).lineSpacing() * 3 + 12)
        self.widget.textChanged.connect(self._on_change)

    def value(self) -> Any:
        try:
            return yaml.safe_load(self.widget.toPlainText())
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise UnparsedInput(f"malformed YAML: {problem}") from None

    def _show(self, value: Any) -> None:
        self.widget.setPlainText(yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=80).strip())

    def hint(self) -> str:
        return "YAML, e.g. [a, b] or {key: value}"


def bounds_text(field: FieldInfo) -> str:
    """The numeric bounds pydantic will enforce, e.g. '> 0 and ≤ 1'."""
    symbols = ((at.Gt, "gt", ">"), (at.Ge, "ge", "≥"), (at.Lt, "lt", "<"), (at.Le, "le", "≤"))
    parts = [f"{sign} {getattr(m, attr):g}" for m in field.metadata for cls, attr, sign in symbols if isinstance(m, cls)]
    return " and ".join(parts)


def make_editor(path: tuple[str, ...], field: FieldInfo, on_change: Callable[[], None]) -> FieldEditor:
    """The editor that suits a leaf field's annotation."""
    annotation = field.annotation
    args = get_args(annotation)
    optional = get_origin(annotation) in (Union, types.UnionType) and type(None) in args
    base = next(a for a in args if a is not type(None)) if optional else annotation
    if base is bool:
        return BoolEditor(path, on_change)
    if get_origin(base) is Literal:
        return ChoiceEditor(path, on_change, tuple(str(a) for a in get_args(base)))
    if base in (int, float):
        return NumberEditor(path, on_change, base, optional, bounds_text(field))
    if base is str:
        return TextEditor(path, on_change)
    return YamlEditor(path, on_change)
