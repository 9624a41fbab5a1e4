"""A coordinator's holiday calendar file (TOML or JSON) for a year the holiday library does not cover."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.common import HolidayCalendar


class HolidayFileError(ValueError):
    """A holiday calendar file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"holiday file {path}: {problem}")
        self.path = path
        self.problem = problem


def calendar_problems(calendar: HolidayCalendar) -> list[str]:
    """What makes a calendar unusable; empty when it is sound. A holiday on a weekend is fine."""
    problems = []
    outside = [d for d in (*calendar.holidays, *calendar.workdays) if d.year != calendar.year]
    if outside:
        problems.append(f"dates outside {calendar.year}: {_dates(outside)}")
    both = set(calendar.holidays) & set(calendar.workdays)
    if both:
        problems.append(f"dates listed as both holiday and workday: {_dates(both)}")
    weekdays = [d for d in calendar.workdays if d.weekday() < 5]
    if weekdays:
        problems.append(
            f"workdays are weekend days worked in exchange (调休), but these are weekdays: {_dates(weekdays)}"
        )
    return problems


def load_holiday_file(path: Path) -> HolidayCalendar:
    """Read and check a file with `year`, `holidays` and `workdays` (ISO dates); raise HolidayFileError."""
    try:
        calendar = HolidayCalendar.model_validate(_parse(path))
    except ValidationError as e:
        errors = (f"{'.'.join(map(str, err['loc'])) or 'file'}: {err['msg']}" for err in e.errors())
        raise HolidayFileError(path, "; ".join(errors)) from None
    problems = calendar_problems(calendar)
    if problems:
        raise HolidayFileError(path, "; ".join(problems))
    return calendar


def _parse(path: Path) -> Any:
    kind = path.suffix.lower().removeprefix(".")
    if kind not in ("toml", "json"):
        raise HolidayFileError(path, "not a TOML or JSON file (the name must end in .toml or .json)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise HolidayFileError(path, f"cannot be read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise HolidayFileError(path, "is not UTF-8 text") from None
    try:
        return tomllib.loads(text) if kind == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise HolidayFileError(path, f"not valid {kind.upper()}: {e}") from None


def _dates(days: Iterable[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(set(days)))
