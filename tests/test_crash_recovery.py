"""Crash recovery: checkpoints restore exactly, and a session killed at any moment ends as if never killed."""
from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.config import Settings, load_settings, validate
from engine.data.bar import Bar
from engine.data.synthetic import generate_bars
from engine.engine import Engine, StepResult
from engine.execution.paper import PaperBroker
from engine.observability.events import read_events
from engine.persistence import checkpoint
from engine.persistence.db import Database
from engine.persistence.session_store import SessionStore

SYMBOL = "QQQ"


def settings_with(**execution: Any) -> Settings:
    data = load_settings().to_dict()
    data["execution"].update(execution)
    return validate(data)


# A volume cap this small leaves orders working across bars (partial fills), so the
# paper broker's state is part of many checkpoints.
CAPPED = {"max_volume_share": 0.0001}


def bars(days: int = 3, seed: int = 7) -> list[Bar]:
    return list(generate_bars(SYMBOL, days=days, seed=seed))


def canonical(doc: dict[str, Any]) -> str:
    return checkpoint.dumps(doc)


def outcome(r: StepResult) -> tuple[Any, ...]:
    """Everything a step decides, for comparing two runs."""
    return (r.index, r.ts, r.decision, r.approved, r.trading_state, r.risk_actions, r.orders, r.fills, r.trades,
            r.position, r.cash, r.equity, r.drawdown, r.regime, r.intents)


def resumed_engine(settings: Settings, history: list[Bar], doc: dict[str, Any]) -> Engine:
    engine = Engine(settings)
    for bar in history:
        engine.warm(bar)
    checkpoint.restore(engine, checkpoint.loads(checkpoint.dumps(doc)))
    return engine


# -- checkpoints ------------------------------------------------------------------------

@pytest.mark.parametrize("execution", [{}, CAPPED, {"fill": "close", **CAPPED}], ids=["default", "capped", "close"])
def test_capture_restore_capture_is_the_same_document(execution: dict[str, Any]) -> None:
    settings = settings_with(**execution)
    series = bars(days=2)
    engine = Engine(settings)
    cuts = {150, 400, 599, 700}
    for i, bar in enumerate(series):
        engine.step(bar)
        if i in cuts:
            doc = checkpoint.capture(engine)
            again = checkpoint.capture(resumed_engine(settings, series[: i + 1], doc))
            assert canonical(again) == canonical(doc)


@pytest.mark.parametrize("execution", [{}, CAPPED, {"fill": "close", **CAPPED}], ids=["default", "capped", "close"])
def test_warm_then_restore_makes_the_same_decisions_as_never_stopping(execution: dict[str, Any]) -> None:
    settings = settings_with(**execution)
    series = bars(days=3)
    reference = Engine(settings)
    results = [reference.step(bar) for bar in series]
    assert sum(len(r.trades) for r in results) > 20, "the test needs a session that trades"
    for cut in (200, 555, 901):
        probe = Engine(settings)
        probe.use_order_prefix(reference.order_prefix)
        for bar in series[: cut + 1]:
            probe.step(bar)
        engine = resumed_engine(settings, series[: cut + 1], checkpoint.capture(probe))
        resumed = [engine.step(bar) for bar in series[cut + 1:]]
        assert [outcome(r) for r in resumed] == [outcome(r) for r in results[cut + 1:]]


def test_a_checkpoint_taken_with_orders_working_resumes_them() -> None:
    settings = settings_with(**CAPPED)
    series = bars(days=2)
    engine = Engine(settings)
    for i, bar in enumerate(series):
        engine.step(bar)
        if engine.broker.open_orders() and i > 100:
            break
    doc = checkpoint.capture(engine)
    assert doc["broker"]["working"], "expected a partly filled order still working"
    resumed = resumed_engine(settings, series[: i + 1], doc)
    assert resumed.broker.open_orders() == engine.broker.open_orders()
    nxt = series[i + 1]
    assert outcome(resumed.step(nxt)) == outcome(engine.step(nxt))


