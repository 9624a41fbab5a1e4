"""Input and results of the yearly opening: the workflow a programme's Schedule starts, and its activity."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from pydantic import Field, PositiveInt

from schemas.common import SHANGHAI, Model


class RehearsalOpening(Model):
    """A rehearsal of the yearly opening: each interval of real time stands for one edition.

    The n-th interval since `started_at` (n = floor((scheduled time − started_at) / interval)) stands for
    the edition year `first_year + n × every_years`.
    """

    first_year: int
    interval_seconds: float = Field(gt=0)
    day_seconds: float | None = Field(default=None, gt=0, description="real seconds per cycle day")
    started_at: datetime
    every_years: PositiveInt = Field(default=1, description="the programme's rhythm: 2 for a biennial one")

    def year_at(self, scheduled: datetime) -> int:
        n = math.floor((scheduled - self.started_at) / timedelta(seconds=self.interval_seconds))
        return self.first_year + n * self.every_years


class OpeningInput(Model):
    """What a programme's Schedule passes to every CycleOpeningWorkflow it starts."""

    programme_id: str
    rehearsal: RehearsalOpening | None = None


class OpenCycleRequest(Model):
    programme_id: str
    year: int
    day_seconds: float | None = None


class OpenCycleResult(Model):
    cycle_id: str
    year: int
    started: bool
    reason: str


class OpeningResult(Model):
    """What one opening did: the year it stood for, when it was due, and whether a cycle started."""

    programme_id: str
    year: int
    scheduled_at: datetime = Field(description="TemporalScheduledStartTime, or the start time of a manual run")
    by_schedule: bool = Field(description="false when the workflow was started directly, not by a Schedule")
    rehearsal: bool
    cycle_id: str
    started: bool
    reason: str


def opening_year(scheduled: datetime, rehearsal: RehearsalOpening | None) -> int:
    """The edition year an opening at `scheduled` stands for: its year in Shanghai, or the rehearsal's year."""
    if rehearsal is not None:
        return rehearsal.year_at(scheduled)
    return scheduled.astimezone(SHANGHAI).year
