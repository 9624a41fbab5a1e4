"""The schema comes from store/migrations, on SQLite and on PostgreSQL: a store at the first migration keeps its
rows up to head, head is what the models say, and a database create_all made before migrations is taken over."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, inspect, text
from sqlmodel import SQLModel

from config.settings import Settings
from schemas.identity import Grant
from store import accounts, migrations, queries
from store.db import make_engine, session
from store.tables import ApplicationViewRow, OutboxMessage

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
CYCLE = "qingdao-mayor-quality-award-2026"
# Rows as the first migration's tables hold them, written through the reflected tables and not the models,
# so that the test keeps meaning what it says once the models move on past the first migration.
FIRST_REVISION_ROWS: dict[str, list[dict[str, object]]] = {
    "user_account": [
        {
            "username": "wang", "name_zh": "王协调", "email": "wang@example.cn", "password_hash": "$argon2id$x",
            "disabled": False, "must_change_password": False, "failed_logins": 0, "locked_until": None,
            "created_at": NOW,
        }
    ],
    "user_grant": [
        {"username": "wang", "role": "coordinator", "programme": "*", "granted_by": "operator", "granted_at": NOW}
    ],
    "cycle": [
        {
            "cycle_id": CYCLE, "programme_id": "qingdao-mayor-quality-award", "year": 2026, "started_at": NOW,
            "day_seconds": 1.0, "stage": "consultation", "completed": False, "updated_at": NOW,
        }
    ],
    "application_view": [
        {
            "application_id": f"{CYCLE}.app-0001", "cycle_id": CYCLE, "sequence": 7, "name": "青岛某某有限公司",
            "applicant_kind": "organisation", "credit_code": None, "category": "manufacturing", "region": "",
            "direct": False, "state": "expert_review", "stage": "expert_review", "deadline": NOW + timedelta(days=9),
            "waiting_for_json": '["departments"]', "experts_json": '["qdm-01"]', "expert_score": 88.5,
            "final_score": None, "outcome": None, "reason": "", "updated_at": NOW,
        }
    ],
    "outbox_message": [
        {
            "message_id": f"{CYCLE}.consultation-gaj/request", "workflow_id": f"{CYCLE}.consultation-gaj",
            "purpose": "consultation_request", "recipient": "gaj@example.cn", "subject": "征求意见",
            "body_text": "正文",
            "body_html": "<p>正文</p>", "in_reply_to": None, "status": "sent", "attempts": 1, "last_error": None,
            "created_at": NOW, "sent_at": NOW,
        }
    ],
}  # fmt: skip


@pytest.fixture
def empty_store(tmp_path: Path, database_url: str) -> Iterator[Engine]:
    """An empty database on the test's backend: no tables, no migration record."""
    engine = make_engine(Settings(home=tmp_path / "state", database_url=database_url, _env_file=None))
    yield engine
    engine.dispose()


def write_first_revision_rows(engine: Engine) -> None:
    tables = MetaData()
    with engine.begin() as connection:
        tables.reflect(connection)
        for name, rows in FIRST_REVISION_ROWS.items():
            connection.execute(tables.tables[name].insert(), rows)


def assert_rows_kept(engine: Engine) -> None:
    """The rows read back through the models and the store's queries, as the application reads them."""
    with session(engine) as s:
        [account] = accounts.list_accounts(s)
        assert (account.username, [str(g) for g in account.grants]) == ("wang", ["coordinator@*"])
        cycle = queries.get_cycle(s, cycle_id=CYCLE)
        assert cycle is not None and cycle.started_at == NOW and cycle.stage == "consultation"
        [view], total = queries.application_page(s, cycle_id=CYCLE, state=None, offset=0, limit=10)
        assert total == 1 and view.sequence == 7 and view.waiting_for == ["departments"]
        assert view.deadline == NOW + timedelta(days=9) and view.expert_score == 88.5
        assert s.get(ApplicationViewRow, view.application_id) is not None
        message = s.get(OutboxMessage, f"{CYCLE}.consultation-gaj/request")
        assert message is not None and message.sent_at == NOW and message.subject == "征求意见"


