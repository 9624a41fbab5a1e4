"""Table models: documents and read models written by activities and web handlers.

They are never returned by the API directly; the web layer maps them to its own public models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Dialect, Index, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: an instant needs a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CycleRow(SQLModel, table=True):
    __tablename__ = "cycle"

    cycle_id: str = Field(primary_key=True)
    programme_id: str = Field(index=True)
    year: int = Field(index=True)
    started_at: datetime = Field(sa_type=UTCDateTime)
    day_seconds: float | None = None
    stage: str
    completed: bool = False
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ResultRow(SQLModel, table=True):
    __tablename__ = "result"
    __table_args__ = (UniqueConstraint("cycle_id", "application_id"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(index=True)
    application_id: str
    name: str
    applicant_kind: str
    credit_code: str | None = None
    award: str = Field(description='"winner" or "nomination"')
    final_score: float | None = None
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class RecommendationRow(SQLModel, table=True):
    """A winner one programme recommends to a higher-tier programme."""

    __tablename__ = "recommendation"
    __table_args__ = (UniqueConstraint("cycle_id", "target_programme", "application_id"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(index=True)
    target_programme: str = Field(index=True)
    application_id: str
    name: str
    applicant_kind: str
    credit_code: str | None = None
    award: str
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class TaskLink(SQLModel, table=True):
    """An emailed task link; only the SHA-256 of its token is kept."""

    __tablename__ = "task_link"

    token_sha256: str = Field(primary_key=True, min_length=64, max_length=64)
    task_id: str = Field(index=True, description="workflow id of the task")
    task_kind: str = Field(description='"consultation", ...')
    recipient_id: str
    recipient_email: str
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(SQLModel, table=True):
    """One email, written before the SMTP send and marked sent after it."""

    __tablename__ = "outbox_message"

    message_id: str = Field(primary_key=True)
    workflow_id: str | None = Field(default=None, index=True, description="the sender; none outside a workflow")
    purpose: str = Field(description="the template it was rendered from")
    recipient: str
    subject: str
    body_text: str
    body_html: str
    in_reply_to: str | None = None
    status: str = Field(default=OutboxStatus.PENDING, index=True, description="an OutboxStatus value")
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class HistoryArchive(SQLModel, table=True):
    """The exported event history of one closed run of a workflow, kept so it can be replayed without Temporal.

    A workflow that continues as new has a chain of runs under one workflow id; `run_index` orders them.
    """

    __tablename__ = "history_archive"
    # One chain per workflow id: ids are never reused (cycles are started with REJECT_DUPLICATE).
    __table_args__ = (UniqueConstraint("workflow_id", "run_index"),)

    workflow_id: str = Field(primary_key=True)
    run_id: str = Field(primary_key=True)
    run_index: int = Field(description="0 for the first run of the chain, then one more for each continue-as-new")
    workflow_type: str
    cycle_id: str = Field(index=True)
    closed_at: datetime = Field(sa_type=UTCDateTime)
    sha256: str = Field(min_length=64, max_length=64, description="hex SHA-256 of history_json's UTF-8 bytes")
    code_version: str = Field(description="package version + hash of the workflow code that ran it")
    history_json: str = Field(sa_type=Text)
    archived_at: datetime = Field(sa_type=UTCDateTime)


class DeliveryRow(SQLModel, table=True):
    """One recommendation on its way from a cycle to an edition of a programme it feeds."""

    __tablename__ = "recommendation_delivery"
    __table_args__ = (UniqueConstraint("from_cycle", "target_programme", "holder_key"),)

    id: int | None = Field(default=None, primary_key=True)
    from_cycle: str = Field(index=True)
    from_programme: str
    target_programme: str = Field(index=True)
    target_year: int | None = Field(default=None, index=True)
    target_cycle: str | None = None
    holder_key: str = Field(index=True)
    name: str
    award: str
    applicant_json: str = Field(sa_type=Text, description="the RecommendedApplicant as JSON")
    state: str = Field(description="a DeliveryState value")
    reason: str = ""
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ApplicationRecord(SQLModel, table=True):
    """How one application ended, kept for eligibility in later years and the ladder view."""

    __tablename__ = "application_record"

    application_id: str = Field(primary_key=True)
    cycle_id: str = Field(index=True)
    programme_id: str = Field(index=True)
    year: int = Field(index=True)
    holder_key: str = Field(index=True)
    name: str
    applicant_kind: str
    credit_code: str | None = None
    outcome: str
    direct: bool = False
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class ApplicationViewRow(SQLModel, table=True):
    """One application as the web pages and CLI list it, written by its ApplicationWorkflow at every change.

    A write carries an increasing `sequence`; store.queries.upsert_application_view never lets an older
    write replace a newer one, however activities retry or race."""

    __tablename__ = "application_view"
    # Pages, filters and counts are always within one cycle.
    __table_args__ = (Index("ix_application_view_cycle_state", "cycle_id", "state"),)

    application_id: str = Field(primary_key=True)
    cycle_id: str = Field(index=True)
    sequence: int = Field(description="of the write stored; only a higher one replaces it")
    name: str
    applicant_kind: str
    credit_code: str | None = None
    category: str
    region: str = ""
    direct: bool = False
    state: str = Field(description="an ApplicationState value")
    stage: str | None = Field(default=None, description="a StageKind value")
    deadline: datetime | None = Field(default=None, sa_type=UTCDateTime)
    waiting_for_json: str = Field(default="[]", sa_type=Text, description="JSON list of who the application awaits")
    experts_json: str = Field(default="[]", sa_type=Text, description="JSON list of the drawn experts' ids")
    expert_score: float | None = None
    final_score: float | None = None
    outcome: str | None = Field(default=None, description="an Outcome value")
    reason: str = Field(default="", sa_type=Text)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class HolidayCalendarRow(SQLModel, table=True):
    """A year's holiday calendar supplied while cycles run; a cycle waiting for that year then goes on."""

    __tablename__ = "holiday_calendar"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    holidays_json: str = Field(sa_type=Text, description="JSON list of ISO dates off")
    workdays_json: str = Field(sa_type=Text, description="JSON list of ISO weekend dates worked (调休)")
    supplied_by: str
    supplied_at: datetime = Field(sa_type=UTCDateTime)


