"""The store on each backend: tables, WAL on SQLite, aware datetimes, and upserts that a retried activity can repeat."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import StatementError

from config.settings import Settings
from store import queries
from store.db import make_engine, session, upgrade
from store.tables import OutboxStatus, RecommendationRow, ResultRow

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path, database_url: str) -> Iterator[Engine]:
    engine = make_engine(Settings(home=tmp_path / "state", database_url=database_url, _env_file=None))
    upgrade(engine)
    yield engine
    engine.dispose()


def test_tables_created_in_home_with_wal(engine: Engine, tmp_path: Path, backend: str) -> None:
    assert {"cycle", "result", "recommendation", "task_link", "outbox_message"} <= set(
        inspect(engine).get_table_names()
    )
    if backend != "sqlite":
        return
    assert (tmp_path / "state" / "awardcycle.db").is_file()
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_upsert_cycle_is_idempotent(engine: Engine) -> None:
    for stage, completed in [("expert_review", False), ("expert_review", False), ("announcement", True)]:
        with session(engine) as s:
            queries.upsert_cycle(
                s,
                cycle_id="sd-2026",
                programme_id="sd",
                year=2026,
                started_at=NOW,
                day_seconds=2.0,
                stage=stage,
                completed=completed,
                updated_at=NOW,
            )
    with session(engine) as s:
        [cycle] = queries.list_cycles(s)
        assert (cycle.stage, cycle.completed) == ("announcement", True)
        assert cycle.started_at == NOW and cycle.started_at.tzinfo is not None


def _result(application_id: str, score: float) -> ResultRow:
    return ResultRow(
        cycle_id="ignored",
        application_id=application_id,
        name=f"企业{application_id}",
        applicant_kind="organisation",
        credit_code=None,
        award="winner",
        final_score=score,
        recorded_at=NOW,
    )


def test_record_results_upserts_by_application(engine: Engine) -> None:
    with session(engine) as s:
        queries.record_results(s, cycle_id="sd-2026", results=[_result("a1", 90.0), _result("a2", 85.0)])
    with session(engine) as s:
        queries.record_results(s, cycle_id="sd-2026", results=[_result("a1", 91.5)])
    with session(engine) as s:
        rows = queries.list_results(s, cycle_id="sd-2026")
    assert [(r.application_id, r.final_score, r.cycle_id) for r in rows] == [
        ("a1", 91.5, "sd-2026"),
        ("a2", 85.0, "sd-2026"),
    ]


def test_record_recommendations_upserts(engine: Engine) -> None:
    recommendation = RecommendationRow(
        cycle_id="ignored",
        target_programme="national",
        application_id="a1",
        name="企业a1",
        applicant_kind="organisation",
        award="winner",
        recorded_at=NOW,
    )
    for _ in range(2):
        with session(engine) as s:
            queries.record_recommendations(s, cycle_id="sd-2026", recommendations=[recommendation])
    with session(engine) as s:
        rows = queries.list_recommendations(s, target_programme="national")
    assert [(r.cycle_id, r.application_id) for r in rows] == [("sd-2026", "a1")]


def test_task_link_lifecycle(engine: Engine) -> None:
    digest = "ab" * 32
    with session(engine) as s:
        queries.add_task_link(
            s,
            token_sha256=digest,
            task_id="sd-2026.consultation-gaj",
            task_kind="consultation",
            recipient_id="gaj",
            recipient_email="quality@gaj.example.cn",
            expires_at=NOW + timedelta(days=10),
            created_at=NOW,
        )
    with session(engine) as s:
        queries.mark_task_link_used(s, token_sha256=digest, used_at=NOW + timedelta(hours=1))
        queries.revoke_task_links(s, task_id="sd-2026.consultation-gaj")
    with session(engine) as s:
        link = queries.find_task_link(s, token_sha256=digest)
        assert queries.find_task_link(s, token_sha256="cd" * 32) is None
    assert link is not None and link.revoked
    assert link.expires_at == NOW + timedelta(days=10) and link.expires_at.tzinfo is not None
    assert link.last_used_at == NOW + timedelta(hours=1)


def test_outbox_attempts(engine: Engine) -> None:
    with session(engine) as s:
        queries.add_outbox_message(
            s,
            message_id="wf/request",
            workflow_id="wf",
            purpose="consultation_request",
            recipient="a@example.cn",
            subject="主题",
            body_text="正文",
            body_html="<p>正文</p>",
            in_reply_to=None,
            created_at=NOW,
        )
    with session(engine) as s:
        queries.mark_outbox_failed(s, message_id="wf/request", error="SMTPConnectError: refused")
    with session(engine) as s:
        queries.mark_outbox_sent(s, message_id="wf/request", sent_at=NOW)
    with session(engine) as s:
        message = queries.get_outbox_message(s, message_id="wf/request")
    assert message is not None
    assert (message.status, message.attempts, message.last_error) == (OutboxStatus.SENT, 2, None)


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime"), session(engine) as s:
        queries.upsert_cycle(
            s,
            cycle_id="x",
            programme_id="x",
            year=2026,
            started_at=datetime(2026, 1, 1),
            day_seconds=None,
            stage="application",
            completed=False,
            updated_at=NOW,
        )