def test_paper_broker_state_round_trips_through_json() -> None:
    settings = settings_with(fill="close", **CAPPED)
    engine = Engine(settings)
    for bar in bars(days=1)[:200]:
        engine.step(bar)
    broker = engine.broker
    assert isinstance(broker, PaperBroker)
    state = broker.to_dict()
    copy = PaperBroker.from_dict(json.loads(json.dumps(state, allow_nan=False)), settings.execution)
    assert copy.to_dict() == json.loads(json.dumps(state))
    assert copy.open_orders() == broker.open_orders()


def test_restore_refuses_a_checkpoint_of_another_symbol() -> None:
    engine = Engine(load_settings())
    doc = checkpoint.capture(engine)
    doc["symbol"] = "SPY"
    with pytest.raises(ValueError, match="symbol = 'SPY'"):
        checkpoint.restore(Engine(load_settings()), doc)


def test_restore_names_the_missing_keys() -> None:
    doc = checkpoint.capture(Engine(load_settings()))
    del doc["risk"]
    with pytest.raises(ValueError, match=r"missing keys \['risk'\]"):
        checkpoint.restore(Engine(load_settings()), doc)


def test_the_order_id_counter_survives_a_restart() -> None:
    settings = load_settings()
    series = bars(days=1)
    engine = Engine(settings)
    engine.use_order_prefix("s1")
    ids = []
    for bar in series:
        ids += [o.id for o in engine.step(bar).orders]
    assert len(ids) > 3
    last = int(ids[-1].rsplit("-", 1)[1])
    resumed = resumed_engine(settings, series, checkpoint.capture(engine))
    resumed.kill("test")   # flattening sends one more order, numbered after the last
    (order,) = resumed.broker.open_orders()
    assert order.id == f"s1-{last + 1}"


# -- the SIGKILL test ---------------------------------------------------------------------

DAYS = 3


