"""Starting a programme's cycle for a year: the calendar check, the workflow start, the wait until it opens.

The opening activity (a yearly Schedule's) and the client service (`awardcycle.service`, for the CLI and the
web app) both start cycles this way. A cycle that cannot be started raises a `CycleStartError` whose class
says why; the service turns it into a refusal, the activity into a recorded result.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.calendar import CalendarError, WorkingDayCalendar
from activities.rpc import transient
from programmes import load_catalogue
from schemas import ids
from schemas.calendar import CalendarSpec
from schemas.common import SHANGHAI
from schemas.cycle import EVENTS_PER_RUN, CycleInput, CycleStatus
from schemas.ladder import Recommender
from schemas.programme import Programme
from workflows.cycle import AwardCycleWorkflow

OPEN_SECONDS = 60.0  # how long a started cycle has to compute its first deadline


class CycleStartError(Exception):
    """A cycle that cannot be started, or was started but has not opened; the message is the one-line reason."""


class NoEdition(CycleStartError):
    """The programme holds no edition in that year."""


class CalendarMissing(CycleStartError):
    """The cycle's planned schedule reaches a day the working-day calendar has no data for."""


class CycleExists(CycleStartError):
    """A workflow with the cycle's id already exists (running or closed)."""


class NotOpenYet(CycleStartError):
    """The cycle was started but did not compute its first deadline in time (no worker on its queue?)."""


def check_calendar(programme: Programme, year: int, calendar: CalendarSpec, *, rehearsal: bool) -> None:
    """Fail closed before a cycle starts if its planned schedule reaches a year without holiday data."""
    if not programme.holds_edition(year):
        raise NoEdition(f"{programme.name_zh} 在 {year} 年不举办 ({programme.id} holds no edition in {year})")
    days = WorkingDayCalendar(calendar)
    instant = programme.opens_at(year) if rehearsal else datetime.now(SHANGHAI)
    try:
        days.is_working_day(date(year, 1, 1))
        for stage in programme.stages:
            duration = programme.duration_of(stage)
            if duration is not None:
                instant = days.add(instant, duration)
    except CalendarError as error:
        raise CalendarMissing(str(error)) from error


def recommenders_of(programme: Programme) -> list[Recommender]:
    """The catalogue's programmes that feed this one, with their quotas per edition."""
    return [
        Recommender(
            programme=other.id, name_zh=other.name_zh, organisations=feed.organisations, individuals=feed.individuals
        )
        for other in load_catalogue().values()
        for feed in other.feeds
        if feed.programme == programme.id
    ]


async def start_cycle_workflow(
    client: Client,
    programme: Programme,
    year: int,
    *,
    task_queue: str = ids.TASK_QUEUE,
    day_seconds: float | None = None,
    calendar: CalendarSpec | None = None,
    cycle_id: str | None = None,
    events_per_run: int = EVENTS_PER_RUN,
) -> str:
    """Check the calendar, then start the cycle's workflow once (its id is never reused); the cycle id."""
    calendar = calendar or CalendarSpec()
    check_calendar(programme, year, calendar, rehearsal=day_seconds is not None)
    workflow_id = cycle_id or ids.cycle_id(programme.id, year)
    try:
        await client.start_workflow(
            AwardCycleWorkflow.run,
            CycleInput(
                cycle_id=workflow_id,
                programme=programme,
                year=year,
                day_seconds=day_seconds,
                calendar=calendar,
                recommenders=recommenders_of(programme),
                events_per_run=events_per_run,
            ),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError as error:
        raise CycleExists(f"周期已存在 (cycle {workflow_id} already exists)") from error
    return workflow_id


async def until_open(client: Client, cycle_id: str, seconds: float = OPEN_SECONDS) -> None:
    """Return once the cycle has computed its first deadline, so the caller can apply at once."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + seconds
    handle = client.get_workflow_handle(cycle_id)
    while loop.time() < give_up:
        try:
            status = await handle.query("status", result_type=CycleStatus, rpc_timeout=timedelta(seconds=5))
        except RPCError as error:
            if not transient(error):
                raise
        else:
            if status.stages:
                return
        await asyncio.sleep(0.1)
    raise NotOpenYet(
        f"周期已创建但未开启 (cycle {cycle_id} started but did not open in {seconds:.0f} s; is a worker running?)"
    )
