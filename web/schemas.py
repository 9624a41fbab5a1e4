"""What the JSON API takes and returns, apart from the workflow models it passes through unchanged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from schemas.common import HolidayCalendar, Model
from schemas.consultation import Candidate, CandidateOpinion
from schemas.programme import Level, Recommendation

# A dot separates a cycle's id from its children's (`{cycle}.app-0001`), so a cycle id has none.
CYCLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"


class Detail(Model):
    """Every refusal: one line saying why."""

    detail: str


# What every route behind a login may answer besides its own result.
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": Detail}, 403: {"model": Detail}, 404: {"model": Detail}}


class ProgrammeSummary(Model):
    id: str
    name_zh: str
    name_en: str
    level: Level
    every_years: int
    feeds: list[Recommendation]


class ProgrammesPublic(Model):
    data: list[ProgrammeSummary]
    count: int


class CycleStart(Model):
    programme: str
    year: int = Field(ge=2000, le=2100)
    day_seconds: float | None = Field(
        default=None, ge=0.1, le=86400, description="a rehearsal: real seconds per cycle day (0.1 to 86400)"
    )
    holidays: HolidayCalendar | None = Field(
        default=None, description="the year's holiday calendar, when the library does not cover it yet"
    )
    cycle_id: str | None = Field(default=None, pattern=CYCLE_ID_PATTERN)


class CycleStarted(Model):
    cycle_id: str


class CyclePublic(Model):
    cycle_id: str
    programme_id: str
    year: int
    started_at: datetime
    day_seconds: float | None
    stage: str
    completed: bool
    updated_at: datetime


class CyclesPublic(Model):
    data: list[CyclePublic]
    count: int


class DepartmentPublic(Model):
    id: str
    name_zh: str
    name_en: str


class TaskPublic(Model):
    """What a task link shows its recipient."""

    task_id: str
    kind: str
    programme_name_zh: str
    deadline: datetime
    department: DepartmentPublic
    candidates: list[Candidate]
    answered: bool
    revision: int
    answers: list[CandidateOpinion]


class TaskAnswers(Model):
    """A department's answer through its link; the link itself says who is answering."""

    answers: list[CandidateOpinion]
    expected_revision: int | None = Field(
        default=None, description="the revision this answer replaces; a stale one is refused"
    )


class ScoringAnswers(Model):
    """A drawn expert's score through the link; the link itself says who is scoring."""

    scores: dict[str, float] = Field(description="points per second-level indicator id")
    comment: str = Field(default="", max_length=4000)
    expected_revision: int | None = Field(
        default=None, description="the revision this score replaces; a stale one is refused"
    )


class MessagePublic(Model):
    """An outbox message without its body (a body may carry a task link)."""

    message_id: str
    workflow_id: str | None
    purpose: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class MessagesPublic(Model):
    data: list[MessagePublic]
    count: int


class Health(Model):
    temporal: str
    store: str


class AccessTokenPublic(Model):
    """The OAuth2 token response."""

    access_token: str
    token_type: str
    expires_in: int = Field(description="seconds until the token expires")
