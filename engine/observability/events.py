"""EventLogger: the structured JSONL log of everything notable.

One JSON object per line: {"ts": bar time ISO-8601 UTC, "type": ..., "payload": {...}}.
Each line goes to the file in a single os.write on an O_APPEND descriptor, so a crash
leaves whole lines behind; `read_events` still skips a torn last line rather than fail.
"""
from __future__ import annotations

import json
import math
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

EVENT_TYPES = (
    "regime_flip", "risk_event", "weight_change", "outlier_pnl", "no_trade_high_confidence",
    "order", "order_rejected", "fill", "trade_closed", "kill_switch", "rearm", "engine_error",
    # the live loop (engine.live.loop): session start/resume/stop and the daily tasks
    "session", "pre_market", "mid_day", "daily_summary",
)


@dataclass(frozen=True, slots=True)
class Event:
    ts: int           # bar time, ns UTC
    type: str
    payload: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps({"ts": iso(self.ts), "type": self.type, "payload": self.payload},
                          separators=(",", ":"), default=_jsonable, allow_nan=False)


def iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"cannot write {type(value).__name__} to the event log")


def _finite(payload: dict[str, Any]) -> dict[str, Any]:
    # JSON has no NaN; a warm-up NaN becomes null instead of an invalid line.
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in payload.items()}


class EventLogger:
    """Appends events to a JSONL file (optional) and keeps the recent ones in memory."""

    def __init__(self, path: str | Path | None = None, keep: int = 10_000) -> None:
        self.path = Path(path) if path is not None else None
        self.recent: deque[Event] = deque(maxlen=keep)
        self._pending: list[Event] = []
        self._fd: int | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(self, ts: int, type_: str, **payload: Any) -> Event:
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_!r}; known: {', '.join(EVENT_TYPES)}")
        event = Event(ts, type_, _finite(payload))
        if self._fd is not None:
            os.write(self._fd, (event.to_json() + "\n").encode("utf-8"))
        self.recent.append(event)
        self._pending.append(event)
        return event

    def drain(self) -> list[Event]:
        """Events since the last drain (the GUI worker forwards them)."""
        out, self._pending = self._pending, []
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """Parse a JSONL event log; a torn final line (crash mid-write) is skipped."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # the unterminated last line only
                return
            raise ValueError(f"{path}:{number}: corrupt event line") from None
