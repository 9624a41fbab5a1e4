"""Small query helpers with keyword-only arguments; every statement is built by SQLAlchemy (bound)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select, update

from schemas.application import ApplicationView
from store.tables import (
    ApplicationViewRow,
    CycleRow,
    HistoryArchive,
    OutboxMessage,
    OutboxStatus,
    RecommendationRow,
    ResultRow,
    TaskLink,
)

# Cycles


def upsert_cycle(
    session: Session,
    *,
    cycle_id: str,
    programme_id: str,
    year: int,
    started_at: datetime,
    day_seconds: float | None,
    stage: str,
    completed: bool,
    updated_at: datetime,
) -> CycleRow:
    # merge() loads the row with this primary key, if any, and copies these values onto it.
    row = session.merge(
        CycleRow(
            cycle_id=cycle_id,
            programme_id=programme_id,
            year=year,
            started_at=started_at,
            day_seconds=day_seconds,
            stage=stage,
            completed=completed,
            updated_at=updated_at,
        )
    )
    session.flush()
    return row


def get_cycle(session: Session, *, cycle_id: str) -> CycleRow | None:
    return session.get(CycleRow, cycle_id)


def list_cycles(session: Session, *, year: int | None = None) -> list[CycleRow]:
    query = select(CycleRow).order_by(col(CycleRow.year).desc(), col(CycleRow.cycle_id))
    if year is not None:
        query = query.where(CycleRow.year == year)
    return list(session.exec(query))


# Application views (the read model each ApplicationWorkflow writes; clients page through it)

APPLICATION_ORDERS = ("id", "score")
# Each backend's INSERT ... ON CONFLICT: one atomic statement, so racing writers need no retry.
# Typed loosely: the two Insert classes share on_conflict_do_update and excluded, but no base declares them.
_UPSERTS: dict[str, Callable[..., Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _view_values(view: ApplicationView) -> dict[str, Any]:
    values = view.model_dump(mode="json", exclude={"waiting_for", "experts", "deadline"})
    return {
        **values,
        "deadline": view.deadline,
        "waiting_for_json": json.dumps(view.waiting_for, ensure_ascii=False),
        "experts_json": json.dumps(view.experts, ensure_ascii=False),
        "updated_at": datetime.now(UTC),
    }


def upsert_application_view(session: Session, view: ApplicationView) -> bool:
    """Insert the view, or replace the stored one only if `view.sequence` is higher; whether it was written.

    A retried or late activity brings an older sequence and changes nothing, even when two writers race."""
    dialect = session.get_bind().dialect.name
    upsert = _UPSERTS.get(dialect)
    if upsert is None:
        raise NotImplementedError(f"the application read model needs SQLite or PostgreSQL, not {dialect}")
    values = _view_values(view)
    table = ApplicationViewRow.__table__  # type: ignore[attr-defined]
    statement = upsert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.application_id],
        set_={name: statement.excluded[name] for name in values if name != "application_id"},
        where=table.c.sequence < statement.excluded.sequence,
    )
    # Both backends count a conflict whose WHERE fails as no row changed. SQLAlchemy keeps an INSERT's rowcount
    # only when asked: without it psycopg's is -1, and every write on PostgreSQL looked refused.
    statement = statement.execution_options(preserve_rowcount=True)
    return bool(session.exec(statement).rowcount == 1)


def _view(row: ApplicationViewRow) -> ApplicationView:
    values = row.model_dump(exclude={"waiting_for_json", "experts_json", "updated_at"})
    return ApplicationView.model_validate(
        {**values, "waiting_for": json.loads(row.waiting_for_json), "experts": json.loads(row.experts_json)}
    )


def _in_cycle(cycle_id: str, state: str | None, awaiting: str | None = None) -> list[ColumnElement[bool]]:
    conditions = [col(ApplicationViewRow.cycle_id) == cycle_id]
    if state is not None:
        conditions.append(col(ApplicationViewRow.state) == state)
    if awaiting is not None:
        # waiting_for is stored as a JSON list of strings: a quoted element matches only an equal element.
        element = json.dumps(awaiting, ensure_ascii=False)
        conditions.append(col(ApplicationViewRow.waiting_for_json).contains(element, autoescape=True))
    return conditions


def application_page(
    session: Session,
    *,
    cycle_id: str,
    state: str | None,
    offset: int,
    limit: int,
    order: str = "id",
    awaiting: str | None = None,
) -> tuple[list[ApplicationView], int]:
    """One page of a cycle's applications (in `state`, awaiting `awaiting`, if given) and how many match in all.

    Orders: "id" (application id), "score" (final score, highest first, unscored last, then id)."""
    if order not in APPLICATION_ORDERS:
        raise ValueError(f"unknown order {order!r}; known: {', '.join(APPLICATION_ORDERS)}")
    conditions = _in_cycle(cycle_id, state, awaiting)
    total = session.exec(select(func.count()).select_from(ApplicationViewRow).where(*conditions)).one()
    by_id = col(ApplicationViewRow.application_id)
    ordering = [by_id] if order == "id" else [col(ApplicationViewRow.final_score).desc().nulls_last(), by_id]
    query = select(ApplicationViewRow).where(*conditions).order_by(*ordering).offset(offset).limit(limit)
    return [_view(row) for row in session.exec(query)], total


def application_views(
    session: Session, *, cycle_id: str, state: str | None = None, page: int = 500
) -> list[ApplicationView]:
    """Every application of a cycle (in `state` if given), read `page` rows at a time, by id."""
    found: list[ApplicationView] = []
    while True:
        rows, total = application_page(session, cycle_id=cycle_id, state=state, offset=len(found), limit=page)
        found += rows
        if not rows or len(found) >= total:
            return found


def application_counts(session: Session, *, cycle_id: str) -> dict[str, int]:
    """A cycle's applications by state (ApplicationState values); a state none is in is absent."""
    state = col(ApplicationViewRow.state)
    query = select(state, func.count()).where(*_in_cycle(cycle_id, None)).group_by(state)
    return {found: count for found, count in session.exec(query)}


