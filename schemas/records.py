"""Inputs of the activities that write the SQL read model."""

from __future__ import annotations

from datetime import datetime

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


class CycleResults(Model):
    cycle_id: str
    awards: list[Award]
    recommendations: list[RecommendedCandidate]
