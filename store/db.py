"""The engine (SQLite by default, PostgreSQL by URL) and a unit-of-work session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from config.settings import Settings


def make_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url_resolved)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # The worker's activity threads and the web app share one engine.
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web app read while an activity writes; busy_timeout waits out a writer's lock.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (store/migrations); a database create_all made is stamped."""
    from store import migrations  # alembic takes 0.4 s to import: only what migrates pays for it

    migrations.upgrade(engine)


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """Commits when the block ends normally, rolls back when it raises."""
    with Session(engine, expire_on_commit=False) as s:
        yield s
        s.commit()
