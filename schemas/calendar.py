"""Inputs and outputs of the working-day calendar activity."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas.common import HolidayCalendar, Model
from schemas.programme import Duration

# A status field's description: the workflow waits until that year's calendar is supplied.
HOLIDAYS_MISSING = "the year whose holiday data the workflow waits for (`awardcycle holidays supply FILE`)"


class CalendarSpec(Model):
    """Which holiday data a cycle uses: the library, plus calendars a coordinator supplied."""

    supplied: list[HolidayCalendar] = Field(default_factory=list)


class DeadlineRequest(Model):
    start: datetime
    duration: Duration
    calendar: CalendarSpec


class DeadlineResult(Model):
    deadline: datetime


class ReminderRequest(Model):
    deadline: datetime
    working_days_before: list[int]
    calendar: CalendarSpec


class ReminderResult(Model):
    instants: list[datetime]