# Results and recommendations (upserted, so a retried activity writes each row once)


def record_results(session: Session, *, cycle_id: str, results: Sequence[ResultRow]) -> None:
    """Upserts by application; `results` carry the values, their `id` and `cycle_id` are ignored."""
    existing = {r.application_id: r for r in list_results(session, cycle_id=cycle_id)}
    for result in results:
        values = result.model_dump(exclude={"id", "cycle_id"})
        row = existing.get(result.application_id)
        if row is None:
            session.add(ResultRow(cycle_id=cycle_id, **values))
        else:
            row.sqlmodel_update(values)
    session.flush()


def list_results(session: Session, *, cycle_id: str) -> list[ResultRow]:
    query = select(ResultRow).where(ResultRow.cycle_id == cycle_id).order_by(col(ResultRow.application_id))
    return list(session.exec(query))


def record_recommendations(session: Session, *, cycle_id: str, recommendations: Sequence[RecommendationRow]) -> None:
    """Upserts by (target programme, application); the `id` and `cycle_id` of the values are ignored."""
    existing = {(r.target_programme, r.application_id): r for r in list_recommendations(session, cycle_id=cycle_id)}
    for recommendation in recommendations:
        values = recommendation.model_dump(exclude={"id", "cycle_id"})
        row = existing.get((recommendation.target_programme, recommendation.application_id))
        if row is None:
            session.add(RecommendationRow(cycle_id=cycle_id, **values))
        else:
            row.sqlmodel_update(values)
    session.flush()


def list_recommendations(
    session: Session, *, cycle_id: str | None = None, target_programme: str | None = None
) -> list[RecommendationRow]:
    query = select(RecommendationRow).order_by(
        col(RecommendationRow.cycle_id),
        col(RecommendationRow.target_programme),
        col(RecommendationRow.application_id),
    )
    if cycle_id is not None:
        query = query.where(RecommendationRow.cycle_id == cycle_id)
    if target_programme is not None:
        query = query.where(RecommendationRow.target_programme == target_programme)
    return list(session.exec(query))


# Task links


def add_task_link(
    session: Session,
    *,
    token_sha256: str,
    task_id: str,
    task_kind: str,
    recipient_id: str,
    recipient_email: str,
    expires_at: datetime,
    created_at: datetime,
) -> TaskLink:
    link = TaskLink(
        token_sha256=token_sha256,
        task_id=task_id,
        task_kind=task_kind,
        recipient_id=recipient_id,
        recipient_email=recipient_email,
        expires_at=expires_at,
        created_at=created_at,
    )
    session.add(link)
    session.flush()
    return link


def find_task_link(session: Session, *, token_sha256: str) -> TaskLink | None:
    return session.get(TaskLink, token_sha256)


def mark_task_link_used(session: Session, *, token_sha256: str, used_at: datetime) -> None:
    session.exec(update(TaskLink).where(col(TaskLink.token_sha256) == token_sha256).values(last_used_at=used_at))


def move_task_link(
    session: Session,
    *,
    token_sha256: str,
    from_kind: str,
    task_kind: str,
    task_id: str | None = None,
    expires_at: datetime | None = None,
) -> bool:
    """Turn a link of `from_kind` into a `task_kind` one, atomically; False when it was no longer `from_kind`."""
    values: dict[str, Any] = {"task_kind": task_kind}
    if task_id is not None:
        values["task_id"] = task_id
    if expires_at is not None:
        values["expires_at"] = expires_at
    statement = (
        update(TaskLink)
        .where(col(TaskLink.token_sha256) == token_sha256)
        .where(col(TaskLink.task_kind) == from_kind)
        .values(**values)
    )
    return bool(session.exec(statement).rowcount == 1)


