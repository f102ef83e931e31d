"""The burn-in checklist: its template and the rules that tick items from live state.

The template (resources/checklist.yaml) lists items a trader ticks before the open, at mid-day
and after the close. An item may name an `auto` rule: a pure function of `LiveFacts` that
returns a `Verdict` (ticked or not, and why) or None when the facts cannot tell.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.observability.red_flags import DEFAULT_DOMINANCE_WEIGHT, DEFAULT_NO_TRADE_LIMIT

TEMPLATE_PATH = Path(__file__).resolve().parent.parent.parent / "resources" / "checklist.yaml"

# STATUS.md asks to look at weight changes above 5 %.
WEIGHT_CHANGE_LIMIT = 0.05


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    id: str
    section: str
    text: str
    auto: str | None = None


@dataclass(frozen=True, slots=True)
class ChecklistTemplate:
    sections: tuple[tuple[str, str], ...]   # (id, title) in display order
    items: tuple[ChecklistItem, ...]

    def section_title(self, section: str) -> str:
        return dict(self.sections)[section]


@dataclass(frozen=True, slots=True)
class LiveFacts:
    """The live state the auto rules judge; the app fills it from the engine."""

    trading_state: str              # "ACTIVE" | "REDUCING" | "HALTED"
    engine_running: bool
    feed_connected: bool
    broker_connected: bool
    circuit_breaker_today: bool
    daily_loss_hit: bool
    hard_drawdown_hit: bool
    drawdown: float                 # fraction <= 0
    soft_drawdown: float            # the limit, a positive fraction
    day_pnl_pct: float              # fraction
    daily_loss_limit: float         # the limit, a positive fraction
    max_weight_change: float        # largest change of one weight today, absolute
    top_agent_weight: float
    high_conf_no_trades: int        # today
    positions_match_broker: bool | None = None   # None until a reconciliation has run


@dataclass(frozen=True, slots=True)
class Verdict:
    checked: bool
    note: str


AutoRule = Callable[[LiveFacts], Verdict | None]


def _engine_running(f: LiveFacts) -> Verdict:
    ok = f.engine_running and f.feed_connected
    return Verdict(ok, f"engine {'running' if f.engine_running else 'stopped'}, "
                       f"feed {'connected' if f.feed_connected else 'disconnected'}")


def _broker_connected(f: LiveFacts) -> Verdict:
    return Verdict(f.broker_connected, "broker connected" if f.broker_connected else "broker disconnected")


def _risk_active(f: LiveFacts) -> Verdict:
    return Verdict(f.trading_state == "ACTIVE", f"risk state {f.trading_state}")


def _no_circuit_breaker(f: LiveFacts) -> Verdict:
    return Verdict(not f.circuit_breaker_today,
                   "circuit breaker tripped today" if f.circuit_breaker_today else "no circuit breaker today")


def _daily_loss_under_limit(f: LiveFacts) -> Verdict:
    ok = not f.daily_loss_hit and f.day_pnl_pct > -f.daily_loss_limit
    return Verdict(ok, f"day {f.day_pnl_pct:+.2%} (limit {-f.daily_loss_limit:+.2%})")


def _hard_drawdown_clear(f: LiveFacts) -> Verdict:
    return Verdict(not f.hard_drawdown_hit,
                   "hard drawdown limit hit" if f.hard_drawdown_hit else f"drawdown {f.drawdown:+.2%}")


def _drawdown_under_soft(f: LiveFacts) -> Verdict:
    return Verdict(f.drawdown > -f.soft_drawdown, f"drawdown {f.drawdown:+.2%} (soft limit {-f.soft_drawdown:+.2%})")


def _positions_match_broker(f: LiveFacts) -> Verdict | None:
    if f.positions_match_broker is None:
        return None
    return Verdict(f.positions_match_broker,
                   "positions match the broker" if f.positions_match_broker else "positions differ from the broker")


def _weight_changes_small(f: LiveFacts) -> Verdict:
    return Verdict(f.max_weight_change < WEIGHT_CHANGE_LIMIT,
                   f"largest weight change {f.max_weight_change:.1%} (limit {WEIGHT_CHANGE_LIMIT:.0%})")


def _no_agent_dominating(f: LiveFacts) -> Verdict:
    return Verdict(f.top_agent_weight <= DEFAULT_DOMINANCE_WEIGHT,
                   f"top agent weight {f.top_agent_weight:.2f} (limit {DEFAULT_DOMINANCE_WEIGHT:.2f})")


def _few_high_conf_no_trades(f: LiveFacts) -> Verdict:
    return Verdict(f.high_conf_no_trades <= DEFAULT_NO_TRADE_LIMIT,
                   f"{f.high_conf_no_trades} high-confidence no-trades today (limit {DEFAULT_NO_TRADE_LIMIT})")


AUTO_RULES: Mapping[str, AutoRule] = {
    "engine_running": _engine_running,
    "broker_connected": _broker_connected,
    "risk_active": _risk_active,
    "no_circuit_breaker_today": _no_circuit_breaker,
    "daily_loss_under_limit": _daily_loss_under_limit,
    "hard_drawdown_clear": _hard_drawdown_clear,
    "drawdown_under_soft": _drawdown_under_soft,
    "positions_match_broker": _positions_match_broker,
    "weight_changes_small": _weight_changes_small,
    "no_agent_dominating": _no_agent_dominating,
    "few_high_conf_no_trades": _few_high_conf_no_trades,
}


def judge(items: tuple[ChecklistItem, ...], facts: LiveFacts) -> dict[str, Verdict]:
    """Verdicts of every auto item the facts can decide, by item id."""
    verdicts: dict[str, Verdict] = {}
    for item in items:
        if item.auto is None:
            continue
        verdict = AUTO_RULES[item.auto](facts)
        if verdict is not None:
            verdicts[item.id] = verdict
    return verdicts


def load_checklist_template(path: str | Path = TEMPLATE_PATH) -> ChecklistTemplate:
    """Read and check a checklist template; every problem names the file, the item and the value."""
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{source}: cannot read checklist template: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: malformed YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("sections"), dict) or not isinstance(data.get("items"), list):
        raise ValueError(f"{source}: expected a mapping with 'sections' (id: title) and 'items' (a list)")
    sections = tuple((str(k), str(v)) for k, v in data["sections"].items())
    section_ids = {s for s, _ in sections}
    items = tuple(_item(source, i, raw, section_ids) for i, raw in enumerate(data["items"], start=1))
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"{source}: item id {item.id!r} appears more than once; ids must be unique")
        seen.add(item.id)
    return ChecklistTemplate(sections, items)


def _item(source: Path, index: int, raw: Any, section_ids: set[str]) -> ChecklistItem:
    where = f"{source}: item {index}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping with id, section, text (and optionally auto), got {raw!r}")
    unknown = set(raw) - {"id", "section", "text", "auto"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: id, section, text, auto")
    for key in ("id", "section", "text"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ValueError(f"{where}: '{key}' must be a non-empty text, got {raw.get(key)!r}")
    if raw["section"] not in section_ids:
        raise ValueError(f"{where}: section {raw['section']!r} is not one of {sorted(section_ids)}")
    auto = raw.get("auto")
    if auto is not None and auto not in AUTO_RULES:
        raise ValueError(f"{where}: auto rule {auto!r} is unknown; known rules: {', '.join(sorted(AUTO_RULES))}")
    return ChecklistItem(raw["id"], raw["section"], raw["text"], auto)