def test_a_store_at_the_first_migration_keeps_its_rows_to_head(empty_store: Engine) -> None:
    migrations.upgrade(empty_store, migrations.FIRST_REVISION)
    assert migrations.current(empty_store) == migrations.FIRST_REVISION
    write_first_revision_rows(empty_store)
    migrations.upgrade(empty_store)
    assert migrations.current(empty_store) == migrations.head()
    assert_rows_kept(empty_store)
    migrations.upgrade(empty_store)  # a second start changes nothing
    assert_rows_kept(empty_store)


def test_head_is_what_the_models_say(empty_store: Engine) -> None:
    migrations.upgrade(empty_store)
    with empty_store.connect() as connection:
        assert migrations.drift(connection) == [], "a model changed without a migration: autogenerate one"
    assert set(inspect(empty_store).get_table_names()) == {*SQLModel.metadata.tables, migrations.VERSION_TABLE}


def test_the_first_migration_downgrades_to_nothing(empty_store: Engine) -> None:
    migrations.upgrade(empty_store)
    with empty_store.begin() as connection:
        command.downgrade(migrations.alembic_config(connection), "base")
    assert set(inspect(empty_store).get_table_names()) <= {migrations.VERSION_TABLE}
    migrations.upgrade(empty_store)
    assert migrations.current(empty_store) == migrations.head()


def as_create_all_made_it(engine: Engine) -> None:
    """The tables every start made with create_all before migrations: the first migration's, without its record."""
    migrations.upgrade(engine, migrations.FIRST_REVISION)
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {migrations.VERSION_TABLE}"))


def test_a_store_create_all_made_is_stamped_and_keeps_its_rows(empty_store: Engine) -> None:
    as_create_all_made_it(empty_store)
    write_first_revision_rows(empty_store)
    assert migrations.current(empty_store) is None
    migrations.upgrade(empty_store)
    assert migrations.current(empty_store) == migrations.head()
    assert_rows_kept(empty_store)


def test_a_store_with_other_tables_is_refused_with_what_to_run(
    empty_store: Engine, tmp_path: Path, database_url: str
) -> None:
    as_create_all_made_it(empty_store)
    with empty_store.begin() as connection:
        connection.execute(text("ALTER TABLE title DROP COLUMN public_reason"))
        connection.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY)"))
    with pytest.raises(migrations.SchemaError) as refused:
        migrations.upgrade(empty_store)
    reason = str(refused.value)
    assert "title.public_reason is missing" in reason and "table scratch is not in it" in reason
    assert "`awardcycle db upgrade`" in reason and f"`awardcycle db stamp {migrations.FIRST_REVISION}`" in reason
    assert migrations.current(empty_store) is None
    assert migrations.VERSION_TABLE not in inspect(empty_store).get_table_names(), "nothing was recorded"
    refused_command = awardcycle(tmp_path, database_url, "upgrade")  # as `worker` and `up` refuse to start
    assert refused_command.returncode == 1 and refused_command.stdout == ""
    assert refused_command.stderr.strip().splitlines() == [f"error: {reason}"], refused_command.stderr


def test_the_accounts_and_queries_work_at_head(empty_store: Engine) -> None:
    migrations.upgrade(empty_store)
    with session(empty_store) as s:
        accounts.add_account(
            s, "li", name_zh="李审计", email="li@example.cn", password="correct-horse-battery",
            grants=[Grant.parse("auditor@*")], by=accounts.OPERATOR, address="local",
        )  # fmt: skip
    with session(empty_store) as s:
        assert [a.username for a in accounts.list_accounts(s)] == ["li"]


def awardcycle(home: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWARDCYCLE_")}
    env |= {"AWARDCYCLE_HOME": str(home), "AWARDCYCLE_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "awardcycle", "db", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_db_current_and_upgrade_commands(tmp_path: Path, database_url: str) -> None:
    found = awardcycle(tmp_path, database_url, "current")
    assert found.returncode == 0 and "no migration applied (behind: run `awardcycle db upgrade`" in found.stdout
    head = migrations.head()
    upgraded = awardcycle(tmp_path, database_url, "upgrade")
    assert upgraded.returncode == 0 and f"empty → {head} (head)" in upgraded.stdout, upgraded.stderr
    found = awardcycle(tmp_path, database_url, "current")
    assert found.returncode == 0 and f"{head} (up to date)" in found.stdout, found.stderr
