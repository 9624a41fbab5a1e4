"""Deadlines counted in working or calendar days in Asia/Shanghai, and the activity that records them.

Computed in an activity, not in workflow code, so that next year's holiday data never changes how an
old history replays (DESIGN.md, decision 2).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import TypeVar

import chinese_calendar
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from schemas.calendar import CalendarSpec, DeadlineRequest, DeadlineResult, ReminderRequest, ReminderResult
from schemas.common import SHANGHAI, HolidayCalendar
from schemas.holiday_file import calendar_problems
from schemas.programme import DayUnit, Duration
from store.db import session
from store.holidays import supplied_holidays

T = TypeVar("T")

LIBRARY_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
REMINDER_TIME = time(9, 0)
_DAY = timedelta(days=1)


class CalendarError(ValueError):
    """A deadline cannot be computed from this input; retrying will not change that."""


class MissingHolidayData(CalendarError):
    """Neither the library nor a supplied calendar knows which days of `year` are working days."""

    def __init__(self, year: int) -> None:
        super().__init__(
            f"没有 {year} 年的节假日数据 (no holiday data for {year}): the chinesecalendar library covers "
            f"{LIBRARY_YEARS.start}–{LIBRARY_YEARS.stop - 1}; supply that year's calendar with "
            "`awardcycle holidays supply FILE`, or --holidays FILE at start (TOML: year, holidays, workdays)"
        )
        self.year = year


class WorkingDayCalendar:
    """Mainland China's working days: chinesecalendar's data, replaced for a year by a supplied calendar."""

    def __init__(self, spec: CalendarSpec) -> None:
        years = [c.year for c in spec.supplied]
        repeated = sorted({str(y) for y in years if years.count(y) > 1})
        if repeated:
            raise CalendarError(f"more than one holiday calendar supplied for {', '.join(repeated)}")
        for calendar in spec.supplied:
            problems = calendar_problems(calendar)
            if problems:
                raise CalendarError(f"holiday calendar supplied for {calendar.year}: {'; '.join(problems)}")
        self._supplied = {c.year: (frozenset(c.holidays), frozenset(c.workdays)) for c in spec.supplied}

    def is_working_day(self, day: date) -> bool:
        supplied = self._supplied.get(day.year)
        if supplied is not None:
            holidays, workdays = supplied
            return day in workdays or (day.weekday() < 5 and day not in holidays)
        if day.year not in LIBRARY_YEARS:
            raise MissingHolidayData(day.year)
        return bool(chinese_calendar.is_workday(day))

    def add(self, start: datetime, duration: Duration) -> datetime:
        """The end of a period of `duration` beginning at `start`: 24:00 Asia/Shanghai of its last day."""
        # Civil Code art. 201: the starting day is not counted; art. 203: a period ends at 24:00 of its last
        # day, and a last day that is a holiday moves to the day after the holiday ends.
        day = _local_date(start)
        if duration.unit is DayUnit.WORKING:
            day = self._step(day, duration.days, _DAY)
        else:
            day += timedelta(days=duration.days)
            while not self.is_working_day(day):
                day += _DAY
        return datetime.combine(day + _DAY, time(0), tzinfo=SHANGHAI)

    def subtract_working_days(self, deadline: datetime, n: int) -> datetime:
        """09:00 Asia/Shanghai of the working day `n` working days before the deadline's last day."""
        if n < 1:
            raise CalendarError(f"a reminder comes at least 1 working day before the deadline, not {n}")
        # A deadline is 24:00 of its last day, i.e. 00:00 of the next, so the last day is a second earlier.
        last_day = _local_date(deadline - timedelta(seconds=1))
        return datetime.combine(self._step(last_day, n, -_DAY), REMINDER_TIME, tzinfo=SHANGHAI)

    def working_days_left(self, now: datetime, deadline: datetime) -> int:
        """Working days from `now`'s day to the deadline's last day, both counted; 0 once the deadline is past."""
        if deadline <= now:
            return 0
        today, last_day = _local_date(now), _local_date(deadline - timedelta(seconds=1))
        return sum(self.is_working_day(today + n * _DAY) for n in range((last_day - today).days + 1))

    def _step(self, day: date, n: int, direction: timedelta) -> date:
        """The n-th working day after (or before) `day`, not counting `day` itself."""
        while n:
            day += direction
            if self.is_working_day(day):
                n -= 1
        return day


class CalendarActivities:
    """Deadline arithmetic as activities, so the instants it yields are recorded in workflow history.

    A year neither the library nor the cycle's own calendars cover is looked up among the calendars supplied
    since (`store.holidays`); without one the activity fails as MissingHolidayData, which a waiting
    workflow retries until it is supplied."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="compute_deadline")
    async def compute_deadline(self, request: DeadlineRequest) -> DeadlineResult:
        deadline = await self._with_supplied(request.calendar, lambda days: days.add(request.start, request.duration))
        return DeadlineResult(deadline=deadline)

    @activity.defn(name="reminder_instants")
    async def reminder_instants(self, request: ReminderRequest) -> ReminderResult:
        """One instant per entry of working_days_before, in that order, past ones included: the caller
        drops those already past by its own clock, which in a rehearsal is not the wall clock."""

        def instants(days: WorkingDayCalendar) -> list[datetime]:
            return [days.subtract_working_days(request.deadline, n) for n in request.working_days_before]

        return ReminderResult(instants=await self._with_supplied(request.calendar, instants))

    async def _with_supplied(self, spec: CalendarSpec, compute: Callable[[WorkingDayCalendar], T]) -> T:
        """`compute` on the cycle's calendar, adding each missing year's supplied calendar as it is needed."""
        looked_up: set[int] = set()
        while True:
            try:
                return compute(WorkingDayCalendar(spec))
            except MissingHolidayData as missing:
                if missing.year in looked_up:
                    raise _calendar_failure(missing) from None
                looked_up.add(missing.year)
                found = await asyncio.to_thread(self._supplied, missing.year)
                if found is None:
                    raise _calendar_failure(missing) from None
                spec = spec.model_copy(update={"supplied": [*spec.supplied, found]})
            except CalendarError as error:
                raise _calendar_failure(error) from None

    def _supplied(self, year: int) -> HolidayCalendar | None:
        with session(self._engine) as s:
            return next(iter(supplied_holidays(s, [year])), None)


def _local_date(instant: datetime) -> date:
    if instant.utcoffset() is None:
        raise CalendarError(f"instant {instant.isoformat()} has no time zone; give it with an offset")
    return instant.astimezone(SHANGHAI).date()


def _calendar_failure(error: CalendarError) -> ApplicationError:
    if isinstance(error, MissingHolidayData):
        # A fact still to come: the caller's retry policy decides whether to wait for it.
        return ApplicationError(str(error), error.year, type=type(error).__name__)
    # The same input fails the same way on every attempt: fail the workflow's call at once.
    return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)
