"""The dashboard at `/console`: the chosen year's cycles by tier, with the brand track beside the awards.

Every cycle comes from the read model; a running cycle's stage and deadline come from its own status
query, asked of all running cycles at once with a short timeout, so that one cycle that does not answer
shows as unavailable instead of holding up the page. What the page renders are the frozen classes here,
never the table rows. A programme's coordinator also finds there the form that starts a cycle.

Overdue departments and open public objections live only in the consultation and notice workflows (the
read model holds applications, not them). They are asked only of cycles where they can exist: the
consultations of a cycle in its consultation stage (one query per department, 17 in Shandong's
programmes), the notice of a cycle that has one and is not completed; at most `CHILD_QUERIES` at a time
for the whole page, each with the same short timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from activities.calendar import CalendarError, WorkingDayCalendar
from awardcycle import service
from notifications.render import zh_datetime
from programmes import load_catalogue
from schemas.application import EXTENSION_NEEDED, STATE_ZH, ApplicationState, ApplicationView
from schemas.calendar import CalendarSpec
from schemas.common import SHANGHAI, Role
from schemas.cycle import CycleStatus
from schemas.identity import AccountRole, Principal
from schemas.notice import NoticeStatus
from schemas.programme import Level, Programme, StageKind
from store import queries
from store.db import session
from store.tables import CycleRow
from web.auth import PERSONAL_DATA, reader_roles
from web.cycle_calendar import cycle_calendar_spec, working_days
from web.form_fields import Bounds, model_bounds
from web.page_parts import UNAVAILABLE, live_answer
from web.schemas import CycleStart

log = logging.getLogger(__name__)
T = TypeVar("T")

YEARS = range(2000, 2101)
WAITING_SHOWN = 3  # applications listed per cycle and role; the rest are counted
CHILD_QUERIES = 24  # consultation and notice queries in flight at once for one dashboard
TIER_ZH = {Level.CITY: "市级 (city)", Level.PROVINCE: "省级 (province)", Level.NATIONAL: "国家级 (national)"}
UNCATALOGUED = "未收录的项目 (not in the catalogue)"


@dataclass(frozen=True)
class Awaited:
    """Who an application waits for, as the account role that can act on it."""

    role: AccountRole
    role_zh: str
    what_zh: str


# The values of ApplicationView.waiting_for (workflows/application.py `_waiting_for`) a console user acts on;
# experts and applicants act through their links, not the console.
AWAITED = {
    Role.SECRETARIAT.value: Awaited(AccountRole.SECRETARIAT, "秘书处", "资格审查或材料审查"),
    EXTENSION_NEEDED: Awaited(AccountRole.COORDINATOR, "协调员", "专家逾期未评分，需延长期限"),
    Role.ONSITE_TEAM.value: Awaited(AccountRole.ONSITE, "现场评审组", "录入现场评审结果"),
    "defence_panel": Awaited(AccountRole.COORDINATOR, "协调员", "录入陈述答辩得分"),  # record_defence is theirs
}


@dataclass(frozen=True)
class CycleCard:
    cycle_id: str
    programme_zh: str
    completed: bool
    live: bool  # the running cycle answered its status query
    stage_zh: str
    deadline_zh: str
    left_zh: str
    overdue: bool
    counts: list[tuple[str, int]]  # (state in Chinese, applications), in the order applications pass them
    total: int
    undelivered: int | None  # None: the user may not read the cycle's outbox
    audit: bool  # the user may open the cycle's audit timeline
    attention: Attention


@dataclass(frozen=True)
class Attention:
    """Overdue department tasks and undecided public objections: a count, None when there can be none now,
    or UNAVAILABLE when a workflow that holds them did not answer."""

    overdue: int | str | None = None
    objections: int | str | None = None


@dataclass(frozen=True)
class Tier:
    key: str  # the Level value, or "uncatalogued"
    name_zh: str
    awards: list[CycleCard]
    brands: list[CycleCard]


@dataclass(frozen=True)
class WaitingItem:
    application_id: str
    name: str
    state_zh: str
    deadline_zh: str


@dataclass(frozen=True)
class Waiting:
    """The applications of one cycle that wait for one of the user's roles."""

    cycle_id: str
    programme_zh: str
    role_zh: str
    what_zh: str
    total: int
    first: list[WaitingItem]


@dataclass(frozen=True)
class Dashboard:
    year: int
    years: list[int]
    tiers: list[Tier]
    waiting: list[Waiting]


@dataclass(frozen=True)
class _Stored:
    """What the read model holds of one cycle."""

    counts: dict[str, int]
    undelivered: int | None
    waiting: list[tuple[Awaited, list[ApplicationView], int]]


@dataclass(frozen=True)
class StartForm:
    """The form that starts a cycle: the programmes the user coordinates, and a refused start's reason and values."""

    programmes: list[tuple[str, str]]  # (id, Chinese name), in the catalogue's order
    limits: dict[str, Bounds]
    error: str
    values: dict[str, str]


Visible = list[tuple[CycleRow, frozenset[AccountRole]]]


