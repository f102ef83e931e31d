"""EventLogger: one JSON object per line, append-only, readable after a torn write."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.observability.events import EventLogger, read_events

TS = 1_700_000_000_000_000_000


def test_each_event_is_one_json_line_with_ts_type_payload(tmp_path: Path) -> None:
    log = EventLogger(tmp_path / "events.jsonl")
    log.log(TS, "regime_flip", old="trend", new="compression")
    log.log(TS + 60_000_000_000, "fill", qty=10.0, price=float("nan"))
    log.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    first, second = (json.loads(x) for x in lines)
    assert first == {"ts": "2023-11-14T22:13:20Z", "type": "regime_flip", "payload": {"old": "trend", "new": "compression"}}
    assert second["payload"] == {"qty": 10.0, "price": None}


def test_appends_across_restarts(tmp_path: Path) -> None:
    for n in range(3):
        log = EventLogger(tmp_path / "e.jsonl")
        log.log(TS + n, "order", n=n)
        log.close()
    assert [e["payload"]["n"] for e in read_events(tmp_path / "e.jsonl")] == [0, 1, 2]


def test_a_torn_last_line_is_skipped_but_corruption_inside_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = EventLogger(path)
    log.log(TS, "order", n=1)
    log.close()
    with path.open("a") as f:
        f.write('{"ts": "2023-11-14T22:13:20Z", "ty')
    assert len(list(read_events(path))) == 1
    path.write_text('{"a": 1}\nnot json\n{"b": 2}\n')
    with pytest.raises(ValueError, match=":2: corrupt"):
        list(read_events(path))


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        EventLogger().log(TS, "regime_flop")


def test_drain_hands_over_new_events_once() -> None:
    log = EventLogger()
    log.log(TS, "order")
    assert len(log.drain()) == 1 and log.drain() == []
    assert len(log.recent) == 1
