"""Inputs of the activities that write the SQL read model."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas.common import Model
from schemas.cycle import Award, RecommendedCandidate
from schemas.programme import StageKind


class CycleProgress(Model):
    cycle_id: str
    programme_id: str
    year: int
    day_seconds: float | None
    started_at: datetime
    stage: StageKind | None
    completed: bool


class ApplicationOutcome(Model):
    application_id: str
    holder_key: str
    name: str
    applicant_kind: str
    credit_code: str | None
    outcome: str
    direct: bool = False


class CycleResults(Model):
    cycle_id: str
    awards: list[Award]
    recommendations: list[RecommendedCandidate]
    programme_id: str = ""
    year: int = 0
    applications: list[ApplicationOutcome] = Field(default_factory=list)
