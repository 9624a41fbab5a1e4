"""`awardcycle db ...`: the store's schema migrations (operator access). `up`, `worker` and `web` upgrade on
start by themselves; these commands do it beforehand, or show where a database stands.

Imported at the bottom of awardcycle/cli.py, whose helpers it uses; import that module, not this one, first.
"""

from __future__ import annotations

from typing import Annotated

import typer

from awardcycle.cli import fail, out
from config.settings import get_settings

db_app: typer.Typer = typer.Typer(help="The store's schema migrations (operator access).", no_args_is_help=True)


def _where() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url_resolved).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the configured store to the newest migration (a database without tables gets them all)."""
    from store import migrations
    from store.db import make_engine

    engine = make_engine(get_settings())
    try:
        before = migrations.current(engine)
        migrations.upgrade(engine)
        after = migrations.current(engine)
    except migrations.SchemaError as error:
        fail(str(error))
    finally:
        engine.dispose()
    change = "already at" if before == after else f"{before or 'empty'} →"
    out.print(f"{_where()}: {change} {after} (head)", highlight=False, soft_wrap=True)


@db_app.command("current")
def db_current() -> None:
    """The migration the configured store is at, and the newest one."""
    from store import migrations
    from store.db import make_engine

    engine = make_engine(get_settings())
    try:
        found = migrations.current(engine)
    finally:
        engine.dispose()
    head = migrations.head()
    state = "up to date" if found == head else f"behind: run `awardcycle db upgrade` to reach {head}"
    out.print(f"{_where()}: {found or 'no migration applied'} ({state})", highlight=False, soft_wrap=True)


@db_app.command("stamp")
def db_stamp(revision: Annotated[str, typer.Argument(help="the migration the schema is at, e.g. 0001")]) -> None:
    """Record that the schema is at REVISION without running anything (after bringing it there by hand)."""
    from alembic.util import CommandError

    from store import migrations
    from store.db import make_engine

    engine = make_engine(get_settings())
    try:
        migrations.stamp(engine, revision)
    except CommandError as error:
        fail(str(error))
    finally:
        engine.dispose()
    out.print(f"{_where()}: stamped {revision}", highlight=False, soft_wrap=True)