def _child(argv: list[str], pause_after_checkpoints: int | None, marker: str | None) -> None:
    """A forked session process: the real CLI, optionally frozen inside a commit."""
    if pause_after_checkpoints is not None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine as SAEngine

        seen = {"checkpoints": 0}

        def freeze_in_commit(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "INTO live_checkpoints" in statement:
                seen["checkpoints"] += 1
            elif "INTO live_fills" in statement and seen["checkpoints"] >= pause_after_checkpoints:
                Path(marker).write_text("in a transaction, fills written, not committed")  # type: ignore[arg-type]
                time.sleep(60)

        event.listen(SAEngine, "before_cursor_execute", freeze_in_commit)
    from app.main import main

    os._exit(main(argv))


def _argv(state: Path, config: Path) -> list[str]:
    return ["live", "--broker", "paper", "--symbol", SYMBOL, "--config", str(config), "--state-dir", str(state),
            "--session", "crash", "--replay-speed", "max", "--days", str(DAYS), "--seed", "7", "--headless"]


def _committed(db: Path) -> tuple[int, int]:
    """(checkpoint step, fill rows) as another process sees them; (-2, 0) before the first commit."""
    if not db.exists():
        return -2, 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            step = conn.execute("SELECT max(step) FROM live_checkpoints").fetchone()[0]
            fills = conn.execute("SELECT count(*) FROM live_fills").fetchone()[0]
    except sqlite3.OperationalError:   # tables not created yet
        return -2, 0
    return (-2 if step is None else step), fills


def _start(ctx: Any, argv: list[str], pause: int | None = None, marker: Path | None = None) -> Any:
    proc = ctx.Process(target=_child, args=(argv, pause, None if marker is None else str(marker)))
    proc.start()
    return proc


def _kill(proc: Any) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL


def _normalised(state: Path) -> dict[str, Any]:
    """The session's outcome with the order-id prefix (unique per session) written as 'P'."""
    db = Database(state / "futbot.sqlite")
    store = SessionStore(db)
    info = store.find_session("crash")
    assert info is not None
    prefix = info.order_prefix
    saved = store.checkpoint(info.id)
    assert saved is not None

    def strip(text: str) -> str:
        return text.replace(prefix, "P")

    log = state / "events" / "crash.jsonl"
    events = list(read_events(log))
    text = log.read_text(encoding="utf-8")
    assert text.endswith("\n") and len(events) == text.count("\n"), "every line parses, none is torn"
    out = {
        "step": saved.step,
        "checkpoint": strip(checkpoint.dumps(saved.doc)),
        "trades": store.trades(info.id),
        "fills": [(f.seq, f.step, replace(f.fill, order_id=strip(f.fill.order_id))) for f in store.fills(info.id)],
        "orders": [replace(o, id=strip(o.id)) for o in store.orders(info.id)],
        "equity": store.equity(info.id),
        # Restarts add their own lines (session resume, the risk manager's "restored"); the rest must match.
        "events": [strip(json.dumps(e, sort_keys=True)) for e in events
                   if e["type"] != "session" and e["payload"].get("what") != "restored"],
        "restarts": sum(1 for e in events if e["type"] == "session" and e["payload"]["what"] == "resume"),
    }
    db.close()
    return out


def test_sessions_killed_at_random_moments_end_exactly_like_an_uninterrupted_one(tmp_path: Path) -> None:
    config = tmp_path / "capped.yaml"
    config.write_text("execution:\n  max_volume_share: 0.0001\n")
    ctx = multiprocessing.get_context("fork")
    n_bars = DAYS * 390

    reference_dir = tmp_path / "reference"
    proc = _start(ctx, _argv(reference_dir, config))
    proc.join(120)
    assert proc.exitcode == 0
    reference = _normalised(reference_dir)
    assert reference["step"] == n_bars - 1
    assert len(reference["trades"]) > 20 and len(reference["fills"]) > 50

    crashed_dir = tmp_path / "crashed"
    db = crashed_dir / "futbot.sqlite"

    # A kill inside a commit: the step's fills are written in the transaction, not committed.
    marker = tmp_path / "frozen"
    proc = _start(ctx, _argv(crashed_dir, config), pause=40, marker=marker)
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.is_alive() and time.monotonic() < deadline:
        time.sleep(0.002)
    assert marker.exists(), "the child never reached a commit with fills"
    frozen = _committed(db)
    _kill(proc)
    kills = 1
    assert frozen[0] >= 30, "the freeze comes after some 40 commits"
    assert _committed(db) == frozen, "the interrupted transaction must leave no trace"

    # Kills at random moments: as soon as the committed step reaches each target.
    rng = random.Random(20240102)
    for target in sorted(rng.sample(range(frozen[0] + 5, n_bars - 5), 8)):
        if _committed(db)[0] >= target:
            continue
        proc = _start(ctx, _argv(crashed_dir, config))
        deadline = time.monotonic() + 60
        while _committed(db)[0] < target and proc.is_alive() and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.is_alive(), f"the session ended before step {target}"
        _kill(proc)
        kills += 1

    proc = _start(ctx, _argv(crashed_dir, config))
    proc.join(120)
    assert proc.exitcode == 0
    crashed = _normalised(crashed_dir)

    assert crashed["restarts"] == kills
    assert crashed["step"] == reference["step"]
    assert crashed["trades"] == reference["trades"]
    assert [f[0] for f in crashed["fills"]] == list(range(1, len(reference["fills"]) + 1))
    assert crashed["fills"] == reference["fills"]
    assert crashed["orders"] == reference["orders"]
    for column in ("step", "ts", "equity", "cash", "position", "drawdown"):
        assert getattr(crashed["equity"], column).tolist() == getattr(reference["equity"], column).tolist()
    # equity, cash, positions, weights, fitness, risk state, broker orders, scheduler and day counters
    assert crashed["checkpoint"] == reference["checkpoint"]
    assert crashed["events"] == reference["events"]
