"""The award cycle: one edition of a programme."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from schemas.application import ApplicationForm, ApplicationProgress, Outcome
from schemas.calendar import CalendarSpec
from schemas.common import Actor, Model
from schemas.consultation import Candidate
from schemas.ladder import Delivery, ReceivedRecommendation, Recommender
from schemas.programme import Programme, StageKind


class CycleInput(Model):
    cycle_id: str
    programme: Programme
    year: int
    day_seconds: float | None = Field(default=None, gt=0)
    calendar: CalendarSpec = CalendarSpec()
    recommenders: list[Recommender] = Field(
        default_factory=list, description="the programmes that feed this one, from the catalogue at start"
    )


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


class ApplicationSummary(Model):
    application_id: str
    name: str
    applicant_kind: str
    credit_code: str | None
    experts: list[str] = Field(default_factory=list)
    progress: ApplicationProgress


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
    applications: list[ApplicationSummary]
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


class CycleResult(Model):
    cycle_id: str
    awards: list[Award]
    recommendations: list[RecommendedCandidate]
    approval: GovernmentApproval
    deliveries: list[Delivery] = Field(default_factory=list)
