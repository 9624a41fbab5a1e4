"""The store's schema as Alembic migrations, run from code: no alembic.ini, no working directory needed.

`upgrade(engine)` brings any database to head. A database made by `SQLModel.metadata.create_all` before
migrations existed has tables but no `alembic_version`: it is stamped with the first revision if its
tables are that revision's, and refused otherwise.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlmodel import SQLModel

import store.tables  # registers the tables on SQLModel.metadata
import store.titles  # noqa: F401

FIRST_REVISION = "0001"
VERSION_TABLE = "alembic_version"
# Any fixed 64-bit number: concurrent starters on one PostgreSQL database take turns migrating.
_PG_LOCK_KEY = 0x61776172_64637963


class SchemaError(RuntimeError):
    """The database cannot be brought to head by itself; the message says what to run."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    # env.py runs on this connection (the caller's engine) instead of building one from settings.
    config.attributes["connection"] = connection
    return config


def head() -> str:
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert found is not None, "store/migrations/versions has no revision"
    return found


def current(engine: Engine) -> str | None:
    """The revision the database is at; None for one that migrations never touched."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to `revision`, stamping a database that create_all made before migrations existed."""
    with engine.begin() as connection:
        _take_turns(connection)
        config = alembic_config(connection)
        if _unversioned_tables(connection):
            _check_matches_first_revision(connection, engine)
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, revision)


def _take_turns(connection: Connection) -> None:
    """Hold the database's migration lock to the end of the transaction: processes starting together (`awardcycle
    web` beside workers) migrate one after the other, and the later ones find the schema at head."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # pysqlite begins a transaction only before DML; the write lock now makes the DDL part of it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def stamp(engine: Engine, revision: str) -> None:
    """Record `revision` as applied without running anything (after bringing the schema there by hand)."""
    with engine.begin() as connection:
        command.stamp(alembic_config(connection), revision)


def drift(connection: Connection) -> list[object]:
    """What autogenerate would add to a new revision: the differences between the database and the models."""
    return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


def _unversioned_tables(connection: Connection) -> set[str]:
    names = set(inspect(connection).get_table_names())
    return set() if VERSION_TABLE in names else names


def _columns(connection: Connection) -> dict[str, set[str]]:
    found = inspect(connection)
    return {t: {c["name"] for c in found.get_columns(t)} for t in found.get_table_names() if t != VERSION_TABLE}


@cache
def _first_revision_columns() -> dict[str, set[str]]:
    """The tables and columns the first revision creates, as built in a scratch in-memory SQLite database."""
    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as connection:
            command.upgrade(alembic_config(connection), FIRST_REVISION)
            return _columns(connection)
    finally:
        scratch.dispose()


def _check_matches_first_revision(connection: Connection, engine: Engine) -> None:
    expected, found = _first_revision_columns(), _columns(connection)
    differences = [f"table {t} is missing" for t in sorted(expected.keys() - found.keys())]
    differences += [f"table {t} is not in it" for t in sorted(found.keys() - expected.keys())]
    for table in sorted(expected.keys() & found.keys()):
        differences += [f"{table}.{c} is missing" for c in sorted(expected[table] - found[table])]
        differences += [f"{table}.{c} is not in it" for c in sorted(found[table] - expected[table])]
    if differences:
        where = engine.url.render_as_string(hide_password=True)
        raise SchemaError(
            f"the database {where} has tables but no migration record, and they are not those of the first "
            f"migration ({'; '.join(differences)}): point AWARDCYCLE_DATABASE_URL at an empty database and run "
            f"`awardcycle db upgrade`, or bring these tables to migration {FIRST_REVISION} by hand and run "
            f"`awardcycle db stamp {FIRST_REVISION}`"
        )
