"""The real workstation: window + engine worker thread + stores, driven offscreen."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.gui import HALT_KEY, Workstation
from engine.config import load_settings
from engine.persistence.db import Database
from engine.persistence.state_store import StateStore



def bars_shown(station: Workstation) -> int:
    return len(station.window.equity.series.ring)


def test_replay_starts_at_once_and_panes_fill(qtbot, make_station) -> None:
    station = make_station()
    qtbot.waitUntil(lambda: bars_shown(station) > 500, timeout=20_000)
    w = station.window
    assert len(w.price.bars) == bars_shown(station) == len(w.drawdown.series.ring)
    assert w.status_bar.trading_state == "ACTIVE"
    log = station.args.state_dir / "events.jsonl"
    qtbot.waitUntil(lambda: log.exists() and log.stat().st_size > 0, timeout=10_000)


def test_pause_stops_the_feed(qtbot, make_station) -> None:
    station = make_station(speed=200.0)
    qtbot.waitUntil(lambda: bars_shown(station) > 20, timeout=20_000)
    station.window.pause_requested.emit()
    qtbot.wait(300)
    frozen = bars_shown(station)
    qtbot.wait(500)
    assert bars_shown(station) == frozen


def test_kill_switch_halts_persists_and_survives_a_restart(qtbot, make_station, tmp_path: Path) -> None:
    station = make_station(speed=300.0)
    qtbot.waitUntil(lambda: bars_shown(station) > 50, timeout=20_000)
    with qtbot.waitSignal(station.worker.killed, timeout=5_000) as blocker:
        qtbot.mouseClick(station.window.kill_button, Qt.MouseButton.LeftButton)
    info = blocker.args[0]
    assert info.reason == "kill switch pressed"
    qtbot.waitUntil(lambda: station.window.status_bar.trading_state == "HALTED", timeout=5_000)
    stored = StateStore(Database(tmp_path / "state" / "futbot.sqlite")).load(HALT_KEY)
    assert stored is not None and stored["reason"] == "kill switch pressed"
    events = [json.loads(line)["type"] for line in (tmp_path / "state" / "events.jsonl").read_text().splitlines()]
    assert "kill_switch" in events
    station.shutdown()

    again = make_station(speed=300.0)
    qtbot.waitUntil(lambda: again.window.status_bar.trading_state == "HALTED", timeout=10_000)


def test_rearm_needs_confirmation_and_clears_the_stored_halt(qtbot, make_station, tmp_path: Path) -> None:
    station = make_station(speed=300.0)
    qtbot.waitUntil(lambda: bars_shown(station) > 20, timeout=20_000)
    station.worker.send("kill", "test")
    qtbot.waitUntil(lambda: station.window.status_bar.trading_state == "HALTED", timeout=5_000)
    station.worker.send("rearm", False)        # what an unconfirmed re-arm would send
    qtbot.wait(300)
    assert station.window.status_bar.trading_state == "HALTED"
    station.worker.send("rearm", True)
    qtbot.waitUntil(lambda: station.window.status_bar.trading_state != "HALTED", timeout=5_000)
    assert StateStore(Database(tmp_path / "state" / "futbot.sqlite")).load(HALT_KEY) is None


def test_settings_apply_at_a_safe_point_or_ask_for_a_restart(qtbot, make_station) -> None:
    station = make_station(speed=300.0)
    qtbot.waitUntil(lambda: bars_shown(station) > 10, timeout=20_000)
    data = load_settings().to_dict()
    data["risk"]["max_position"] = 0.05
    from engine.config import validate

    with qtbot.waitSignal(station.worker.applied, timeout=5_000) as live:
        station.worker.send("settings", validate(data))
    assert live.args[0].startswith("applied at bar")
    data["data"]["symbol"] = "SPY"
    with qtbot.waitSignal(station.worker.applied, timeout=5_000) as restart:
        station.worker.send("settings", validate(data))
    assert "restart needed for: data.symbol" in restart.args[0]


def test_an_engine_failure_is_shown_not_swallowed(qtbot, make_station, monkeypatch: pytest.MonkeyPatch) -> None:
    station = make_station(speed=300.0, paused=True)
    qtbot.waitUntil(lambda: station.worker.engine is not None, timeout=5_000)

    def boom(bar):
        raise RuntimeError("feature blew up")

    monkeypatch.setattr(station.worker.engine, "step", boom)
    with qtbot.waitSignal(station.worker.failed, timeout=5_000) as blocker:
        station.worker.send("start")
    assert "feature blew up" in blocker.args[0] and "paused" in blocker.args[0]
