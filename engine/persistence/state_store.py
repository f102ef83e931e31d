"""Named JSON documents of engine state (risk state, kill switch) in the app database."""
from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import BigInteger, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, Database

SCHEMA_VERSION = 1


class StateDocument(Base):
    __tablename__ = "engine_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    updated_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)


class StateStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create_tables()
        db.ensure_schema("engine_state", SCHEMA_VERSION)

    def save(self, key: str, document: dict[str, Any]) -> None:
        """Replace the document under `key`; committed before this returns."""
        body = json.dumps(document, allow_nan=False, sort_keys=True)
        with self.db.session() as s:
            row = s.get(StateDocument, key)
            if row is None:
                s.add(StateDocument(key=key, body=body, updated_ns=time.time_ns()))
            else:
                row.body, row.updated_ns = body, time.time_ns()

    def load(self, key: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            body = s.scalar(select(StateDocument.body).where(StateDocument.key == key))
        return None if body is None else json.loads(body)

    def delete(self, key: str) -> None:
        with self.db.session() as s:
            row = s.get(StateDocument, key)
            if row is not None:
                s.delete(row)
