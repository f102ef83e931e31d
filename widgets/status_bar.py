"""The status line: mode · broker · connection · trading state · equity · day PnL · drawdown · time.

HALTED turns the whole bar red and says so in capitals; REDUCING turns it amber.
"""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget

from app import theme
from app.snapshot import Status

TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")
_STATE_STYLE = {
    "ACTIVE": "",
    "REDUCING": f"QStatusBar {{ background: {theme.REDUCING_AMBER}; }} "
                "QStatusBar QLabel { color: black; font-weight: bold; }",
    "HALTED": f"QStatusBar {{ background: {theme.KILL_RED}; }} "
              "QStatusBar QLabel { color: white; font-weight: bold; }",
}
_FIELDS = ("mode", "broker", "connection", "state", "equity", "day", "drawdown", "time")
_MIN_WIDTH = {"equity": 150, "day": 190, "drawdown": 80, "time": 90}


class TradingStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.labels: dict[str, QLabel] = {}
        for i, name in enumerate(_FIELDS):
            if i:
                self.addWidget(QLabel("·"))
            label = QLabel("—")
            # A fixed size: a QLabel of any other size re-lays out the whole window each time
            # its text changes (many times a second here). It only ever widens, and rarely.
            hint = label.sizeHint()
            label.setFixedSize(max(_MIN_WIDTH.get(name, 0), hint.width()), hint.height())
            label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            label.setObjectName(f"status_{name}")
            self.labels[name] = label
            self.addWidget(label)
        self.labels["state"].setToolTip("trading state: ACTIVE, REDUCING (smaller size) or "
                                        "HALTED (kill switch; no new orders)")
        self.trading_state = ""

    def set_status(self, status: Status) -> None:
        if status.trading_state not in TRADING_STATES:
            raise ValueError(f"status.trading_state = {status.trading_state!r}; "
                             f"expected one of {', '.join(TRADING_STATES)}")
        values = {
            "mode": status.mode.upper(),
            "broker": status.broker,
            "connection": "connected" if status.connected else "DISCONNECTED",
            "state": status.trading_state,
            "equity": f"equity {theme.format_money(status.equity)}",
            "day": f"day {theme.format_signed_money(status.day_pnl)} "
                   f"({theme.format_pct(status.day_pnl_pct)})",
            "drawdown": f"dd {theme.format_pct(status.drawdown, 1)}",
            "time": theme.format_time_et(status.ts),
        }
        restyled = status.trading_state != self.trading_state
        if restyled:
            self.trading_state = status.trading_state
            self.setStyleSheet(_STATE_STYLE[status.trading_state])
        for name, text in values.items():
            label = self.labels[name]
            if label.text() != text or restyled:
                label.setText(text)
                _fit_width(label)

    def text(self) -> str:
        """The whole line as shown, for logs and tests."""
        return " · ".join(self.labels[name].text() for name in _FIELDS)


def _fit_width(label: QLabel) -> None:
    # Bold under REDUCING and HALTED: measure as the label is styled now.
    needed = label.sizeHint().width()
    if needed > label.width():
        label.setFixedWidth(needed)