def start_form(principal: Principal, error: str = "", values: dict[str, str] | None = None) -> StartForm | None:
    """None when the user coordinates no programme: only a programme's coordinator starts its cycles."""
    programmes = [
        (p.id, p.name_zh) for p in load_catalogue().values() if AccountRole.COORDINATOR in principal.roles_on(p.id)
    ]
    return StartForm(programmes, model_bounds(CycleStart), error, values or {}) if programmes else None


def chosen_year(text: str | None) -> int | None:
    """The year asked for in `?year=`, or None for the default; a ValueError with the reason otherwise."""
    if text is None or not text.strip():
        return None
    year = text.strip()
    if not (year.isascii() and year.isdigit() and int(year) in YEARS):
        raise ValueError(
            f"年度须为 {YEARS.start} 至 {YEARS.stop - 1} 之间的整数，而不是“{text[:20]}” "
            f"(year must be a whole number from {YEARS.start} to {YEARS.stop - 1})"
        )
    return int(year)


async def dashboard(client: Client, engine: Engine, principal: Principal, year: int | None) -> Dashboard:
    """The year's cycles the principal may read (default: the latest year with one), and what waits for them."""
    visible, catalogue = await asyncio.to_thread(_visible_and_catalogue, engine, principal)
    years = sorted({row.year for row, _ in visible}, reverse=True)
    year = year if year is not None else (years[0] if years else datetime.now(SHANGHAI).year)
    shown = [(row, roles) for row, roles in visible if row.year == year]
    running = [row.cycle_id for row, _ in shown if not row.completed]
    live, stored = await asyncio.gather(_live_statuses(client, running), asyncio.to_thread(_read, engine, shown))
    limit = asyncio.Semaphore(CHILD_QUERIES)
    attention, specs = await asyncio.gather(
        asyncio.gather(*(_attention(client, live.get(row.cycle_id), limit) for row, _ in shown)),
        asyncio.gather(*(_calendar(client, row.cycle_id, live.get(row.cycle_id), limit) for row, _ in shown)),
    )
    cards = []
    for (row, roles), noted, spec in zip(shown, attention, specs, strict=True):
        programme, status = catalogue.get(row.programme_id), live.get(row.cycle_id)
        card = _card(row, roles, programme, status, stored[row.cycle_id], noted, working_days(spec))
        cards.append((programme, card))
    waiting = [
        _waiting(row.cycle_id, _programme_zh(catalogue.get(row.programme_id), row), awaited, views, total)
        for row, _ in shown
        for awaited, views, total in stored[row.cycle_id].waiting
    ]
    return Dashboard(year=year, years=years, tiers=_tiers(cards), waiting=waiting)


def _visible_and_catalogue(engine: Engine, principal: Principal) -> tuple[Visible, dict[str, Programme]]:
    with session(engine) as s:
        rows = queries.list_cycles(s)
    visible = [(row, roles) for row in rows if (roles := reader_roles(principal, row.programme_id))]
    return visible, load_catalogue()


async def _live_statuses(client: Client, cycle_ids: list[str]) -> dict[str, CycleStatus | None]:
    answers = await asyncio.gather(*(_live_status(client, cycle_id) for cycle_id in cycle_ids))
    return dict(zip(cycle_ids, answers, strict=True))


async def _live_status(client: Client, cycle_id: str) -> CycleStatus | None:
    return await live_answer(service.cycle_status(client, cycle_id), cycle_id)


async def _calendar(
    client: Client, cycle_id: str, live: CycleStatus | None, limit: asyncio.Semaphore
) -> CalendarSpec | None:
    """The holidays a running cycle counts with; read once per cycle and kept (web/cycle_calendar.py)."""
    if live is None or live.completed:
        return None
    async with limit:
        return await cycle_calendar_spec(client, cycle_id)


async def _bounded(limit: asyncio.Semaphore, call: Awaitable[T], workflow_id: str) -> T | None:
    async with limit:
        return await live_answer(call, workflow_id)


async def _attention(client: Client, live: CycleStatus | None, limit: asyncio.Semaphore) -> Attention:
    """What a running cycle's consultations and notice hold that waits for the coordinator (see the module's note)."""
    if live is None or live.completed:
        return Attention()
    consulting = live.stage is StageKind.CONSULTATION and bool(live.consultations)
    asked = live.consultations if consulting else []
    consultations, notice = await asyncio.gather(
        asyncio.gather(*(_bounded(limit, service.consultation_status(client, w), w) for w in asked)),
        _notice(client, live.notice, limit),
    )
    overdue: int | str | None = None
    if consulting:
        answers = [c for c in consultations if c is not None]
        overdue = sum(1 for c in answers if c.overdue and not c.answered) if len(answers) == len(asked) else UNAVAILABLE
    objections: int | str | None = None
    if live.notice:
        objections = UNAVAILABLE if notice is None else sum(1 for o in notice.objections if not o.resolved)
    return Attention(overdue, objections)


