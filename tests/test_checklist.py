"""Burn-in checklist: template, auto rules, the SQLite store across restarts, and the panel."""
from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.observability.checklist_rules import (
    AUTO_RULES,
    LiveFacts,
    Verdict,
    judge,
    load_checklist_template,
)
from engine.observability.red_flags import Alert, RedFlag, Severity
from engine.persistence.checklist import ChecklistStore, DayRecord
from engine.persistence.db import Database, PersistenceError

TEMPLATE = load_checklist_template()
DAY1, DAY2, DAY3 = date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 6)

HEALTHY = LiveFacts(
    trading_state="ACTIVE", engine_running=True, feed_connected=True, broker_connected=True,
    circuit_breaker_today=False, daily_loss_hit=False, hard_drawdown_hit=False,
    drawdown=-0.012, soft_drawdown=0.10, day_pnl_pct=0.0043, daily_loss_limit=0.03,
    max_weight_change=0.02, top_agent_weight=0.41, high_conf_no_trades=1, positions_match_broker=True,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 2, 14, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def open_store(path: Path, clock: Clock | None = None) -> ChecklistStore:
    return ChecklistStore(Database(path), TEMPLATE, clock or Clock())


# -- template ---------------------------------------------------------------------------------

def test_template_has_the_three_daily_sections_with_unique_ids_and_known_rules() -> None:
    assert [s for s, _ in TEMPLATE.sections] == ["pre_market", "mid_day", "end_of_day"]
    ids = [item.id for item in TEMPLATE.items]
    assert len(ids) == len(set(ids))
    assert {item.section for item in TEMPLATE.items} == {"pre_market", "mid_day", "end_of_day"}
    assert all(item.auto in AUTO_RULES for item in TEMPLATE.items if item.auto)
    assert any(item.auto is None for item in TEMPLATE.items)   # some things only a trader can judge


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ("- {id: a, section: pre, text: x, auto: nope}", "auto rule 'nope' is unknown"),
        ("- {id: a, section: pre, text: x}\n- {id: a, section: pre, text: y}", "'a' appears more than once"),
        ("- {id: a, section: lunch, text: x}", "section 'lunch' is not one of"),
        ("- {id: a, section: pre, text: ''}", "'text' must be a non-empty text"),
        ("- {id: a, section: pre, text: x, colour: red}", "unknown keys ['colour']"),
    ],
)
def test_a_bad_template_is_refused_naming_the_file_and_the_value(tmp_path: Path, items: str, message: str) -> None:
    path = tmp_path / "checklist.yaml"
    path.write_text(f"sections: {{pre: Pre-market}}\nitems:\n{items}\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_checklist_template(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


# -- auto rules -------------------------------------------------------------------------------

def test_healthy_live_state_ticks_every_auto_item() -> None:
    verdicts = judge(TEMPLATE.items, HEALTHY)
    assert set(verdicts) == {item.id for item in TEMPLATE.items if item.auto}
    assert all(v.checked for v in verdicts.values())


@pytest.mark.parametrize(
    ("change", "rule", "note"),
    [
        ({"feed_connected": False}, "engine_running", "feed disconnected"),
        ({"trading_state": "HALTED"}, "risk_active", "risk state HALTED"),
        ({"circuit_breaker_today": True}, "no_circuit_breaker_today", "circuit breaker tripped today"),
        ({"day_pnl_pct": -0.031}, "daily_loss_under_limit", "day -3.10% (limit -3.00%)"),
        ({"daily_loss_hit": True}, "daily_loss_under_limit", "day +0.43%"),
        ({"hard_drawdown_hit": True}, "hard_drawdown_clear", "hard drawdown limit hit"),
        ({"drawdown": -0.10}, "drawdown_under_soft", "drawdown -10.00% (soft limit -10.00%)"),
        ({"max_weight_change": 0.05}, "weight_changes_small", "largest weight change 5.0% (limit 5%)"),
        ({"top_agent_weight": 0.61}, "no_agent_dominating", "top agent weight 0.61"),
        ({"high_conf_no_trades": 11}, "few_high_conf_no_trades", "11 high-confidence no-trades"),
        ({"positions_match_broker": False}, "positions_match_broker", "positions differ"),
        ({"broker_connected": False}, "broker_connected", "broker disconnected"),
    ],
)
def test_each_auto_rule_unticks_on_its_bad_fact(change: dict[str, object], rule: str, note: str) -> None:
    verdict = AUTO_RULES[rule](replace(HEALTHY, **change))  # type: ignore[arg-type]
    assert verdict is not None
    assert verdict.checked is False
    assert note in verdict.note


def test_an_unknown_fact_leaves_its_item_for_the_trader() -> None:
    verdicts = judge(TEMPLATE.items, replace(HEALTHY, positions_match_broker=None))
    assert "positions_match_broker" not in verdicts
    assert "engine_running" in verdicts


# -- database ---------------------------------------------------------------------------------

def test_database_uses_wal_and_records_schema_versions(tmp_path: Path) -> None:
    db = Database(tmp_path / "state" / "futbot.sqlite")
    open_store(db.path)
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.schema_version("checklist") == 1
    assert db.schema_version("nothing") is None


def test_a_database_from_a_newer_futbot_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "f.sqlite")
    db.create_tables()
    db.ensure_schema("checklist", 3)
    with pytest.raises(PersistenceError, match="schema version 3, newer than this FutBot understands"):
        ChecklistStore(db, TEMPLATE)


