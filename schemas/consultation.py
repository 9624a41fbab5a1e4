"""The consultation of one department about the shortlisted candidates."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.calendar import HOLIDAYS_MISSING, CalendarSpec
from schemas.common import Actor, Model, RehearsalClock
from schemas.notification import EMAIL_PATTERN
from schemas.programme import Department, OverduePolicy


class Candidate(Model):
    """What a department or the public sees of a shortlisted application."""

    application_id: str
    name: str
    applicant_kind: str
    credit_code: str | None
    category: str
    region: str
    proposed_award: str = Field(description='"winner" or "nomination"')


class Opinion(StrEnum):
    NO_OBJECTION = "no_objection"
    OBJECTION = "objection"


class CandidateOpinion(Model):
    application_id: str
    opinion: Opinion
    reason: str = Field(default="", max_length=2000)


class ConsultationInput(Model):
    cycle_id: str
    cycle_name_zh: str
    programme_name_zh: str
    department: Department
    candidates: list[Candidate]
    deadline: datetime
    reminders: list[datetime]
    reminder_days: list[int] = Field(
        default_factory=list, description="working days before the deadline; a moved deadline gets its reminders"
    )
    overdue_policy: OverduePolicy
    clock: RehearsalClock
    calendar: CalendarSpec


class ConsultationAnswer(Model):
    actor: Actor
    answers: list[CandidateOpinion]
    expected_revision: int | None = Field(
        default=None, description="the revision this answer replaces; a stale one is rejected"
    )
    client_address: str | None = Field(default=None, max_length=100, description="where a link answer came from")


class LinkResend(Model):
    """The coordinator sends the task a new link, optionally to another address; earlier links stop working."""

    actor: Actor
    email: str | None = Field(default=None, pattern=EMAIL_PATTERN, description="none: the current address")
    reason: str = Field(min_length=1, max_length=2000)


class ObjectionDecision(Model):
    """The coordinator keeps a candidate despite a department's objection, or drops it."""

    actor: Actor
    application_id: str
    keep: bool
    reason: str = Field(min_length=1, max_length=2000)


class OverdueAction(StrEnum):
    DEEM_NO_OBJECTION = "deem_no_objection"
    EXTEND = "extend"


class OverdueResolution(Model):
    actor: Actor
    action: OverdueAction
    working_days: int = Field(default=0, ge=0, le=60)
    reason: str = Field(min_length=1, max_length=2000)


class DeadlineExtension(Model):
    """A coordinator moves the deadline of the open stage, with a reason."""

    actor: Actor
    working_days: int = Field(ge=1, le=120)
    reason: str = Field(min_length=1, max_length=2000)


class ObjectionRecord(Model):
    application_id: str
    reason: str
    decided: bool = False
    keep: bool | None = None
    decision_reason: str = ""


class ConsultationStatus(Model):
    workflow_id: str
    department_id: str
    department_name_zh: str
    deadline: datetime
    answered: bool
    overdue: bool
    revision: int
    answers: list[CandidateOpinion]
    answered_by: Actor | None
    objections: list[ObjectionRecord]
    waiting_for: list[str]
    recipient_email: str | None = Field(default=None, description="where the task link was last sent")
    holidays_missing: int | None = Field(default=None, description=HOLIDAYS_MISSING)


class ConsultationResult(Model):
    department_id: str
    answered_by: Actor | None
    answers: list[CandidateOpinion]
    dropped: list[str] = Field(description="application ids the coordinator dropped on an objection")
