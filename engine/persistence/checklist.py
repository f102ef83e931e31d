"""Burn-in checklist ticks per trading day, kept in the application database.

One row per (day, item): whether it is ticked, by whom ("auto" from live state or "user"),
a note and when it last changed. A user's tick always wins over the auto rules for that day.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, get_args

from sqlalchemy import Boolean, Date, DateTime, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.observability.checklist_rules import ChecklistTemplate, Verdict
from engine.persistence.db import Base, Database

SCHEMA_VERSION = 1

TickSource = Literal["auto", "user"]


class _TickRow(Base):
    __tablename__ = "checklist_ticks"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    checked: Mapped[bool] = mapped_column(Boolean, nullable=False)
    by: Mapped[str] = mapped_column(String(8), nullable=False)
    note: Mapped[str] = mapped_column(String, nullable=False, default="")
    ts: Mapped[datetime] = mapped_column(DateTime, nullable=False)   # naive UTC (SQLite keeps no zone)


class _DayRow(Base):
    __tablename__ = "checklist_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    total: Mapped[int] = mapped_column(Integer, nullable=False)   # items in the template that day


@dataclass(frozen=True, slots=True)
class Tick:
    item_id: str
    checked: bool
    by: TickSource
    note: str
    ts: datetime   # tz-aware UTC


@dataclass(frozen=True, slots=True)
class DayRecord:
    day: date
    done: int
    total: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _tick(row: _TickRow) -> Tick:
    return Tick(row.item_id, row.checked, row.by, row.note, row.ts.replace(tzinfo=UTC))  # type: ignore[arg-type]


class ChecklistStore:
    def __init__(self, db: Database, template: ChecklistTemplate, clock: Callable[[], datetime] = _utc_now) -> None:
        self._db = db
        self._template = template
        self._item_ids = {item.id for item in template.items}
        self._clock = clock
        db.create_tables()
        db.ensure_schema("checklist", SCHEMA_VERSION)

    def load(self, day: date) -> dict[str, Tick]:
        """The ticks recorded on `day`, by item id (items never touched are absent)."""
        with self._db.session() as session:
            rows = session.scalars(select(_TickRow).where(_TickRow.day == day))
            return {row.item_id: _tick(row) for row in rows}

    def set(self, day: date, item_id: str, checked: bool, by: TickSource, note: str = "") -> Tick:
        self._check(item_id, by)
        with self._db.session() as session:
            row = self._write(session, day, item_id, checked, by, note)
            return _tick(row)

    def record_auto(self, day: date, verdicts: Mapping[str, Verdict]) -> list[str]:
        """Store auto verdicts, leaving items the user has set alone; returns the ids that changed."""
        changed: list[str] = []
        with self._db.session() as session:
            for item_id, verdict in verdicts.items():
                self._check(item_id, "auto")
                row = session.get(_TickRow, (day, item_id))
                if row is not None and (row.by == "user" or (row.checked, row.note) == (verdict.checked, verdict.note)):
                    continue
                self._write(session, day, item_id, verdict.checked, "auto", verdict.note)
                changed.append(item_id)
        return changed

    def history(self) -> list[DayRecord]:
        """Every day with a recorded tick, newest first, with how many items were ticked."""
        done = (
            select(_TickRow.day, func.count().label("done"))
            .where(_TickRow.checked.is_(True))
            .group_by(_TickRow.day)
            .subquery()
        )
        query = (
            select(_DayRow.day, func.coalesce(done.c.done, 0), _DayRow.total)
            .outerjoin(done, done.c.day == _DayRow.day)
            .order_by(_DayRow.day.desc())
        )
        with self._db.session() as session:
            return [DayRecord(day, n_done, total) for day, n_done, total in session.execute(query)]

    def _check(self, item_id: str, by: str) -> None:
        if item_id not in self._item_ids:
            raise ValueError(f"checklist item {item_id!r} is not in the template; known ids: {sorted(self._item_ids)}")
        if by not in get_args(TickSource):
            raise ValueError(f"checklist tick source must be 'auto' or 'user', got {by!r}")

    def _write(self, session: Session, day: date, item_id: str, checked: bool, by: str, note: str) -> _TickRow:
        now = self._clock().astimezone(UTC).replace(tzinfo=None)
        row = session.get(_TickRow, (day, item_id))
        if row is None:
            row = _TickRow(day=day, item_id=item_id)
            session.add(row)
        row.checked, row.by, row.note, row.ts = checked, by, note, now
        day_row = session.get(_DayRow, day)
        if day_row is None:
            session.add(_DayRow(day=day, total=len(self._template.items)))
        else:
            day_row.total = len(self._template.items)
        return row
