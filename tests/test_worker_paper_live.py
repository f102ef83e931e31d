"""The workstation's "Paper live" mode: the engine runs through LiveTradingLoop in the engine
thread, every bar committed to SQLite, the session resumed after the window is reopened."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.gui import HALT_KEY, Workstation
from app.snapshot import SnapshotBatch
from engine.config import load_settings, validate
from engine.persistence.db import Database
from engine.persistence.session_store import SessionStore
from engine.persistence.state_store import StateStore

SESSION = "gui-paper-QQQ-3d-s7"


@pytest.fixture
def make_station(make_station):
    # This file's sessions open paused unless a test says otherwise.
    return functools.partial(make_station, paused=True)


def collect(station: Workstation) -> list[SnapshotBatch]:
    batches: list[SnapshotBatch] = []
    station.worker.batch_ready.connect(batches.append)   # called in the engine thread; append is atomic
    return batches


def choose(station: Workstation, mode: str) -> None:
    combo = station.window.mode_combo
    combo.setCurrentIndex(combo.findData(mode))


def store(tmp_path: Path) -> SessionStore:
    return SessionStore(Database(tmp_path / "state" / "futbot.sqlite"))


def session_events(tmp_path: Path) -> list[dict]:
    path = tmp_path / "state" / "events" / f"{SESSION}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def bars_shown(station: Workstation) -> int:
    return len(station.window.equity.series.ring)


def paper_live(qtbot, station: Workstation, batches: list[SnapshotBatch]) -> None:
    choose(station, "paper live")
    qtbot.waitUntil(lambda: any(b.status.mode == "paper live" for b in batches), timeout=20_000)


def test_paper_live_runs_the_loop_fills_panes_and_commits_every_bar(qtbot, make_station, tmp_path: Path) -> None:
    station = make_station()
    batches = collect(station)
    paper_live(qtbot, station, batches)
    station.window.start_requested.emit()
    qtbot.waitUntil(lambda: bars_shown(station) > 500, timeout=30_000)
    assert station.window.status_bar.labels["mode"].text() == "PAPER LIVE"
    assert station.window.mode_combo.currentData() == "paper live"
    assert len(station.window.price.bars) == bars_shown(station)

    station.window.pause_requested.emit()
    qtbot.waitUntil(lambda: batches[-1].status.mode == "paper live" and not batches[-1].status.running,
                    timeout=10_000)
    qtbot.wait(200)
    s = store(tmp_path)
    info = s.find_session(SESSION)
    assert info is not None and info.status == "stopped" and info.broker == "paper"
    saved = s.checkpoint(info.id)
    equity = s.equity(info.id)
    traded = int(sum(len(b) for b in batches))
    # Every bar the panes got is a committed step, numbered 0, 1, 2, ... with nothing doubled.
    assert saved.step + 1 == len(equity.step) == traded
    np.testing.assert_array_equal(equity.step, np.arange(traded))
    np.testing.assert_array_equal(equity.ts, np.concatenate([b.ts for b in batches]))
    np.testing.assert_allclose(equity.equity, np.concatenate([b.equity for b in batches]))
    shown_fills = [f for b in batches for f in b.fills]
    stored_fills = s.fills(info.id)
    assert len(stored_fills) == len(shown_fills) > 0
    assert [(f.fill.ts, f.fill.side.value, f.fill.qty, f.fill.price) for f in stored_fills] == \
        [(ts, side, qty, price) for ts, _, side, qty, price, _ in shown_fills]
    assert saved.doc["engine"]["portfolio"]["equity"] == pytest.approx(batches[-1].status.equity)
    kinds = [e["payload"]["what"] for e in session_events(tmp_path) if e["type"] == "session"]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    # Replay's own log is not the session's (the loop cuts its log back on a resume).
    assert not (tmp_path / "state" / "events.jsonl").exists() or \
        "session" not in (tmp_path / "state" / "events.jsonl").read_text()


def test_reopening_the_window_resumes_the_session(qtbot, make_station, tmp_path: Path) -> None:
    first = make_station()
    batches = collect(first)
    paper_live(qtbot, first, batches)
    first.window.start_requested.emit()
    qtbot.waitUntil(lambda: sum(len(b) for b in batches) > 300, timeout=30_000)
    first.shutdown()                            # quit while trading
    s = store(tmp_path)
    info = s.find_session(SESSION)
    saved = s.checkpoint(info.id)
    assert saved.step + 1 >= 300

    again = make_station()
    shown = collect(again)
    paper_live(qtbot, again, shown)
    status = [b for b in shown if b.status.mode == "paper live"][-1].status
    assert status.equity == pytest.approx(saved.doc["engine"]["portfolio"]["equity"])
    assert status.cash == pytest.approx(saved.doc["engine"]["portfolio"]["cash"])
    assert status.ts == saved.ts and not status.running
    again.window.start_requested.emit()
    qtbot.waitUntil(lambda: sum(len(b) for b in shown) > 100, timeout=30_000)
    again.window.pause_requested.emit()
    qtbot.waitUntil(lambda: s.find_session(SESSION).status == "stopped", timeout=10_000)
    resumed = np.concatenate([b.ts for b in shown])
    assert resumed[0] > saved.ts                # the first bar after the checkpoint, none again
    steps = s.equity(info.id).step
    np.testing.assert_array_equal(steps, np.arange(len(steps)))   # the step count continues
    assert len(steps) >= saved.step + 1 + len(resumed)
    whats = [e["payload"] for e in session_events(tmp_path) if e["type"] == "session"]
    assert any(p["what"] == "resume" and p["from_step"] == saved.step for p in whats)


def test_kill_in_paper_live_halts_and_persists(qtbot, make_station, tmp_path: Path) -> None:
    station = make_station(speed=300.0)
    batches = collect(station)
    paper_live(qtbot, station, batches)
    station.window.start_requested.emit()
    qtbot.waitUntil(lambda: bars_shown(station) > 50, timeout=20_000)
    with qtbot.waitSignal(station.worker.killed, timeout=5_000) as blocker:
        qtbot.mouseClick(station.window.kill_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].reason == "kill switch pressed"
    qtbot.waitUntil(lambda: station.window.status_bar.trading_state == "HALTED", timeout=5_000)
    assert StateStore(Database(tmp_path / "state" / "futbot.sqlite")).load(HALT_KEY)["reason"] == "kill switch pressed"
    s = store(tmp_path)
    saved = s.checkpoint(s.find_session(SESSION).id)
    assert saved.doc["engine"]["risk"]["killed"] is True
    assert saved.doc["engine"]["risk"]["kill_reason"] == "kill switch pressed"
    assert "kill_switch" in [e["type"] for e in session_events(tmp_path)]
    station.shutdown()

    again = make_station()
    shown = collect(again)
    paper_live(qtbot, again, shown)
    qtbot.waitUntil(lambda: again.window.status_bar.trading_state == "HALTED", timeout=10_000)


def test_a_kill_while_the_session_waits_for_its_next_bar_does_not_wait_for_it(qtbot, make_station,
                                                                                tmp_path: Path) -> None:
    station = make_station(speed=0.02)   # 1.2x real time: about 50 s between two bars
    batches = collect(station)
    paper_live(qtbot, station, batches)
    station.window.start_requested.emit()
    qtbot.waitUntil(lambda: bars_shown(station) >= 1 and batches[-1].status.running, timeout=20_000)
    shown = bars_shown(station)
    with qtbot.waitSignal(station.worker.killed, timeout=5_000):
        qtbot.mouseClick(station.window.kill_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: station.window.status_bar.trading_state == "HALTED", timeout=5_000)
    assert bars_shown(station) == shown   # halted between bars, not at the next one
    s = store(tmp_path)
    assert s.checkpoint(s.find_session(SESSION).id).doc["engine"]["risk"]["killed"] is True


def test_kill_and_rearm_while_paused_are_committed_to_the_session(qtbot, make_station, tmp_path: Path) -> None:
    station = make_station()
    batches = collect(station)
    paper_live(qtbot, station, batches)
    station.window.start_requested.emit()
    qtbot.waitUntil(lambda: bars_shown(station) > 100, timeout=20_000)
    station.window.pause_requested.emit()
    s = store(tmp_path)
    qtbot.waitUntil(lambda: s.find_session(SESSION).status == "stopped", timeout=10_000)
    step = s.checkpoint(s.find_session(SESSION).id).step

    with qtbot.waitSignal(station.worker.killed, timeout=10_000):
        station.worker.send("kill", "paused kill")
    saved = s.checkpoint(s.find_session(SESSION).id)
    assert saved.doc["engine"]["risk"]["killed"] is True and saved.step == step   # no bar traded
    qtbot.waitUntil(lambda: station.window.status_bar.trading_state == "HALTED", timeout=5_000)

    with qtbot.waitSignal(station.worker.failed, timeout=10_000) as refused:
        station.worker.send("rearm", False)
    assert "confirm" in refused.args[0]
    assert StateStore(Database(tmp_path / "state" / "futbot.sqlite")).load(HALT_KEY) is not None
    station.worker.send("rearm", True)
    qtbot.waitUntil(lambda: station.window.status_bar.trading_state != "HALTED", timeout=10_000)
    assert StateStore(Database(tmp_path / "state" / "futbot.sqlite")).load(HALT_KEY) is None
    saved = s.checkpoint(s.find_session(SESSION).id)
    assert saved.doc["engine"]["risk"]["killed"] is False and saved.step == step


def test_speed_settings_and_mode_changes_keep_the_session_whole(qtbot, make_station, tmp_path: Path) -> None:
    station = make_station(speed=600.0)
    batches = collect(station)
    paper_live(qtbot, station, batches)
    station.window.start_requested.emit()
    qtbot.waitUntil(lambda: bars_shown(station) > 30, timeout=20_000)
    station.worker.send("speed", 0.0)           # the loop stops and resumes at max speed
    qtbot.waitUntil(lambda: batches[-1].status.speed == 0.0 and bars_shown(station) > 600, timeout=30_000)
    data = load_settings().to_dict()
    data["risk"]["max_position"] = 0.05
    with qtbot.waitSignal(station.worker.applied, timeout=5_000) as applied:
        station.worker.send("settings", validate(data))
    assert applied.args[0].startswith("applied at bar")
    station.worker.send("mode", "replay")
    qtbot.waitUntil(lambda: batches[-1].status.mode == "replay", timeout=10_000)
    s = store(tmp_path)
    info = s.find_session(SESSION)
    assert info.status == "stopped"
    steps = s.equity(info.id).step
    np.testing.assert_array_equal(steps, np.arange(len(steps)))
    paper = [b for b in batches if b.status.mode == "paper live"]
    assert len(steps) == sum(len(b) for b in paper)


def test_a_symbol_change_stops_one_session_and_trades_another(qtbot, make_station, tmp_path: Path) -> None:
    station = make_station(speed=600.0)
    batches = collect(station)
    paper_live(qtbot, station, batches)
    station.window.start_requested.emit()
    qtbot.waitUntil(lambda: bars_shown(station) > 30, timeout=20_000)
    station.worker.send("symbol", "SPY")
    qtbot.waitUntil(lambda: batches[-1].status.symbol == "SPY" and len(batches[-1]) > 0, timeout=20_000)
    station.worker.send("pause")
    s = store(tmp_path)
    qtbot.waitUntil(lambda: s.find_session("gui-paper-SPY-3d-s7").status == "stopped", timeout=10_000)
    assert s.find_session(SESSION).status == "stopped"
    spy = s.find_session("gui-paper-SPY-3d-s7")
    assert spy.symbol == "SPY" and len(s.equity(spy.id).step) == sum(len(b) for b in batches if b.status.symbol == "SPY")



def test_switching_mode_after_bars_are_shown_starts_fresh_charts(qtbot, make_station) -> None:
    # Replay draws bars first; Paper live then starts its own time line on fresh charts.
    station = make_station(paused=False, speed=300.0)
    qtbot.waitUntil(lambda: bars_shown(station) > 100, timeout=20_000)
    replay_window = station.window
    errors: list[str] = []
    station.worker.failed.connect(errors.append)
    choose(station, "paper live")
    station.worker.send("start")
    qtbot.waitUntil(lambda: station.window is not replay_window and bars_shown(station) > 20, timeout=20_000)
    qtbot.addWidget(station.window)
    assert station.window.banner.isHidden() and not errors
    assert station.window.status_bar.text().startswith("PAPER LIVE")
