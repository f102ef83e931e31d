"""SessionStore: one transaction per step, idempotent re-commits, readers, schema upgrades."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.config import load_settings, validate
from engine.data.synthetic import generate_bars
from engine.engine import Engine, StepResult
from engine.persistence import checkpoint, session_store
from engine.persistence.db import Database, PersistenceError
from engine.persistence.session_store import SCHEMA_VERSION, SessionStore


@pytest.fixture(scope="module")
def steps() -> tuple[list[StepResult], list[dict]]:
    """A day of steps with a checkpoint after each, from a volume-capped (partial fills) session."""
    data = load_settings().to_dict()
    data["execution"]["max_volume_share"] = 0.0001
    engine = Engine(validate(data))
    engine.use_order_prefix("t")
    results, docs = [], []
    for bar in generate_bars("QQQ", days=1, seed=7):
        results.append(engine.step(bar))
        docs.append(checkpoint.capture(engine))
    assert sum(len(r.fills) for r in results) > 10 and sum(len(r.trades) for r in results) > 5
    return results, docs


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(Database(tmp_path / "s.sqlite"))


def commit_all(store: SessionStore, sid: int, results: list[StepResult], docs: list[dict]) -> None:
    for r, doc in zip(results, docs):
        store.commit_step(sid, r, doc, event_offset=100 * r.index)


def test_a_session_reopens_by_name(store: SessionStore) -> None:
    first = store.open_session("day1", "QQQ", "paper", "synthetic QQQ")
    again = store.open_session("day1", "QQQ", "paper", "synthetic QQQ")
    assert again.id == first.id and again.order_prefix == first.order_prefix
    assert [s.name for s in store.sessions()] == ["day1"]


def test_resuming_with_another_feed_is_refused(store: SessionStore) -> None:
    store.open_session("day1", "QQQ", "paper", "synthetic QQQ days=5")
    with pytest.raises(ValueError, match="feed = 'synthetic QQQ days=5', not 'synthetic QQQ days=6'"):
        store.open_session("day1", "QQQ", "paper", "synthetic QQQ days=6")


def test_steps_are_stored_with_every_order_fill_trade_and_equity_point(store: SessionStore, steps) -> None:
    results, docs = steps
    sid = store.open_session("s", "QQQ", "paper", "f").id
    commit_all(store, sid, results, docs)
    fills = store.fills(sid)
    assert [f.fill for f in fills] == [f for r in results for f in r.fills]
    assert [f.seq for f in fills] == list(range(1, len(fills) + 1))
    assert [f.step for f in fills] == [r.index for r in results for _ in r.fills]
    assert store.trades(sid) == [t for r in results for t in r.trades]
    assert store.orders(sid) == [o for r in results for o in r.orders]
    curve = store.equity(sid)
    assert curve.equity.tolist() == [r.equity for r in results]
    assert curve.ts.tolist() == [r.ts for r in results]
    assert curve.position.tolist() == [r.position for r in results]
    saved = store.checkpoint(sid)
    assert saved is not None
    assert (saved.step, saved.ts, saved.event_offset) == (results[-1].index, results[-1].ts, 100 * results[-1].index)
    assert checkpoint.dumps(saved.doc) == checkpoint.dumps(docs[-1])


def test_recommitting_steps_replaces_and_never_duplicates(store: SessionStore, steps) -> None:
    results, docs = steps
    sid = store.open_session("s", "QQQ", "paper", "f").id
    commit_all(store, sid, results, docs)
    before = (store.fills(sid), store.trades(sid), store.orders(sid), store.equity(sid).equity.tolist())
    with_fills = [i for i, r in enumerate(results) if r.fills and r.trades]
    for i in with_fills[:5]:
        store.commit_step(sid, results[i], docs[i])
    store.commit_step(sid, results[-1], docs[-1], event_offset=7)
    after = (store.fills(sid), store.trades(sid), store.orders(sid), store.equity(sid).equity.tolist())
    assert after == before
    assert store.checkpoint(sid).event_offset == 7  # type: ignore[union-attr]


def test_a_failed_commit_leaves_nothing_of_its_step(store: SessionStore, steps, monkeypatch) -> None:
    results, docs = steps
    sid = store.open_session("s", "QQQ", "paper", "f").id
    i = next(i for i, r in enumerate(results) if r.fills and r.trades)
    commit_all(store, sid, results[:i], docs[:i])
    before = (store.fills(sid), store.trades(sid), store.orders(sid), store.checkpoint(sid))

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(session_store, "_write_checkpoint", broken)   # fails after the fills are written
    with pytest.raises(OSError, match="disk full"):
        store.commit_step(sid, results[i], docs[i])
    assert (store.fills(sid), store.trades(sid), store.orders(sid), store.checkpoint(sid)) == before
    assert len(store.equity(sid).step) == i


def test_a_state_commit_between_bars_adds_orders_and_replaces_the_checkpoint(store: SessionStore, steps) -> None:
    results, docs = steps
    sid = store.open_session("s", "QQQ", "paper", "f").id
    commit_all(store, sid, results[:50], docs[:50])
    order = next(o for r in results[50:] for o in r.orders)
    store.commit_state(sid, 49, results[49].ts, docs[60], (order,), event_offset=5)
    saved = store.checkpoint(sid)
    assert saved is not None and (saved.step, saved.event_offset) == (49, 5)
    assert checkpoint.dumps(saved.doc) == checkpoint.dumps(docs[60])
    assert store.orders(sid)[-1] == order


def test_sessions_do_not_see_each_others_rows(store: SessionStore, steps) -> None:
    results, docs = steps
    a = store.open_session("a", "QQQ", "paper", "f").id
    b = store.open_session("b", "QQQ", "paper", "f").id
    commit_all(store, a, results[:100], docs[:100])
    assert store.fills(b) == [] and store.checkpoint(b) is None and len(store.equity(b).ts) == 0


def test_nan_in_a_checkpoint_is_refused_before_anything_is_written(store: SessionStore, steps) -> None:
    results, docs = steps
    sid = store.open_session("s", "QQQ", "paper", "f").id
    with pytest.raises(ValueError, match="Out of range float"):
        store.commit_step(sid, results[0], {"x": float("nan")})
    assert store.checkpoint(sid) is None and len(store.equity(sid).ts) == 0


# -- schema versions ------------------------------------------------------------------------

V1_CHECKPOINTS = """CREATE TABLE live_checkpoints (
    session_id INTEGER NOT NULL PRIMARY KEY REFERENCES live_sessions (id),
    step INTEGER NOT NULL, ts BIGINT NOT NULL, body TEXT NOT NULL, updated_ns BIGINT NOT NULL)"""
V1_SESSIONS = """CREATE TABLE live_sessions (
    id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(128) NOT NULL UNIQUE, symbol VARCHAR(32) NOT NULL,
    broker VARCHAR(16) NOT NULL, feed TEXT NOT NULL, order_prefix VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL, created_ns BIGINT NOT NULL, updated_ns BIGINT NOT NULL)"""


def test_a_version_1_database_is_upgraded_and_keeps_its_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (component VARCHAR(64) PRIMARY KEY, version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES ('live_sessions', 1)")
        conn.execute(V1_SESSIONS)
        conn.execute(V1_CHECKPOINTS)
        conn.execute("INSERT INTO live_sessions VALUES (1, 'old', 'QQQ', 'paper', 'f', 'fbx', 'stopped', 1, 1)")
        conn.execute("""INSERT INTO live_checkpoints VALUES (1, 41, 123, '{"a":1}', 5)""")
    db = Database(path)
    store = SessionStore(db)
    assert db.schema_version("live_sessions") == SCHEMA_VERSION == 2
    saved = store.checkpoint(1)
    assert saved is not None
    assert (saved.step, saved.ts, saved.event_offset, saved.doc) == (41, 123, None, {"a": 1})
    store.commit_state(1, 42, 124, {"b": 2}, event_offset=99)
    assert store.checkpoint(1).event_offset == 99  # type: ignore[union-attr]


def test_a_database_from_a_newer_futbot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    SessionStore(Database(path)).db.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 3 WHERE component = 'live_sessions'")
    with pytest.raises(PersistenceError, match="schema version 3, newer"):
        SessionStore(Database(path))