def test_an_older_schema_is_upgraded_step_by_step_in_order(tmp_path: Path) -> None:
    db = Database(tmp_path / "f.sqlite")
    db.create_tables()
    db.ensure_schema("demo", 1)
    db.ensure_schema("demo", 3, {1: lambda c: c.execute(text("CREATE TABLE demo_a (x INTEGER)")),
                                 2: lambda c: c.execute(text("CREATE TABLE demo_b (y INTEGER)"))})
    assert db.schema_version("demo") == 3
    with sqlite3.connect(db.path) as raw:
        names = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"demo_a", "demo_b"} <= names


def test_a_missing_upgrade_step_is_an_error_and_leaves_the_version(tmp_path: Path) -> None:
    db = Database(tmp_path / "f.sqlite")
    db.create_tables()
    db.ensure_schema("demo", 1)
    with pytest.raises(PersistenceError, match="no upgrade for demo from schema version 1 to 2"):
        db.ensure_schema("demo", 2)
    assert db.schema_version("demo") == 1


# -- store ------------------------------------------------------------------------------------

def test_ticks_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "futbot.sqlite"
    db = Database(path)
    store = ChecklistStore(db, TEMPLATE, Clock())
    store.set(DAY1, "trades_reviewed", True, "user", "two outliers explained")
    store.set(DAY1, "engine_running", True, "auto", "engine running, feed connected")
    db.close()

    restarted = open_store(path)
    ticks = restarted.load(DAY1)
    assert set(ticks) == {"trades_reviewed", "engine_running"}
    assert ticks["trades_reviewed"].checked and ticks["trades_reviewed"].by == "user"
    assert ticks["trades_reviewed"].note == "two outliers explained"
    assert ticks["engine_running"].by == "auto"
    assert ticks["trades_reviewed"].ts.tzinfo is UTC
    assert restarted.load(DAY2) == {}


def test_setting_an_item_again_replaces_its_tick(tmp_path: Path) -> None:
    store = open_store(tmp_path / "f.sqlite")
    store.set(DAY1, "trades_reviewed", True, "user")
    store.set(DAY1, "trades_reviewed", False, "user", "not yet")
    tick = store.load(DAY1)["trades_reviewed"]
    assert (tick.checked, tick.note) == (False, "not yet")


def test_history_lists_past_days_newest_first_with_done_and_total(tmp_path: Path) -> None:
    store = open_store(tmp_path / "f.sqlite")
    store.set(DAY1, "trades_reviewed", True, "user")
    store.set(DAY1, "risk_active", True, "auto")
    store.set(DAY1, "config_reviewed", False, "user")
    store.set(DAY3, "config_reviewed", False, "user")
    store.set(DAY2, "trades_reviewed", True, "user")
    total = len(TEMPLATE.items)
    assert store.history() == [DayRecord(DAY3, 0, total), DayRecord(DAY2, 1, total), DayRecord(DAY1, 2, total)]


