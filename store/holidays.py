"""Holiday calendars supplied while cycles run: one per year, never replaced once supplied.

A cycle keeps the calendars it started with in its input; a year it reaches without one waits for a row
here, which the calendar activity reads (and Temporal records) once it exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime

from sqlmodel import Session, col, select

from schemas.common import HolidayCalendar
from store.tables import HolidayCalendarRow


def supply_holidays(session: Session, calendar: HolidayCalendar, *, by: str, at: datetime) -> bool:
    """Keep the year's calendar; False when one is already kept (it is never replaced: deadlines used it)."""
    if session.get(HolidayCalendarRow, calendar.year) is not None:
        return False
    session.add(
        HolidayCalendarRow(
            year=calendar.year,
            holidays_json=json.dumps(sorted(d.isoformat() for d in calendar.holidays)),
            workdays_json=json.dumps(sorted(d.isoformat() for d in calendar.workdays)),
            supplied_by=by,
            supplied_at=at,
        )
    )
    session.flush()
    return True


def supplied_holidays(session: Session, years: Iterable[int] | None = None) -> list[HolidayCalendar]:
    """The kept calendars, of `years` if given, oldest year first."""
    statement = select(HolidayCalendarRow).order_by(col(HolidayCalendarRow.year))
    if years is not None:
        statement = statement.where(col(HolidayCalendarRow.year).in_(list(years)))
    return [_calendar(row) for row in session.exec(statement)]


def _calendar(row: HolidayCalendarRow) -> HolidayCalendar:
    return HolidayCalendar(
        year=row.year,
        holidays=[date.fromisoformat(d) for d in json.loads(row.holidays_json)],
        workdays=[date.fromisoformat(d) for d in json.loads(row.workdays_json)],
    )
