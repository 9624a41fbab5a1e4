"""The working-day calendar: counting rule, holiday data, holiday files and the activity."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import holidays
import pytest
from holidays.countries.china import ChinaStaticHolidays
from sqlalchemy import Engine
from sqlmodel import delete
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.calendar import CalendarActivities, CalendarError, MissingHolidayData, WorkingDayCalendar
from schemas.calendar import CalendarSpec, DeadlineRequest, ReminderRequest
from schemas.common import SHANGHAI, HolidayCalendar
from schemas.holiday_file import HolidayFileError, load_holiday_file
from schemas.programme import DayUnit, Duration
from store.db import session
from store.holidays import supply_holidays
from store.tables import HolidayCalendarRow

SAMPLE_2027 = Path(__file__).parent / "data" / "holidays-2027.toml"
LIBRARY = WorkingDayCalendar(CalendarSpec())
CALENDAR_2027 = WorkingDayCalendar(CalendarSpec(supplied=[load_holiday_file(SAMPLE_2027)]))


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def working(days: int) -> Duration:
    return Duration(days=days, unit=DayUnit.WORKING)


def calendar_days(days: int) -> Duration:
    return Duration(days=days, unit=DayUnit.CALENDAR)


# --- the counting rule -------------------------------------------------------------------------------


def test_working_days_skip_the_weekend_and_the_starting_day() -> None:
    # Thursday 6 March 2025: Fri 7, Mon 10, Tue 11, Wed 12, Thu 13; the period ends at 24:00 on the 13th.
    deadline = LIBRARY.add(shanghai(2025, 3, 6, 10, 0), working(5))
    assert deadline == shanghai(2025, 3, 14)
    assert deadline.tzinfo is SHANGHAI


def test_start_is_taken_at_its_shanghai_date() -> None:
    # 20:00 UTC on 5 March is 04:00 on 6 March in Shanghai, so counting starts on 7 March as above.
    assert LIBRARY.add(datetime(2025, 3, 5, 20, 0, tzinfo=UTC), working(5)) == shanghai(2025, 3, 14)


def test_working_days_across_national_day_golden_week_2026() -> None:
    # 1–7 October are off; Sat 10 October is an adjusted working day (调休), Sun 11 is not.
    # Thu 8, Fri 9, Sat 10, Mon 12, Tue 13.
    assert LIBRARY.add(shanghai(2026, 9, 30, 15, 0), working(5)) == shanghai(2026, 10, 14)


def test_calendar_days_ending_on_a_weekday() -> None:
    assert LIBRARY.add(shanghai(2025, 3, 6, 10, 0), calendar_days(7)) == shanghai(2025, 3, 14)


def test_calendar_days_ending_on_a_holiday_move_to_the_next_working_day() -> None:
    # 24 September + 7 days is 1 October, National Day; the holiday lasts to the 7th, so the 8th is last.
    assert LIBRARY.add(shanghai(2026, 9, 24, 9, 0), calendar_days(7)) == shanghai(2026, 10, 9)


def test_calendar_days_ending_on_a_sunday_move_to_monday() -> None:
    assert LIBRARY.add(shanghai(2025, 3, 6, 10, 0), calendar_days(10)) == shanghai(2025, 3, 18)


def test_reminders_three_and_one_working_days_before() -> None:
    deadline = shanghai(2026, 10, 14)  # 24:00 on Tuesday 13 October
    assert LIBRARY.subtract_working_days(deadline, 1) == shanghai(2026, 10, 12, 9, 0)
    # Mon 12 (1), Sat 10 (2, 调休), Fri 9 (3).
    assert LIBRARY.subtract_working_days(deadline, 3) == shanghai(2026, 10, 9, 9, 0)


def test_reminder_from_a_deadline_given_in_utc() -> None:
    deadline = datetime(2026, 10, 13, 16, 0, tzinfo=UTC)  # 00:00 on 14 October in Shanghai
    assert LIBRARY.subtract_working_days(deadline, 1) == shanghai(2026, 10, 12, 9, 0)


def test_reminder_needs_a_positive_count() -> None:
    with pytest.raises(CalendarError, match="at least 1 working day"):
        LIBRARY.subtract_working_days(shanghai(2026, 10, 14), 0)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(CalendarError, match="no time zone"):
        LIBRARY.add(datetime(2025, 3, 6, 10, 0), working(5))


# --- holiday data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_chinesecalendar_agrees_with_the_holidays_package(year: int) -> None:
    listed = holidays.China(years=year)
    # `holidays` lists statutory days and the weekdays given off in exchange for a worked weekend, but not
    # the weekend days inside a break (off anyway); it keeps each exchange as (month, day, from_month,
    # from_day), and the "from" days are the worked weekends.
    exchanges = [e for e in ChinaStaticHolidays.special_public_holidays[year] if len(e) == 4]
    worked_weekends = {date(year, e[2], e[3]) for e in exchanges}
    assert worked_weekends == {d for d in chinese_calendar.workdays if d.year == year}
    for day in _days_of(year):
        expected = day not in listed and (day.weekday() < 5 or day in worked_weekends)
        assert LIBRARY.is_working_day(day) is expected, day


def test_known_adjusted_working_weekends() -> None:
    assert date(2025, 9, 28).weekday() == 6 and LIBRARY.is_working_day(date(2025, 9, 28))
    assert date(2026, 2, 14).weekday() == 5 and LIBRARY.is_working_day(date(2026, 2, 14))
    assert not LIBRARY.is_working_day(date(2026, 2, 21))  # a Saturday inside the Spring Festival break


def test_2027_without_a_calendar_fails_closed() -> None:
    with pytest.raises(MissingHolidayData) as raised:
        LIBRARY.add(shanghai(2027, 3, 1, 9, 0), working(5))
    assert raised.value.year == 2027
    assert "2027" in str(raised.value) and "--holidays" in str(raised.value)


def test_a_period_running_into_2027_fails_closed() -> None:
    # Tue 29, Wed 30, Thu 31 December 2026, then 2027, for which there is no data.
    with pytest.raises(MissingHolidayData, match="2027"):
        LIBRARY.add(shanghai(2026, 12, 28, 9, 0), working(5))


def test_2027_with_the_sample_file() -> None:
    calendar = WorkingDayCalendar(CalendarSpec(supplied=[load_holiday_file(SAMPLE_2027)]))
    # In the fixture 1–7 October are off and Sat 9 October is worked: Fri 8, Sat 9, Mon 11, Tue 12, Wed 13.
    assert calendar.add(shanghai(2027, 9, 30, 9, 0), working(5)) == shanghai(2027, 10, 14)
    # Tue 29, Wed 30, Thu 31 December 2026 from the library; 1–3 January off in the fixture; Mon 4, Tue 5.
    assert calendar.add(shanghai(2026, 12, 28, 9, 0), working(5)) == shanghai(2027, 1, 6)


def test_a_supplied_calendar_replaces_the_library_for_its_year() -> None:
    extra_day_off = HolidayCalendar(year=2025, holidays=[date(2025, 3, 7)])
    calendar = WorkingDayCalendar(CalendarSpec(supplied=[extra_day_off]))
    assert not calendar.is_working_day(date(2025, 3, 7))
    assert calendar.is_working_day(date(2025, 10, 1))  # not in the supplied list, so an ordinary Wednesday
    assert not calendar.is_working_day(date(2025, 9, 28))  # a Sunday the supplied list does not make worked


def test_two_calendars_for_one_year_are_refused() -> None:
    twice = [HolidayCalendar(year=2027, holidays=[]), HolidayCalendar(year=2027, holidays=[])]
    with pytest.raises(CalendarError, match="more than one holiday calendar supplied for 2027"):
        WorkingDayCalendar(CalendarSpec(supplied=twice))


def test_an_inconsistent_supplied_calendar_is_refused() -> None:
    wrong = HolidayCalendar(year=2027, holidays=[date(2028, 1, 1)])
    with pytest.raises(CalendarError, match="dates outside 2027: 2028-01-01"):
        WorkingDayCalendar(CalendarSpec(supplied=[wrong]))


# --- holiday files -----------------------------------------------------------------------------------


def test_sample_file_loads() -> None:
    calendar = load_holiday_file(SAMPLE_2027)
    assert calendar.year == 2027
    assert date(2027, 2, 6) in calendar.holidays
    assert date(2027, 10, 9) in calendar.workdays


def test_json_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text('{"year": 2027, "holidays": ["2027-01-01"], "workdays": ["2027-01-02"]}')
    assert load_holiday_file(path) == HolidayCalendar(
        year=2027, holidays=[date(2027, 1, 1)], workdays=[date(2027, 1, 2)]
    )


def test_toml_native_dates_load(tmp_path: Path) -> None:
    path = tmp_path / "h.toml"
    path.write_text("year = 2027\nholidays = [2027-01-01]\n")
    assert load_holiday_file(path).holidays == [date(2027, 1, 1)]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("h.yaml", "year: 2027", "not a TOML or JSON file"),
        ("h.toml", "year = ", "not valid TOML"),
        ("h.json", "{year: 2027}", "not valid JSON"),
        ("h.toml", 'holidays = ["2027-01-01"]', "year: Field required"),
        ("h.toml", 'year = 2027\nholidays = ["2027-13-01"]', "holidays.0:"),
        ("h.toml", "year = 2027\nholidays = []\nextra = 1", "extra: Extra inputs are not permitted"),
        ("h.toml", 'year = 2027\nholidays = ["2026-12-31"]', "dates outside 2027: 2026-12-31"),
        (
            "h.toml",
            'year = 2027\nholidays = ["2027-01-02"]\nworkdays = ["2027-01-02"]',
            "both holiday and workday: 2027-01-02",
        ),
        ("h.toml", 'year = 2027\nholidays = []\nworkdays = ["2027-01-04"]', "these are weekdays: 2027-01-04"),
    ],
)
def test_broken_files_are_refused(tmp_path: Path, name: str, content: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(HolidayFileError) as raised:
        load_holiday_file(path)
    assert str(raised.value).startswith(f"holiday file {path}: ")
    assert problem in str(raised.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HolidayFileError, match="cannot be read: No such file or directory"):
        load_holiday_file(tmp_path / "absent.toml")


def test_a_weekend_holiday_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "h.toml"
    path.write_text('year = 2027\nholidays = ["2027-01-02", "2027-01-03"]')
    assert load_holiday_file(path).holidays == [date(2027, 1, 2), date(2027, 1, 3)]


# --- the activity ------------------------------------------------------------------------------------


async def test_compute_deadline_activity(engine: Engine) -> None:
    request = DeadlineRequest(start=shanghai(2026, 9, 30, 15, 0), duration=working(5), calendar=CalendarSpec())
    result = await ActivityEnvironment().run(CalendarActivities(engine).compute_deadline, request)
    assert result.deadline == shanghai(2026, 10, 14)


async def test_reminder_instants_activity_keeps_the_request_order(engine: Engine) -> None:
    request = ReminderRequest(deadline=shanghai(2026, 10, 14), working_days_before=[3, 1], calendar=CalendarSpec())
    result = await ActivityEnvironment().run(CalendarActivities(engine).reminder_instants, request)
    assert result.instants == [shanghai(2026, 10, 9, 9, 0), shanghai(2026, 10, 12, 9, 0)]


async def test_compute_deadline_activity_with_a_supplied_2027_calendar(engine: Engine) -> None:
    spec = CalendarSpec(supplied=[load_holiday_file(SAMPLE_2027)])
    request = DeadlineRequest(start=shanghai(2027, 9, 30, 9, 0), duration=working(5), calendar=spec)
    result = await ActivityEnvironment().run(CalendarActivities(engine).compute_deadline, request)
    assert result.deadline == shanghai(2027, 10, 14)


async def test_missing_2027_data_fails_the_lookup_until_the_year_is_supplied(engine: Engine) -> None:
    request = DeadlineRequest(start=shanghai(2027, 3, 1, 9, 0), duration=working(5), calendar=CalendarSpec())
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(CalendarActivities(engine).compute_deadline, request)
    # Retryable by the activity: the workflow's retry policy decides to refuse at once or to wait.
    assert raised.value.type == "MissingHolidayData" and raised.value.non_retryable is False
    assert list(raised.value.details) == [2027]
    assert "2027" in raised.value.message and "holidays supply" in raised.value.message

    with session(engine) as s:
        assert supply_holidays(s, load_holiday_file(SAMPLE_2027), by="admin", at=datetime.now(UTC))
        assert not supply_holidays(s, load_holiday_file(SAMPLE_2027), by="admin", at=datetime.now(UTC))
    result = await ActivityEnvironment().run(CalendarActivities(engine).compute_deadline, request)
    assert result.deadline == CALENDAR_2027.add(request.start, request.duration)
    with session(engine) as s:
        s.exec(delete(HolidayCalendarRow))  # the session's store is shared: leave 2027 unsupplied


async def test_bad_reminder_request_is_a_non_retryable_application_error(engine: Engine) -> None:
    request = ReminderRequest(deadline=shanghai(2026, 10, 14), working_days_before=[0], calendar=CalendarSpec())
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(CalendarActivities(engine).reminder_instants, request)
    assert raised.value.type == "CalendarError"
    assert raised.value.non_retryable is True


def _days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]
