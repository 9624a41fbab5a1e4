"""The award cycle: one edition of a programme."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from schemas.application import ApplicationForm, ApplicationState, ApplicationView, Entrant, Outcome
from schemas.calendar import HOLIDAYS_MISSING, CalendarSpec
from schemas.common import Actor, Model, RehearsalClock
from schemas.consultation import Candidate
from schemas.ladder import Delivery, ReceivedRecommendation, Recommender
from schemas.programme import Programme, StageKind

# Under Temporal's 10,240-event warning with room for one stage of a 1,000-applicant cycle.
EVENTS_PER_RUN = 8000
MIN_EVENTS_PER_RUN = 200


class CycleInput(Model):
    cycle_id: str
    programme: Programme
    year: int
    day_seconds: float | None = Field(default=None, gt=0)
    calendar: CalendarSpec = CalendarSpec()
    recommenders: list[Recommender] = Field(
        default_factory=list, description="the programmes that feed this one, from the catalogue at start"
    )
    events_per_run: int = Field(
        default=EVENTS_PER_RUN,
        ge=MIN_EVENTS_PER_RUN,
        le=40000,
        description="history length at which the cycle continues as new",
    )
    state: CycleState | None = Field(default=None, description="carried from the previous run; none at the start")


class ApplicationSubmission(Model):
    actor: Actor
    form: ApplicationForm


class ApplicationAccepted(Model):
    application_id: str
    received_at: datetime


class GovernmentApproval(Model):
    actor: Actor
    document_number: str = Field(min_length=1, max_length=100)
    approved_on: date


class StageRecord(Model):
    stage: StageKind
    started_at: datetime
    deadline: datetime | None
    ended_at: datetime | None = None
    extensions: list[str] = Field(default_factory=list)


class Award(Model):
    application_id: str
    name: str
    applicant_kind: str
    credit_code: str | None
    award: Outcome
    final_score: float | None


class RecommendedCandidate(Model):
    programme: str
    application_id: str
    name: str
    applicant_kind: str
    credit_code: str | None
    award: Outcome


class CycleStatus(Model):
    cycle_id: str
    programme_id: str
    programme_name_zh: str
    year: int
    stage: StageKind | None
    stage_deadline: datetime | None
    cycle_time: datetime
    day_seconds: float | None
    stages: list[StageRecord]
    application_count: int = Field(description="applications the cycle has taken in")
    shortlist: list[Candidate]
    consultations: list[str] = Field(description="workflow ids of the department consultations")
    notice: str | None = Field(description="workflow id of the public notice")
    approval: GovernmentApproval | None
    awards: list[Award]
    recommendations: list[RecommendedCandidate]
    completed: bool
    recommended: list[ReceivedRecommendation] = Field(
        default_factory=list, description="candidates recommended to this cycle by the tier below"
    )
    deliveries: list[Delivery] = Field(default_factory=list, description="where this cycle's recommendations went")
    holidays_missing: int | None = Field(default=None, description=HOLIDAYS_MISSING)


class CycleOverview(CycleStatus):
    """The cycle's own status, with its applications from the read model: counts by state and one page."""

    execution: str = Field(
        default="running", description='the run in Temporal: "running", "completed", "failed", "terminated", ...'
    )
    counts: dict[str, int] = Field(description="applications by state (an ApplicationState value)")
    total: int = Field(description="applications matching the filter")
    offset: int
    limit: int
    state: ApplicationState | None = Field(default=None, description="the filter, if any")
    applications: list[ApplicationView]


class CycleResult(Model):
    cycle_id: str
    awards: list[Award]
    recommendations: list[RecommendedCandidate]
    approval: GovernmentApproval
    deliveries: list[Delivery] = Field(default_factory=list)


class CycleState(Model):
    """What a cycle carries from one run to the next when it continues as new."""

    clock: RehearsalClock
    stage_index: int = Field(default=0, ge=0, description="the programme stage running, or next to run")
    entered: bool = Field(default=False, description="the stage at stage_index has started")
    stages: list[StageRecord] = Field(default_factory=list)
    entrants: dict[str, Entrant] = Field(default_factory=dict)
    proposed: dict[str, Outcome] = Field(default_factory=dict)
    shortlist: list[Candidate] = Field(default_factory=list)
    consultations: list[str] = Field(default_factory=list)
    notice: str | None = None
    approval: GovernmentApproval | None = None
    awards: list[Award] = Field(default_factory=list)
    recommendations: list[RecommendedCandidate] = Field(default_factory=list)
    recommended: dict[str, ReceivedRecommendation] = Field(default_factory=dict)
    deliveries: list[Delivery] = Field(default_factory=list)
    completed: bool = False
    run: int = Field(default=1, description="this run's number in the cycle's chain")
