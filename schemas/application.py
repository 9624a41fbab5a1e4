"""The application form and the protocol between a cycle and its ApplicationWorkflows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import Field

from schemas.calendar import HOLIDAYS_MISSING, CalendarSpec
from schemas.common import Actor, Model, RehearsalClock
from schemas.programme import (
    ApplicantKind,
    Condition,
    Duration,
    ExpertReview,
    OnsiteReview,
    Programme,
    Rubric,
    ScoreWeights,
    StageKind,
)


class ConditionClaim(Model):
    id: str
    met: bool
    evidence: str = Field(default="", max_length=2000)


class Document(Model):
    """A file of an application: its content's SHA-256 names it in the document store."""

    name: str = Field(min_length=1, max_length=200)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(default=None, ge=1, description="bytes, as the server counted them on upload")
    media_type: str | None = Field(default=None, max_length=100, description="as the server read it from the content")
    requirement: str | None = Field(default=None, max_length=64, description="the programme's required document")


class ApplicationForm(Model):
    """The application file an applicant submits (the public contract)."""

    applicant_kind: ApplicantKind
    name: str = Field(min_length=1, max_length=200)
    credit_code: str | None = Field(default=None, description="18-character unified social credit code")
    category: str
    region: str = Field(default="", max_length=100)
    contact_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    contact_person: str = Field(default="", max_length=50)
    contact_phone: str = Field(default="", max_length=30)
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


# What an application awaits when no expert scored before the deadline (a value of ApplicationView.waiting_for).
EXTENSION_NEEDED = "coordinator:extend"

STATE_ZH = {
    ApplicationState.WAITING: "待进入下一环节",
    ApplicationState.QUALIFICATION: "资格审查",
    ApplicationState.MATERIAL_REVIEW: "材料审查",
    ApplicationState.SUPPLEMENT_REQUESTED: "待补充材料",
    ApplicationState.EXPERT_REVIEW: "专家评审",
    ApplicationState.ONSITE_REVIEW: "现场评审",
    ApplicationState.ORAL_DEFENCE: "陈述答辩",
    ApplicationState.CONCLUDED: "已完结",
}


class Applicant(Protocol):
    """Who applied, as both the form and the cycle's Entrant tell it."""

    @property
    def name(self) -> str: ...
    @property
    def applicant_kind(self) -> ApplicantKind: ...
    @property
    def credit_code(self) -> str | None: ...
    @property
    def contact_email(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def region(self) -> str: ...


def applicant_facts(applicant: Applicant) -> dict[str, Any]:
    """Who applied, as fields of a model that keeps them: the Entrant, a recommendation."""
    return {field: getattr(applicant, field) for field in APPLICANT_FIELDS}


APPLICANT_FIELDS = ("name", "applicant_kind", "credit_code", "contact_email", "category", "region")


class ApplicationRules(Model):
    """The part of a programme one application needs, so its input does not carry the whole programme."""

    programme_name_zh: str
    conditions: list[Condition]
    supplement: Duration
    rubric: Rubric
    expert_review: ExpertReview
    onsite_review: OnsiteReview | None
    score_weights: ScoreWeights

    @classmethod
    def of(cls, programme: Programme) -> ApplicationRules:
        return cls(
            programme_name_zh=programme.name_zh,
            conditions=programme.conditions,
            supplement=programme.supplement,
            rubric=programme.rubric,
            expert_review=programme.expert_review,
            onsite_review=programme.onsite_review,
            score_weights=programme.score_weights,
        )


class ApplicationInput(Model):
    cycle_id: str
    application_id: str
    form: ApplicationForm
    rules: ApplicationRules
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
    """Sent by an application to its cycle when it finishes a stage or concludes, and kept by the cycle.

    Only what the cycle decides on: a 1,000-applicant cycle carries one per applicant into each next run."""

    application_id: str
    state: ApplicationState
    stage: StageKind | None
    stage_passed: bool | None = Field(default=None, description="set once the open stage is finished")
    expert_score: float | None = None
    final_score: float | None = None
    outcome: Outcome | None = None


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
    documents: list[Document] = Field(default_factory=list, description="as submitted, then every supplement's")
    requested: list[str] = Field(default_factory=list, description="what a supplement request asks for")
    request_note: str = ""
    holidays_missing: int | None = Field(default=None, description=HOLIDAYS_MISSING)


class Entrant(Model):
    """What a cycle keeps of one application across its runs: who applied and how far it has got."""

    name: str
    applicant_kind: ApplicantKind
    credit_code: str | None
    contact_email: str
    category: str
    region: str = ""
    direct: bool = False
    experts: list[str] = Field(default_factory=list)
    progress: ApplicationProgress

    @classmethod
    def of(cls, application_id: str, form: ApplicationForm, *, direct: bool) -> Entrant:
        progress = ApplicationProgress(application_id=application_id, state=ApplicationState.WAITING, stage=None)
        return cls(**applicant_facts(form), direct=direct, progress=progress)


class StageOpenings(Model):
    """One batch of stage openings, each application with its own (its drawn experts differ)."""

    openings: dict[str, StageOpening]


class Conclusions(Model):
    application_ids: list[str]
    conclusion: Conclusion


class DeadlineChanges(Model):
    application_ids: list[str]
    change: DeadlineChange


class ApplicationView(Model):
    """One application as the read model shows it; written by the application at every change."""

    cycle_id: str
    application_id: str
    sequence: int = Field(ge=0, description="increases with every write; an older write never replaces a newer one")
    name: str
    applicant_kind: str
    credit_code: str | None
    category: str
    region: str = ""
    direct: bool = False
    state: ApplicationState
    stage: StageKind | None = None
    deadline: datetime | None = None
    waiting_for: list[str] = Field(default_factory=list)
    experts: list[str] = Field(default_factory=list)
    expert_score: float | None = None
    final_score: float | None = None
    outcome: Outcome | None = None
    reason: str = ""

    @classmethod
    def received(
        cls,
        input: ApplicationInput,
        sequence: int = 0,
        state: ApplicationState = ApplicationState.WAITING,
        **progress: Any,
    ) -> ApplicationView:
        """The application as it came in; `progress` sets how far it has got since."""
        form = input.form
        return cls(
            cycle_id=input.cycle_id,
            application_id=input.application_id,
            sequence=sequence,
            name=form.name,
            applicant_kind=form.applicant_kind.value,
            credit_code=form.credit_code,
            category=form.category,
            region=form.region,
            direct=input.direct,
            state=state,
            **progress,
        )


class ApplicationResult(Model):
    application_id: str
    outcome: Outcome
    reason: str
    expert_score: float | None
    final_score: float | None