async def _notice(client: Client, notice_id: str | None, limit: asyncio.Semaphore) -> NoticeStatus | None:
    return await _bounded(limit, service.notice_status(client, notice_id), notice_id) if notice_id else None


def _read(engine: Engine, shown: Visible) -> dict[str, _Stored]:
    with session(engine) as s:
        return {row.cycle_id: _stored(s, row, roles) for row, roles in shown}


def _stored(s: Session, row: CycleRow, roles: frozenset[AccountRole]) -> _Stored:
    # The outbox names recipients, so only those who may see personal data see even its count.
    undelivered = len(queries.failed_messages(s, cycle_id=row.cycle_id)) if roles & PERSONAL_DATA else None
    waiting = [] if row.completed else _awaiting(s, row.cycle_id, roles)
    return _Stored(queries.application_counts(s, cycle_id=row.cycle_id), undelivered, waiting)


def _awaiting(
    s: Session, cycle_id: str, roles: frozenset[AccountRole]
) -> list[tuple[Awaited, list[ApplicationView], int]]:
    found = []
    for value, awaited in AWAITED.items():
        if awaited.role in roles:
            first, total = queries.application_page(
                s, cycle_id=cycle_id, state=None, offset=0, limit=WAITING_SHOWN, awaiting=value
            )
            if total:
                found.append((awaited, first, total))
    return found


def _card(
    row: CycleRow,
    roles: frozenset[AccountRole],
    programme: Programme | None,
    live: CycleStatus | None,
    stored: _Stored,
    attention: Attention,
    calendar: WorkingDayCalendar,
) -> CycleCard:
    stage, deadline_zh, left_zh, overdue = _schedule(row, live, calendar)
    return CycleCard(
        cycle_id=row.cycle_id,
        programme_zh=_programme_zh(programme, row),
        completed=row.completed,
        live=live is not None or row.completed,
        stage_zh=_stage_zh(programme, stage),
        deadline_zh=deadline_zh,
        left_zh=left_zh,
        overdue=overdue,
        counts=[(STATE_ZH[s], stored.counts[s.value]) for s in ApplicationState if stored.counts.get(s.value)],
        total=sum(stored.counts.values()),
        undelivered=stored.undelivered,
        audit=bool(roles & PERSONAL_DATA),
        attention=attention,
    )


def _programme_zh(programme: Programme | None, row: CycleRow) -> str:
    return f"{programme.name_zh if programme else row.programme_id}（{row.year}年度）"


def _stage_zh(programme: Programme | None, stage: str | None) -> str:
    """The programme's own name for the stage (自愿申报与区市推荐, ...); 已结束 once none is open."""
    kind = next((k for k in StageKind if k.value == stage), None)
    if kind is None:
        return "已结束"  # the read model records a cycle past its last stage as "closed"
    found = programme.stage(kind) if programme else None
    return found.name_zh if found else kind.value


def _schedule(
    row: CycleRow, live: CycleStatus | None, calendar: WorkingDayCalendar
) -> tuple[str | None, str, str, bool]:
    """The open stage, its deadline, the working days left and whether it is past: live, else as recorded."""
    if live is not None:
        return (live.stage.value if live.stage else None), *deadline_text(live, calendar)
    # A completed cycle is not asked; a running one that did not answer keeps its last recorded stage.
    return row.stage, ("—" if row.completed else UNAVAILABLE), "", False


def deadline_text(live: CycleStatus, calendar: WorkingDayCalendar) -> tuple[str, str, bool]:
    """The open stage's deadline as a Chinese date, and the working days left by the cycle's own clock and
    holiday data."""
    deadline, now = live.stage_deadline, live.cycle_time
    if deadline is None:
        return ("本环节不设截止时间" if live.stage else "—"), "", False
    if deadline <= now:
        return zh_datetime(deadline), "已逾期", True
    try:
        left = calendar.working_days_left(now, deadline)
    except CalendarError:
        return zh_datetime(deadline), "工作日数未知（缺少该年节假日数据）", False
    return zh_datetime(deadline), f"剩余 {left} 个工作日", False


def _tiers(cards: list[tuple[Programme | None, CycleCard]]) -> list[Tier]:
    """City, province, national, then programmes the catalogue no longer lists; empty tiers are left out."""
    tiers = []
    for level, name_zh in [*TIER_ZH.items(), (None, UNCATALOGUED)]:
        here = [(p, card) for p, card in cards if (p.level if p else None) == level]
        if here:
            awards = [card for p, card in here if not (p and p.brand)]
            brands = [card for p, card in here if p and p.brand]
            tiers.append(Tier(level.value if level else "uncatalogued", name_zh, awards, brands))
    return tiers


def _waiting(cycle_id: str, programme_zh: str, awaited: Awaited, views: list[ApplicationView], total: int) -> Waiting:
    first = [
        WaitingItem(
            application_id=view.application_id,
            name=view.name,
            state_zh=STATE_ZH[view.state],
            deadline_zh=zh_datetime(view.deadline) if view.deadline else "",
        )
        for view in views
    ]
    return Waiting(cycle_id, programme_zh, awaited.role_zh, awaited.what_zh, total, first)
