"""The workstation's look: dark palette, one colour per regime and per agent, number formats.

Every pane takes its colours and formats from here, so a regime or an agent has the same
colour everywhere and money always reads the same way.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from engine.regime.regime import Regime

EXCHANGE_TZ = ZoneInfo("America/New_York")
EXCHANGE_TZ_LABEL = "ET"

BACKGROUND = "#131722"
PANEL = "#1e222d"
BORDER = "#2a2e39"
TEXT = "#d1d4dc"
TEXT_DIM = "#8a8f98"
# Grid lines only on the static category charts: on the live charts the software
# rasteriser spent 15-60 ms a frame on them (measured offscreen).
GRID_ALPHA = 0.15
# Linked time charts line up bar for bar only if their value axes are equally wide.
VALUE_AXIS_WIDTH = 78

WIN = "#26a69a"
LOSS = "#ef5350"
UP_CANDLE = WIN
DOWN_CANDLE = LOSS
ENTRY_MARK = "#e0e3eb"
BULLISH_GAP = QColor(38, 166, 154, 45)
BEARISH_GAP = QColor(239, 83, 80, 45)
EQUITY_LINE = "#4fc3f7"
DRAWDOWN_FILL = QColor(239, 83, 80, 90)
SOFT_LIMIT = "#f0a030"
HARD_LIMIT = "#ef5350"
KILL_RED = "#d32f2f"
REDUCING_AMBER = "#c98a00"
ERROR_BANNER = "#8e1b1b"

REGIME_COLORS: dict[Regime, str] = {
    Regime.TREND: "#3d8bfd",
    Regime.MEAN_REVERSION: "#b57edc",
    Regime.COMPRESSION: "#7d8590",
    Regime.EXPANSION: "#f0a030",
}

# Distinct from the regime colours and from win/loss, so an agent is never read as a regime.
_KNOWN_AGENTS: dict[str, str] = {
    "trend": "#2ec4b6",
    "mean_reversion": "#ff6f91",
    "volatility": "#ffd166",
    "fvg": "#e07a5f",
}
_SPARE_AGENT_COLORS = ("#81b29a", "#a0c4ff", "#f2cc8f", "#d4a5a5", "#9d8df1", "#c0ca33")
_assigned_agents: dict[str, str] = dict(_KNOWN_AGENTS)


def regime_color(regime: int | Regime, alpha: int = 255) -> QColor:
    try:
        base = REGIME_COLORS[Regime(int(regime))]
    except ValueError:
        codes = ", ".join(f"{int(r)}={r.label}" for r in Regime)
        raise ValueError(f"unknown regime code {regime!r}; expected one of {codes}") from None
    color = QColor(base)
    color.setAlpha(alpha)
    return color


def mix(color: QColor, background: str, weight: float) -> QColor:
    """The opaque colour of `color` painted at opacity `weight` over `background`."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"mix weight = {weight!r}; expected a fraction in [0, 1]")
    back = QColor(background)
    return QColor(*(round(weight * a + (1.0 - weight) * b) for a, b in
                    ((color.red(), back.red()), (color.green(), back.green()),
                     (color.blue(), back.blue()))))


def regime_label(regime: int | Regime) -> str:
    return Regime(int(regime)).label.replace("_", " ")


_SHORT_REGIME_LABELS = {Regime.TREND: "trend", Regime.MEAN_REVERSION: "m-rev",
                        Regime.COMPRESSION: "compr", Regime.EXPANSION: "expan"}


def regime_short_label(regime: int | Regime) -> str:
    """For narrow category axes; the legend and read-outs use the full label."""
    return _SHORT_REGIME_LABELS[Regime(int(regime))]


def agent_color(agent: str) -> QColor:
    """The agent's colour: fixed for the built-in agents, first-come for user agents."""
    if agent not in _assigned_agents:
        taken = len(_assigned_agents) - len(_KNOWN_AGENTS)
        _assigned_agents[agent] = _SPARE_AGENT_COLORS[taken % len(_SPARE_AGENT_COLORS)]
    return QColor(_assigned_agents[agent])


def format_money(value: float) -> str:
    return f"{value:,.2f}"


def format_signed_money(value: float) -> str:
    return f"{value:+,.2f}"


def format_pct(fraction: float, digits: int = 2) -> str:
    """A fraction as a signed percentage: 0.0043 -> '+0.43%'."""
    return f"{fraction * 100:+.{digits}f}%"


def exchange_time(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc).astimezone(EXCHANGE_TZ)


def format_time_et(ts_ns: int, with_date: bool = False) -> str:
    """A bar time in exchange time; "—" for 0, the engine's time before its first bar."""
    if ts_ns == 0:
        return "—"
    pattern = "%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S"
    return f"{exchange_time(ts_ns).strftime(pattern)} {EXCHANGE_TZ_LABEL}"


_STYLESHEET = f"""
QMainWindow, QDialog {{ background: {BACKGROUND}; }}
QWidget {{ color: {TEXT}; }}
QDockWidget {{ font-weight: bold; titlebar-close-icon: none; }}
QDockWidget::title {{ background: {PANEL}; padding: 3px 6px; border-bottom: 1px solid {BORDER}; }}
QToolBar {{ background: {PANEL}; border-bottom: 1px solid {BORDER}; spacing: 6px; padding: 3px; }}
QTableView {{ background: {BACKGROUND}; alternate-background-color: {PANEL};
              gridline-color: {BORDER}; selection-background-color: #2962ff; }}
QHeaderView::section {{ background: {PANEL}; color: {TEXT}; border: 0; padding: 3px 6px;
                        border-right: 1px solid {BORDER}; }}
QComboBox, QPushButton {{ background: {PANEL}; border: 1px solid {BORDER}; padding: 3px 8px; }}
QPushButton#killSwitch {{ background: {KILL_RED}; color: white; font-weight: bold;
                          font-size: 13px; padding: 6px 16px; border: 1px solid #ff8a80; }}
QPushButton#killSwitch:hover {{ background: #f44336; }}
QFrame#errorBanner {{ background: {ERROR_BANNER}; border-bottom: 1px solid #ff8a80; }}
QStatusBar {{ background: {PANEL}; border-top: 1px solid {BORDER}; }}
QStatusBar QLabel {{ padding: 0 4px; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    """Dark palette for Qt widgets and matching pyqtgraph defaults (before plots are built)."""
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BACKGROUND,
        QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: PANEL,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Highlight: "#2962ff",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: TEXT_DIM,
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(TEXT_DIM))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(TEXT_DIM))
    app.setPalette(palette)
    app.setStyleSheet(_STYLESHEET)
    configure_pyqtgraph()


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(background=BACKGROUND, foreground=TEXT, antialias=False)