def test_auto_verdicts_never_overwrite_a_user_choice(tmp_path: Path) -> None:
    store = open_store(tmp_path / "f.sqlite")
    store.set(DAY1, "risk_active", True, "user", "REDUCING is fine today")
    changed = store.record_auto(DAY1, {"risk_active": Verdict(False, "risk state REDUCING"),
                                       "engine_running": Verdict(True, "ok")})
    assert changed == ["engine_running"]
    assert store.load(DAY1)["risk_active"].by == "user"
    assert store.load(DAY1)["risk_active"].checked is True


def test_repeating_the_same_auto_verdict_writes_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "f.sqlite")
    verdicts = judge(TEMPLATE.items, HEALTHY)
    assert len(store.record_auto(DAY1, verdicts)) == len(verdicts)
    assert store.record_auto(DAY1, verdicts) == []
    worse = judge(TEMPLATE.items, replace(HEALTHY, trading_state="HALTED"))
    assert store.record_auto(DAY1, worse) == ["risk_active"]


def test_unknown_items_and_sources_are_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path / "f.sqlite")
    with pytest.raises(ValueError, match="'coffee' is not in the template"):
        store.set(DAY1, "coffee", True, "user")
    with pytest.raises(ValueError, match="must be 'auto' or 'user', got 'robot'"):
        store.set(DAY1, "trades_reviewed", True, "robot")  # type: ignore[arg-type]


# -- panel ------------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path: Path) -> ChecklistStore:
    return open_store(tmp_path / "futbot.sqlite")


@pytest.fixture
def panel(qtbot, store: ChecklistStore):  # type: ignore[no-untyped-def]
    from widgets.checklist_panel import ChecklistPanel

    widget = ChecklistPanel(store, TEMPLATE, today=lambda: DAY2)
    qtbot.addWidget(widget)
    return widget


def test_ticking_in_the_panel_is_stored_as_the_users_choice(panel, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    panel.tick("trades_reviewed", True)
    assert panel.row_state("trades_reviewed") == (True, "user", "")
    restarted = open_store(tmp_path / "futbot.sqlite")
    assert restarted.load(DAY2)["trades_reviewed"].checked is True
    assert "1 of" in panel.header.text()


def test_auto_items_are_filled_from_live_facts_and_marked_auto(panel) -> None:  # type: ignore[no-untyped-def]
    assert panel.row_state("risk_active") == (False, "(auto)", "")
    panel.set_live_facts(replace(HEALTHY, trading_state="REDUCING"))
    assert panel.row_state("risk_active") == (False, "auto", "risk state REDUCING")
    assert panel.row_state("engine_running")[:2] == (True, "auto")
    panel.tick("risk_active", True)   # the trader overrides
    panel.set_live_facts(replace(HEALTHY, trading_state="HALTED"))
    assert panel.row_state("risk_active")[:2] == (True, "user")


def test_past_days_are_listed_and_shown_read_only(panel, store: ChecklistStore) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    store.set(DAY1, "trades_reviewed", True, "user", "done late")
    panel.refresh()
    listed = [panel.days.item(i).text() for i in range(panel.days.count())]
    assert listed[0].startswith("2025-01-03") and "(today)" in listed[0]
    assert listed[1].startswith("2025-01-02  1/")
    panel.days.setCurrentRow(1)
    assert panel.shown_day == DAY1 and panel.is_read_only()
    assert panel.row_state("trades_reviewed") == (True, "user", "done late")
    [row] = panel.items.findItems("Trades reviewed", Qt.MatchFlag.MatchStartsWith | Qt.MatchFlag.MatchRecursive)
    assert not row.flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert "read-only" in panel.header.text()
    with pytest.raises(ValueError, match="2025-01-02 is a past day and read-only"):
        panel.tick("trades_reviewed", False)
    assert store.load(DAY1)["trades_reviewed"].checked is True


def test_red_flag_alerts_are_shown_newest_first(panel) -> None:  # type: ignore[no-untyped-def]
    t = datetime(2025, 1, 3, 15, 0, tzinfo=UTC)
    panel.add_alerts([Alert(t, RedFlag.CIRCUIT_BREAKER, Severity.WARNING, "Circuit breaker triggered")])
    panel.add_alerts([Alert(t + timedelta(minutes=5), RedFlag.DAILY_LOSS, Severity.CRITICAL, "Daily loss limit hit")])
    rows = panel.alerts.rows()
    assert rows[0] == ("2025-01-03 10:05:00", "critical", "daily loss", "Daily loss limit hit")
    assert rows[1][2] == "circuit breaker"
