"""Checks made before a cycle starts, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from awardcycle.service import Refused, check_calendar
from programmes import get_programme
from schemas.calendar import CalendarSpec
from schemas.holiday_file import load_holiday_file


def test_a_schedule_running_into_a_year_without_holiday_data_is_refused(data_dir: Path) -> None:
    december = get_programme("qingdao-mayor-quality-award").model_copy(update={"opening": "12-01"})
    with pytest.raises(Refused, match=r"2027.*--holidays"):
        check_calendar(december, 2026, CalendarSpec(), rehearsal=True)
    supplied = CalendarSpec(supplied=[load_holiday_file(data_dir / "holidays-2027.toml")])
    check_calendar(december, 2026, supplied, rehearsal=True)


def test_a_year_without_an_edition_is_refused() -> None:
    with pytest.raises(Refused, match="holds no edition in 2026"):
        check_calendar(get_programme("china-quality-award"), 2026, CalendarSpec(), rehearsal=True)
