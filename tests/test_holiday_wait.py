"""A cycle whose schedule reaches a year without holiday data waits, says so, and goes on once the year is
supplied; an extension into such a year is refused with the real reason. Neither fails the workflow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import delete
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.calendar import MissingHolidayData, WorkingDayCalendar
from awardcycle import service
from awardcycle.service import Refused
from programmes import get_programme
from schemas.calendar import CalendarSpec
from schemas.common import SHANGHAI
from schemas.consultation import DeadlineExtension
from schemas.cycle import CycleStatus
from schemas.holiday_file import load_holiday_file
from schemas.programme import Duration, StageKind
from store.db import session
from store.tables import HolidayCalendarRow
from tests.conftest import login
from tests.scenario import COORDINATOR, apply_all, forms, small, start, terminate
from workflows.common import HOLIDAY_WAIT_RETRY

QINGDAO = "qingdao-mayor-quality-award"
CALENDAR = WorkingDayCalendar(CalendarSpec())
HOLIDAYS_2027 = Path(__file__).parent / "data" / "holidays-2027.toml"
YEAR_END = datetime(2027, 1, 1, tzinfo=SHANGHAI)  # a deadline at 24:00 on 31 December is this instant


def in_2026(deadline: datetime, days: int) -> bool:
    try:
        return CALENDAR.add(deadline, Duration(days=days)) <= YEAR_END
    except MissingHolidayData:
        return False


def extension(days: int) -> DeadlineExtension:
    return DeadlineExtension(actor=COORDINATOR, working_days=days, reason="区市推荐顺延至年底")


async def status_showing(env: WorkflowEnvironment, cycle_id: str, shown: Callable[[CycleStatus], bool]) -> CycleStatus:
    for _ in range(300):
        status = await service.cycle_status(env.client, cycle_id)
        if shown(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{cycle_id} never showed it: {status}")


@pytest.fixture
def no_supplied_2027(engine: Engine) -> Iterator[None]:
    yield
    with session(engine) as s:  # the session's store is shared: leave 2027 unsupplied for the other tests
        s.exec(delete(HolidayCalendarRow))


async def test_a_cycle_waits_for_next_years_holidays_and_goes_on_once_supplied(
    api: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str, no_supplied_2027: None
) -> None:
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"holidays-{uuid.uuid4().hex[:6]}")
    await apply_all(env.client, cycle_id, forms(programme))
    deadline = (await service.cycle_status(env.client, cycle_id)).stage_deadline
    assert deadline is not None

    # Two extensions take the call to the last working day of 2026.
    await service.perform(env.client, cycle_id, "extend_deadline", extension(120))
    deadline = (await service.cycle_status(env.client, cycle_id)).stage_deadline
    assert deadline is not None
    days = 1
    while in_2026(deadline, days + 1):
        days += 1
    await service.perform(env.client, cycle_id, "extend_deadline", extension(days))
    status = await service.cycle_status(env.client, cycle_id)
    assert status.stage_deadline == CALENDAR.add(deadline, Duration(days=days))

    # One working day more would need 2027: refused with the reason, and nothing changed.
    with pytest.raises(Refused) as refused:
        await service.perform(env.client, cycle_id, "extend_deadline", extension(1))
    assert "尚无该年节假日数据" in str(refused.value) and "2027" in str(refused.value)
    assert (await service.cycle_status(env.client, cycle_id)).stage_deadline == status.stage_deadline

    # Past the call, the qualification stage's deadline falls in 2027: the cycle waits and says so.
    assert status.stage_deadline is not None
    await env.sleep(status.stage_deadline - status.cycle_time + timedelta(hours=1))
    waiting = await status_showing(env, cycle_id, lambda s: s.holidays_missing == 2027)
    assert waiting.stage is None, "between the call and qualification, whose deadline is not known yet"
    described = await env.client.get_workflow_handle(cycle_id).describe()
    assert described.status is WorkflowExecutionStatus.RUNNING
    overview = await api.get(f"/api/v1/cycles/{cycle_id}")
    assert overview.status_code == 200 and overview.json()["holidays_missing"] == 2027

    # Only someone who runs every programme may supply it; then the cycle goes on by itself.
    calendar = load_holiday_file(HOLIDAYS_2027).model_dump(mode="json")
    one_programme = await login(api, "qd-coord")
    assert (await api.post("/api/v1/holidays", json=calendar, headers=one_programme)).status_code == 403
    supplied = await api.post("/api/v1/holidays", json=calendar)
    assert supplied.status_code == 201, supplied.text
    again = await api.post("/api/v1/holidays", json=calendar)
    assert again.status_code == 409 and "不可替换" in again.json()["detail"]
    library = await api.post("/api/v1/holidays", json={**calendar, "year": 2026, "holidays": [], "workdays": []})
    assert library.status_code == 409
    await env.sleep(HOLIDAY_WAIT_RETRY.maximum_interval or timedelta(0))  # the lookup's next attempt finds it
    gone_on = await status_showing(env, cycle_id, lambda s: s.stage is StageKind.QUALIFICATION)
    assert gone_on.holidays_missing is None
    assert gone_on.stage_deadline is not None and gone_on.stage_deadline > YEAR_END
    listed = await api.get("/api/v1/holidays")
    assert [c["year"] for c in listed.json()["data"]] == [2027]
    await terminate(env.client, cycle_id)