def revoke_task_links(session: Session, *, task_id: str, recipient_id: str | None = None) -> None:
    """Revoke a task's links: all of them, or one recipient's."""
    statement = update(TaskLink).where(col(TaskLink.task_id) == task_id)
    if recipient_id is not None:
        statement = statement.where(col(TaskLink.recipient_id) == recipient_id)
    session.exec(statement.values(revoked=True))


def extend_task_links(session: Session, *, task_id: str, expires_at: datetime) -> None:
    """Live links of the task expire no earlier than `expires_at`; revoked ones stay revoked."""
    session.exec(
        update(TaskLink)
        .where(col(TaskLink.task_id) == task_id)
        .where(col(TaskLink.revoked).is_(False))
        .where(col(TaskLink.expires_at) < expires_at)
        .values(expires_at=expires_at)
    )


def failed_messages(session: Session, *, cycle_id: str) -> list[OutboxMessage]:
    """Messages whose last send failed, from the cycle itself and from its children (`{cycle}.app-0001`, ...)."""
    sender = col(OutboxMessage.workflow_id)
    statement = (
        select(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.FAILED)
        .where((sender == cycle_id) | sender.startswith(f"{cycle_id}.", autoescape=True))
        .order_by(col(OutboxMessage.created_at))
    )
    return list(session.exec(statement))


# Outbox


def get_outbox_message(session: Session, *, message_id: str) -> OutboxMessage | None:
    return session.get(OutboxMessage, message_id)


def add_outbox_message(
    session: Session,
    *,
    message_id: str,
    workflow_id: str | None,
    purpose: str,
    recipient: str,
    subject: str,
    body_text: str,
    body_html: str,
    in_reply_to: str | None,
    created_at: datetime,
) -> OutboxMessage:
    message = OutboxMessage(
        message_id=message_id,
        workflow_id=workflow_id,
        purpose=purpose,
        recipient=recipient,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        in_reply_to=in_reply_to,
        created_at=created_at,
    )
    session.add(message)
    session.flush()
    return message


def mark_outbox_sent(session: Session, *, message_id: str, sent_at: datetime) -> None:
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.message_id) == message_id)
        .values(status=OutboxStatus.SENT, attempts=OutboxMessage.attempts + 1, sent_at=sent_at, last_error=None)
    )


def mark_outbox_failed(session: Session, *, message_id: str, error: str) -> None:
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.message_id) == message_id)
        .values(status=OutboxStatus.FAILED, attempts=OutboxMessage.attempts + 1, last_error=error)
    )


# History archive


def archive_history(
    session: Session,
    *,
    workflow_id: str,
    run_id: str,
    run_index: int,
    workflow_type: str,
    cycle_id: str,
    closed_at: datetime,
    sha256: str,
    code_version: str,
    history_json: str,
    archived_at: datetime,
) -> HistoryArchive:
    """Upserts by (workflow id, run id), so a retried activity stores each run once."""
    row = session.merge(
        HistoryArchive(
            workflow_id=workflow_id,
            run_id=run_id,
            run_index=run_index,
            workflow_type=workflow_type,
            cycle_id=cycle_id,
            closed_at=closed_at,
            sha256=sha256,
            code_version=code_version,
            history_json=history_json,
            archived_at=archived_at,
        )
    )
    session.flush()
    return row


def list_archived(
    session: Session, *, cycle_id: str | None = None, workflow_id: str | None = None
) -> list[HistoryArchive]:
    """Archived runs by cycle and workflow id, each workflow's chain first run first."""
    query = select(HistoryArchive).order_by(
        col(HistoryArchive.cycle_id), col(HistoryArchive.workflow_id), col(HistoryArchive.run_index)
    )
    if cycle_id is not None:
        query = query.where(HistoryArchive.cycle_id == cycle_id)
    if workflow_id is not None:
        query = query.where(HistoryArchive.workflow_id == workflow_id)
    return list(session.exec(query))


def get_archived(session: Session, *, workflow_id: str, run_id: str) -> HistoryArchive | None:
    return session.get(HistoryArchive, {"workflow_id": workflow_id, "run_id": run_id})


# The console's cycle page


def application_view(session: Session, *, application_id: str) -> ApplicationView | None:
    row = session.get(ApplicationViewRow, application_id)
    return None if row is None else _view(row)


def outcome_counts(session: Session, *, cycle_id: str) -> dict[str, int]:
    """A cycle's concluded applications by outcome (Outcome values); an outcome none has is absent."""
    outcome = col(ApplicationViewRow.outcome)
    query = select(outcome, func.count()).where(*_in_cycle(cycle_id, None), outcome.is_not(None)).group_by(outcome)
    return {found: count for found, count in session.exec(query) if found is not None}