class UserAccount(SQLModel, table=True):
    """A person who runs programmes: coordinators, secretariat, on-site teams, auditors, admins."""

    __tablename__ = "user_account"

    username: str = Field(primary_key=True, max_length=64)
    name_zh: str = Field(max_length=100)
    email: str = Field(max_length=200)
    password_hash: str = Field(description="argon2id, PHC string")
    disabled: bool = False
    must_change_password: bool = Field(default=False, description="set while the password is a one-time one")
    failed_logins: int = Field(default=0, description="consecutive failures since the last success")
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class UserGrant(SQLModel, table=True):
    """`ROLE@PROGRAMME` held by an account (programme `*` for all)."""

    __tablename__ = "user_grant"
    __table_args__ = (UniqueConstraint("username", "role", "programme"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, foreign_key="user_account.username")
    role: str = Field(description="an AccountRole value")
    programme: str
    granted_by: str
    granted_at: datetime = Field(sa_type=UTCDateTime)


class AccessToken(SQLModel, table=True):
    """A login's bearer token or session cookie; only the SHA-256 of the token is kept."""

    __tablename__ = "access_token"

    token_sha256: str = Field(primary_key=True, min_length=64, max_length=64)
    username: str = Field(index=True, foreign_key="user_account.username")
    channel: str = Field(description='"api", "cli" or "console": where the token is used')
    client_address: str
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthEvent(SQLModel, table=True):
    """Logins, failures, lock-outs, logouts and every change to an account, for the auditors."""

    __tablename__ = "auth_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    kind: str = Field(description="an AuthEventKind value")
    username: str = Field(index=True, description="the account concerned, as typed for a failed login")
    by: str = Field(description='who did it: the user, an admin, or "operator" for local commands')
    client_address: str
    detail: str = ""
