"""After the kill switch: what it did, and the deliberate step back to trading.

Halting is one click on the main window's red button, with no question asked. Re-arming is
the opposite: `RearmDialog` shows why and when trading stopped and what the kill did, and only
re-arms after the trader types REARM and presses a button of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.theme import EXCHANGE_TZ, EXCHANGE_TZ_LABEL, KILL_RED, TEXT_DIM

CONFIRM_WORD = "REARM"


@dataclass(frozen=True, slots=True)
class KillSummary:
    """What a kill did: when, why, and which orders and positions it closed."""

    halted_at: datetime                                   # tz-aware
    reason: str                                           # e.g. "manual kill switch", "hard drawdown -15.2 %"
    orders_cancelled: int
    positions_flattened: tuple[tuple[str, float], ...]    # (symbol, quantity closed, signed)

    def __post_init__(self) -> None:
        if self.halted_at.tzinfo is None:
            raise ValueError(f"KillSummary.halted_at must be tz-aware, got naive {self.halted_at.isoformat()}")
        if self.orders_cancelled < 0:
            raise ValueError(f"KillSummary.orders_cancelled must be >= 0, got {self.orders_cancelled}")

    def text(self) -> str:
        """'Halted 2025-01-02 10:31:02 ET: manual kill switch. 2 orders cancelled; flattened QQQ +100.'"""
        when = self.halted_at.astimezone(EXCHANGE_TZ).strftime("%Y-%m-%d %H:%M:%S")
        orders = f"{self.orders_cancelled} order{'s' if self.orders_cancelled != 1 else ''} cancelled"
        if self.positions_flattened:
            closed = ", ".join(f"{symbol} {qty:+,g}" for symbol, qty in self.positions_flattened)
            positions = f"flattened {closed}"
        else:
            positions = "no positions flattened"
        return f"Halted {when} {EXCHANGE_TZ_LABEL}: {self.reason}. {orders}; {positions}."


class RearmDialog(QDialog):
    """Confirm re-arming after HALTED; the flatten-on-kill choice can be changed here too."""

    rearm_confirmed = Signal()
    flatten_choice_changed = Signal(bool)

    def __init__(self, summary: KillSummary, flatten_on_kill: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Trading halted")
        self.setMinimumWidth(440)
        title = QLabel("TRADING HALTED")
        title.setStyleSheet(f"color: white; background: {KILL_RED}; font-weight: bold; padding: 6px;")
        self.summary_label = QLabel(summary.text())
        self.summary_label.setWordWrap(True)

        self.flatten_box = QCheckBox("Flatten positions on kill")
        self.flatten_box.setChecked(flatten_on_kill)
        self.flatten_box.setToolTip("When the kill switch is pressed, also close every open position at market")
        self.flatten_box.toggled.connect(self.flatten_choice_changed)

        prompt = QLabel(f"To resume trading, type {CONFIRM_WORD} and press “Re-arm trading”.")
        prompt.setWordWrap(True)
        prompt.setStyleSheet(f"color: {TEXT_DIM};")
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setPlaceholderText(CONFIRM_WORD)
        self.confirm_edit.textChanged.connect(self._update_button)
        self.rearm_button = QPushButton("Re-arm trading")
        self.rearm_button.setAutoDefault(False)
        self.rearm_button.clicked.connect(self.try_rearm)
        stay = QPushButton("Stay halted")
        stay.setDefault(True)   # Enter keeps trading stopped
        stay.clicked.connect(self.reject)

        buttons = QHBoxLayout()
        buttons.addWidget(self.rearm_button)
        buttons.addStretch(1)
        buttons.addWidget(stay)
        layout = QVBoxLayout(self)
        for widget in (title, self.summary_label, self.flatten_box, prompt, self.confirm_edit):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        self._update_button()

    def confirmed(self) -> bool:
        return self.confirm_edit.text().strip() == CONFIRM_WORD

    def try_rearm(self) -> bool:
        """Re-arm if the confirmation word was typed; otherwise refuse and return False."""
        if not self.confirmed():
            self.confirm_edit.setFocus()
            return False
        self.rearm_confirmed.emit()
        self.accept()
        return True

    def _update_button(self) -> None:
        self.rearm_button.setEnabled(self.confirmed())
