"""Holiday calendars for years the library does not cover yet: supplied once per year by an administrator
or an office-wide coordinator, read by every cycle that reaches that year (those waiting for it go on)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status
from sqlalchemy.exc import IntegrityError

from activities.calendar import LIBRARY_YEARS
from awardcycle.service import RefusalKind, Refused
from schemas.common import HolidayCalendar, Model
from schemas.holiday_file import calendar_problems
from schemas.identity import AccountRole
from store.db import session
from store.holidays import supplied_holidays, supply_holidays
from web.auth import PrincipalDep, forbidden
from web.deps import EngineDep, SessionDep
from web.schemas import AUTH_ERRORS, Detail

router = APIRouter(prefix="/holidays", tags=["holidays"])
SUPPLIERS = (AccountRole.ADMIN, AccountRole.COORDINATOR)


class HolidaysPublic(Model):
    library_years: list[int]
    data: list[HolidayCalendar]
    count: int


@router.get("", responses=AUTH_ERRORS)
def list_holidays(db: SessionDep, principal: PrincipalDep) -> HolidaysPublic:
    """The years the library covers, and the calendars supplied for others."""
    data = supplied_holidays(db)
    return HolidaysPublic(library_years=list(LIBRARY_YEARS), data=data, count=len(data))


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**AUTH_ERRORS, 409: {"model": Detail}, 422: {"model": Detail}}
)
def supply(body: HolidayCalendar, engine: EngineDep, principal: PrincipalDep) -> HolidayCalendar:
    """Supply a year's calendar (statutory days off and 调休 workdays); it is never replaced once supplied."""
    if not any(principal.holds_everywhere(role) for role in SUPPLIERS):
        raise forbidden(
            "只有管理员或全部项目的协调员可以补充节假日数据 (supplying holidays needs admin@* or coordinator@*)"
        )
    if problems := calendar_problems(body):
        raise Refused(f"节假日数据有误 (holidays: {'; '.join(problems)})", RefusalKind.INVALID)
    if body.year in LIBRARY_YEARS:
        raise Refused(
            f"节假日库已有 {body.year} 年数据 (the library covers {body.year}; only later years are supplied)",
            RefusalKind.CONFLICT,
        )
    try:
        with session(engine) as s:
            kept = supply_holidays(s, body, by=principal.username, at=datetime.now(UTC))
    except IntegrityError:  # supplied at the same moment by someone else
        kept = False
    if not kept:
        raise Refused(
            f"{body.year} 年的节假日数据已补充，不可替换 ({body.year} is supplied already and is never replaced)",
            RefusalKind.CONFLICT,
        )
    return body
