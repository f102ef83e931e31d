"""The application's SQLite database: one file, WAL mode, one `Base` for every table.

Each store declares its tables on `Base`, calls `Database.create_tables()` and then
`Database.ensure_schema(component, version, upgrades)`, so an old file is upgraded step by
step and a file written by a newer FutBot is refused instead of being misread.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Integer, String, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

STATE_DIR = Path(__file__).resolve().parent.parent.parent / "state"
DEFAULT_DB_PATH = STATE_DIR / "futbot.sqlite"

# One upgrade step takes a component's tables from version v to v + 1 inside a transaction.
Upgrade = Callable[[Connection], None]


class PersistenceError(RuntimeError):
    """The database cannot be used as it is (wrong schema version, missing upgrade)."""


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"

    component: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the GUI read while the engine writes; busy_timeout waits out a writer
    # instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sqlite_engine(path: str | Path) -> Engine:
    """A SQLAlchemy engine on one SQLite file with FutBot's pragmas on every connection."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """An engine plus a session factory for one SQLite file."""

    def __init__(self, path: str | Path = DEFAULT_DB_PATH) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise PersistenceError(f"database path {self.path} is a directory; expected a SQLite file")
        self.engine: Engine = sqlite_engine(self.path)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def create_tables(self) -> None:
        """Create every table declared on `Base` that does not exist yet.

        Two connections (the GUI and the engine thread, or two processes) opening a new file
        at once can both see a table missing; the loser's CREATE fails, and a second pass
        then finds every table in place.
        """
        try:
            Base.metadata.create_all(self.engine)
        except OperationalError as exc:
            if "already exists" not in str(exc):
                raise
            Base.metadata.create_all(self.engine)

    def schema_version(self, component: str) -> int | None:
        with self.session() as session:
            return session.scalar(select(SchemaVersion.version).where(SchemaVersion.component == component))

    def ensure_schema(self, component: str, version: int, upgrades: Mapping[int, Upgrade] | None = None) -> None:
        """Record `component` at `version`, upgrading an older file with `upgrades[v]` (v -> v+1)."""
        if version < 1:
            raise ValueError(f"schema version of {component!r} must be >= 1, got {version}")
        steps = upgrades or {}
        with self.engine.begin() as conn:
            stored = conn.scalar(select(SchemaVersion.version).where(SchemaVersion.component == component))
            if stored is None:
                conn.execute(SchemaVersion.__table__.insert().values(component=component, version=version))
                return
            if stored > version:
                raise PersistenceError(
                    f"{self.path}: {component} tables are at schema version {stored}, newer than this "
                    f"FutBot understands ({version}); upgrade FutBot or use another database file"
                )
            for step in range(stored, version):
                if step not in steps:
                    raise PersistenceError(
                        f"{self.path}: no upgrade for {component} from schema version {step} to {step + 1}"
                    )
                steps[step](conn)
            if stored != version:
                conn.execute(
                    SchemaVersion.__table__.update()
                    .where(SchemaVersion.component == component)
                    .values(version=version)
                )

    def close(self) -> None:
        self.engine.dispose()
