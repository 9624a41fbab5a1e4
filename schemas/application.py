"""The application form and the protocol between a cycle and its ApplicationWorkflows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.calendar import CalendarSpec
from schemas.common import Actor, Model, RehearsalClock
from schemas.programme import ApplicantKind, Programme, Rubric, StageKind


class ConditionClaim(Model):
    id: str
    met: bool
    evidence: str = Field(default="", max_length=2000)


class Document(Model):
    name: str = Field(min_length=1, max_length=200)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApplicationForm(Model):
    """The application file an applicant submits (the public contract)."""

    applicant_kind: ApplicantKind
    name: str = Field(min_length=1, max_length=200)
    credit_code: str | None = Field(default=None, description="18-character unified social credit code")
    category: str
    region: str = Field(default="", max_length=100)
    contact_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    conditions: list[ConditionClaim]
    documents: list[Document] = Field(min_length=1)


class Outcome(StrEnum):
    WINNER = "winner"
    NOMINATION = "nomination"
    NOT_QUALIFIED = "not_qualified"
    MATERIALS_INCOMPLETE = "materials_incomplete"
    WITHDRAWN = "withdrawn"
    LOW_SCORE = "low_score"
    NOT_SHORTLISTED = "not_shortlisted"
    FAILED_ONSITE = "failed_onsite"
    DROPPED_BY_CONSULTATION = "dropped_by_consultation"
    DROPPED_BY_NOTICE = "dropped_by_notice"
    NOT_SELECTED = "not_selected"


class ApplicationState(StrEnum):
    WAITING = "waiting"  # between stages, until the cycle opens the next one
    QUALIFICATION = "qualification"
    MATERIAL_REVIEW = "material_review"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    EXPERT_REVIEW = "expert_review"
    ONSITE_REVIEW = "onsite_review"
    ORAL_DEFENCE = "oral_defence"
    CONCLUDED = "concluded"


class ApplicationInput(Model):
    cycle_id: str
    application_id: str
    form: ApplicationForm
    programme: Programme
    clock: RehearsalClock
    calendar: CalendarSpec
    submitted_at: datetime
    direct: bool = Field(default=False, description="enters through the direct channel: no screening or scoring")


class StageOpening(Model):
    """Sent by the cycle: the stage is open for this application until the deadline."""

    stage: StageKind
    deadline: datetime
    experts: list[str] = Field(default_factory=list, description="expert ids drawn for expert review")


class DeadlineChange(Model):
    stage: StageKind
    deadline: datetime
    reason: str


class Conclusion(Model):
    """Sent by the cycle when the application leaves the competition or wins."""

    outcome: Outcome
    reason: str


class ApplicationProgress(Model):
    """Sent by an application to its cycle whenever its state changes."""

    application_id: str
    state: ApplicationState
    stage: StageKind | None
    stage_passed: bool | None = Field(default=None, description="set once the open stage is finished")
    waiting_for: list[str] = Field(default_factory=list)
    expert_score: float | None = None
    final_score: float | None = None
    outcome: Outcome | None = None
    reason: str = ""


# Human acts on an application, each an Update carrying its actor.


class ConditionVerdict(Model):
    id: str
    met: bool


class QualificationDecision(Model):
    actor: Actor
    verdicts: list[ConditionVerdict]
    note: str = Field(default="", max_length=2000)


class MaterialDecision(Model):
    actor: Actor
    conforming: bool
    missing: list[str] = Field(default_factory=list, description="what the applicant must supplement")
    note: str = Field(default="", max_length=2000)


class SupplementSubmission(Model):
    actor: Actor
    documents: list[Document] = Field(min_length=1)


class Withdrawal(Model):
    actor: Actor
    reason: str = Field(min_length=1, max_length=2000)


class ExpertScore(Model):
    actor: Actor
    scores: dict[str, float] = Field(description="points per second-level indicator id")
    comment: str = Field(default="", max_length=4000)
    expected_revision: int | None = Field(
        default=None, description="the revision this answer replaces; a stale one is rejected"
    )
    client_address: str | None = Field(default=None, max_length=100, description="where a link score came from")


class ExpertLinkResend(Model):
    """The coordinator re-sends a drawn expert's scoring link, optionally to another address."""

    actor: Actor
    expert_id: str
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="none: the same")
    reason: str = Field(min_length=1, max_length=2000)


class ScoringTask(Model):
    """What a drawn expert sees on the scoring form, with the expert's own last score."""

    application_id: str
    programme_name_zh: str
    applicant_name: str
    category: str
    region: str
    rubric: Rubric
    deadline: datetime | None
    open: bool = Field(description="the expert may still score or revise")
    scores: dict[str, float]
    comment: str
    revision: int


class OnsiteFinding(Model):
    actor: Actor
    score: float = Field(ge=0)
    passed: bool
    findings: str = Field(min_length=1, max_length=8000)


class DefenceScore(Model):
    actor: Actor
    score: float = Field(ge=0)
    note: str = Field(default="", max_length=2000)


class ActReceipt(Model):
    """What an accepted human act returns."""

    workflow_id: str
    act: str
    revision: int
    accepted_at: datetime
    detail: str = ""


class ApplicationStatus(Model):
    application_id: str
    name: str
    state: ApplicationState
    stage: StageKind | None
    deadline: datetime | None
    waiting_for: list[str]
    experts: list[str]
    scores: dict[str, float] = Field(description="total points per expert who scored")
    expert_score: float | None
    onsite_score: float | None
    defence_score: float | None
    final_score: float | None
    outcome: Outcome | None
    reason: str


class ApplicationResult(Model):
    application_id: str
    outcome: Outcome
    reason: str
    expert_score: float | None
    final_score: float | None
