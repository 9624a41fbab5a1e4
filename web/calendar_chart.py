"""The cycle page's calendar chart: each stage as a bar over its days, with weekends, statutory holidays and
调休 working days shaded. Laid out here in pixels, so the template draws plain SVG and needs no script."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from activities.calendar import MissingHolidayData, WorkingDayCalendar
from notifications.render import WEEKDAYS

DAY_WIDTH = 6  # px per day: the half year a cycle lasts fits a laptop screen
LABEL_WIDTH = 150  # px for the stage names left of the days
ROW_HEIGHT = 24
BAR_HEIGHT = 14
HEADER_HEIGHT = 30  # px above the rows, for the months
MAX_DAYS = 550  # days drawn at most, so an odd schedule cannot bloat the page
_DAY = timedelta(days=1)


class DayKind(StrEnum):
    WORKING = "working"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"  # a statutory holiday, and the weekend days of the same break
    WORKDAY = "workday"  # a weekend day worked in exchange for a holiday (调休)
    UNKNOWN = "unknown"  # a weekday of a year without holiday data: perhaps a holiday
    UNKNOWN_WEEKEND = "unknown_weekend"  # a weekend day of such a year: perhaps a 调休 working day


DAY_ZH = {
    DayKind.WEEKEND: "周末",
    DayKind.HOLIDAY: "法定节假日",
    DayKind.WORKDAY: "调休上班",
    DayKind.UNKNOWN: "无节假日数据（可能是法定节假日）",
    DayKind.UNKNOWN_WEEKEND: "周末，无节假日数据（可能是调休上班日）",
}


class SpanState(StrEnum):
    DONE = "done"
    OPEN = "open"
    PLANNED = "planned"


@dataclass(frozen=True)
class Span:
    """One stage on the chart: its first and last day, as recorded or as planned."""

    name_zh: str
    first: date
    last: date
    state: SpanState
    title: str


@dataclass(frozen=True)
class ShadedDay:
    iso: str
    kind: DayKind
    x: int
    title: str


@dataclass(frozen=True)
class Bar:
    name_zh: str
    state: SpanState
    x: int
    y: int
    width: int
    label_y: int
    title: str


@dataclass(frozen=True)
class Tick:
    label: str
    x: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    top: int
    rows_height: int
    day_width: int
    shaded: list[ShadedDay]
    bars: list[Bar]
    months: list[Tick]
    today_x: int | None
    notes: list[str]


def day_zh(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日（星期{WEEKDAYS[day.weekday()]}）"


def day_kinds(first: date, last: date, calendar: WorkingDayCalendar) -> tuple[dict[date, DayKind], list[int]]:
    """Each day's kind from `first` to `last`, and the years among them without holiday data."""
    kinds: dict[date, DayKind] = {}
    missing: set[int] = set()
    day = first
    while day <= last:
        weekend = day.weekday() >= 5
        try:
            working = calendar.is_working_day(day)
        except MissingHolidayData as error:
            missing.add(error.year)
            kinds[day] = DayKind.UNKNOWN_WEEKEND if weekend else DayKind.UNKNOWN
        else:
            if working:
                kinds[day] = DayKind.WORKDAY if weekend else DayKind.WORKING
            else:
                kinds[day] = DayKind.WEEKEND if weekend else DayKind.HOLIDAY
        day += _DAY
    return _whole_breaks(kinds), sorted(missing)


def _whole_breaks(kinds: dict[date, DayKind]) -> dict[date, DayKind]:
    """A run of days off that holds a holiday is one break (五一 is 1–5 May, its weekend included)."""
    merged = dict(kinds)
    run: list[date] = []
    for day in [*kinds, None]:
        if day is not None and kinds[day] in (DayKind.WEEKEND, DayKind.HOLIDAY):
            run.append(day)
            continue
        if any(kinds[d] is DayKind.HOLIDAY for d in run):
            merged.update(dict.fromkeys(run, DayKind.HOLIDAY))
        run = []
    return merged


def chart(
    spans: list[Span], today: date, calendar: WorkingDayCalendar, notes: list[str], supplied: list[int] | None = None
) -> Chart:
    """The chart of the spans, from the first stage's first day to the last one's (or today, if later),
    with `notes` on what it could not plan; `supplied`: the years whose holidays the cycle was given."""
    first = min(s.first for s in spans)
    last = max(today, *(s.last for s in spans))
    notes = list(notes)
    if (last - first).days >= MAX_DAYS:
        last = first + (MAX_DAYS - 1) * _DAY
        notes.append(f"图中只画出自 {day_zh(first)} 起的 {MAX_DAYS} 天 (only the first {MAX_DAYS} days are drawn)")
    kinds, missing = day_kinds(first, last, calendar)
    given = "、".join(f"{year} 年" for year in sorted(supplied or []))
    notes += [
        (f"本周期启动时提供了 {given}的节假日数据，但" if given else "")
        + f"没有 {year} 年的节假日数据：图中该年的日子标为“无节假日数据”（黄色），其中的法定节假日和调休"
        f"上班日未能标出，该年的截止时间也无法推算 (no holiday data for {year})"
        for year in missing
    ]

    def x(day: date) -> int:
        return LABEL_WIDTH + (day - first).days * DAY_WIDTH

    shown = [s for s in spans if s.first <= last]
    bars = [
        Bar(
            name_zh=s.name_zh,
            state=s.state,
            x=x(s.first),
            y=HEADER_HEIGHT + row * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) // 2,
            width=((min(s.last, last) - s.first).days + 1) * DAY_WIDTH,
            label_y=HEADER_HEIGHT + row * ROW_HEIGHT + ROW_HEIGHT // 2 + 5,
            title=s.title,
        )
        for row, s in enumerate(shown)
    ]
    shaded = [
        ShadedDay(day.isoformat(), kind, x(day), f"{day_zh(day)} {DAY_ZH[kind]}")
        for day, kind in kinds.items()
        if kind is not DayKind.WORKING
    ]
    months = [
        Tick(f"{day.year}年{day.month}月" if day == first or day.month == 1 else f"{day.month}月", x(day))
        for day in kinds
        if day == first or day.day == 1
    ]
    rows_height = max(len(bars), 1) * ROW_HEIGHT
    return Chart(
        width=x(last) + DAY_WIDTH + 4,
        height=HEADER_HEIGHT + rows_height + 4,
        top=HEADER_HEIGHT,
        rows_height=rows_height,
        day_width=DAY_WIDTH,
        shaded=shaded,
        bars=bars,
        months=months,
        today_x=x(today) + DAY_WIDTH // 2 if first <= today <= last else None,
        notes=notes,
    )
