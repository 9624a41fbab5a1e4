"""One Temporal Schedule per programme opens its cycle every edition year (client side: create, list, pause).

A real schedule fires at 00:05 Asia/Shanghai on the programme's opening date, in the years from `first_year`
stepping by `every_years`; a rehearsal fires every `rehearsal_interval` seconds, each interval standing for
the next edition. Either way the Schedule starts CycleOpeningWorkflow, whose activity opens the cycle once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from pydantic import Field
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode

from awardcycle.service import RefusalKind, Refused
from programmes import CatalogueError, get_programme
from schemas import ids
from schemas.common import SHANGHAI, Model
from schemas.opening import OpeningInput, OpeningResult, RehearsalOpening
from schemas.programme import Programme
from workflows.opening import CycleOpeningWorkflow

PREFIX = "open-"
OPENING_HOUR, OPENING_MINUTE = 0, 5  # 00:05 in Shanghai on the opening date
TIME_ZONE = "Asia/Shanghai"
# The server matches calendar years 2000–2100 only (maxCalendarYear in its scheduler).
FIRST_CALENDAR_YEAR, LAST_CALENDAR_YEAR = 2000, 2100
# A server down on the opening date still opens the cycle when it returns within this window.
CATCHUP_WINDOW = timedelta(days=30)
MIN_REHEARSAL_INTERVAL = 2  # seconds: each opening falls a whole second or more inside its interval
MIN_CATCHUP_WINDOW = timedelta(seconds=10)  # the server's minimum

T = TypeVar("T")


def schedule_id(programme_id: str) -> str:
    return f"{PREFIX}{programme_id}"


class ScheduledAction(Model):
    """One opening the Schedule started, with what it decided once it has finished."""

    workflow_id: str
    run_id: str = Field(description="a trigger in the same second as a scheduled opening reuses its workflow id")
    scheduled_at: datetime
    started_at: datetime
    status: str
    result: OpeningResult | None = None


class OpeningSchedule(Model):
    schedule_id: str
    programme_id: str
    mode: Literal["calendar", "rehearsal"]
    spec: str
    task_queue: str
    paused: bool
    note: str | None
    actions: int
    next_action_times: list[datetime]
    recent_actions: list[ScheduledAction]


class DeletedSchedule(Model):
    schedule_id: str
    deleted: bool


@dataclass(frozen=True)
class Plan:
    programme: Programme
    schedule: Schedule


def next_edition(programme: Programme, from_year: int) -> int:
    """The first year on or after `from_year` in which the programme holds an edition."""
    return from_year + (programme.first_year - from_year) % programme.every_years


def plan_schedule(
    programme: Programme | str,
    *,
    task_queue: str = ids.TASK_QUEUE,
    rehearsal_interval: float | None = None,
    first_year: int | None = None,
    day_seconds: float | None = None,
    now: datetime | None = None,
) -> Plan:
    """The Schedule to create, checked without a server; every problem is a one-line Refused."""
    if isinstance(programme, str):
        try:
            programme = get_programme(programme)
        except CatalogueError as error:
            raise Refused(str(error), RefusalKind.NOT_FOUND) from error
    now = now or datetime.now(UTC)
    year = first_year if first_year is not None else next_edition(programme, now.astimezone(SHANGHAI).year)
    if not programme.holds_edition(year):
        raise Refused(
            f"{programme.id} holds no edition in {year} (every {programme.every_years} years from "
            f"{programme.first_year}); give a --first-year it holds one in, e.g. {next_edition(programme, year)}"
        )
    if day_seconds is not None and day_seconds <= 0:
        raise Refused("--day-seconds must be positive")
    if rehearsal_interval is None:
        if day_seconds is not None:
            raise Refused("--day-seconds is for a rehearsal: give --rehearsal-interval too")
        if not FIRST_CALENDAR_YEAR <= year <= LAST_CALENDAR_YEAR:
            raise Refused(f"--first-year must lie in {FIRST_CALENDAR_YEAR}–{LAST_CALENDAR_YEAR}, not {year}")
        spec, opening = _calendar_spec(programme, year), OpeningInput(programme_id=programme.id)
        catchup = CATCHUP_WINDOW
    else:
        if rehearsal_interval < MIN_REHEARSAL_INTERVAL or not float(rehearsal_interval).is_integer():
            raise Refused(
                f"--rehearsal-interval takes whole seconds, at least {MIN_REHEARSAL_INTERVAL}"
                " (a Schedule's times are whole seconds)"
            )
        rehearsal = RehearsalOpening(
            first_year=year,
            interval_seconds=rehearsal_interval,
            day_seconds=day_seconds,
            started_at=now.replace(microsecond=0),
            every_years=programme.every_years,
        )
        spec, opening = _interval_spec(rehearsal), OpeningInput(programme_id=programme.id, rehearsal=rehearsal)
        catchup = max(MIN_CATCHUP_WINDOW, timedelta(seconds=rehearsal_interval))
    mode = "rehearsal" if rehearsal_interval is not None else "calendar"
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            CycleOpeningWorkflow.run,
            opening,
            id=schedule_id(programme.id),  # the server appends each action's scheduled time
            task_queue=task_queue,
        ),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup),
        state=ScheduleState(note=f"{mode} opening of {programme.id} from {year}"),
    )
    return Plan(programme=programme, schedule=schedule)


def _calendar_spec(programme: Programme, first_year: int) -> ScheduleSpec:
    month, day = (int(part) for part in programme.opening.split("-"))
    return ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                second=[ScheduleRange(0)],
                minute=[ScheduleRange(OPENING_MINUTE)],
                hour=[ScheduleRange(OPENING_HOUR)],
                day_of_month=[ScheduleRange(day)],
                month=[ScheduleRange(month)],
                # end is required: a range without one matches its start year only.
                year=[ScheduleRange(first_year, LAST_CALENDAR_YEAR, programme.every_years)],
                comment=f"{programme.id} opens on {programme.opening}",
            )
        ],
        time_zone_name=TIME_ZONE,
    )


def _interval_spec(rehearsal: RehearsalOpening) -> ScheduleSpec:
    """Fires in the middle of each rehearsal interval, so a late start or a trigger stays in its interval.

    The server keeps a schedule's times to the whole second (TemporalScheduledStartTime is truncated), so
    started_at and the interval are whole seconds and so is the half-interval phase.
    """
    every = timedelta(seconds=rehearsal.interval_seconds)
    first = rehearsal.started_at + timedelta(seconds=int(rehearsal.interval_seconds) // 2)
    offset = (first - datetime(1970, 1, 1, tzinfo=UTC)) % every  # intervals count from the Unix epoch
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every, offset=offset)])


async def create_schedule(
    client: Client,
    programme: Programme | str,
    *,
    task_queue: str = ids.TASK_QUEUE,
    rehearsal_interval: float | None = None,
    first_year: int | None = None,
    day_seconds: float | None = None,
) -> OpeningSchedule:
    plan = plan_schedule(
        programme,
        task_queue=task_queue,
        rehearsal_interval=rehearsal_interval,
        first_year=first_year,
        day_seconds=day_seconds,
    )
    sid = schedule_id(plan.programme.id)
    try:
        handle = await client.create_schedule(sid, plan.schedule)
    except ScheduleAlreadyRunningError as error:
        raise Refused(
            f"计划已存在 (schedule {sid} already exists; pause, resume or delete it)", RefusalKind.CONFLICT
        ) from error
    return await _summary(client, await handle.describe())


async def describe_schedule(client: Client, sid: str) -> OpeningSchedule:
    return await _summary(client, await _describe(client, sid))


async def list_schedules(client: Client) -> list[OpeningSchedule]:
    """Every opening schedule of the namespace (the list is eventually consistent: a new one shows soon)."""
    found: list[str] = []
    async for entry in await client.list_schedules():
        workflow_type = getattr(entry.schedule.action, "workflow", None) if entry.schedule else None
        if workflow_type == CycleOpeningWorkflow.__name__ or entry.id.startswith(PREFIX):
            found.append(entry.id)
    summaries: list[OpeningSchedule] = []
    for sid in sorted(found):
        try:
            summaries.append(await describe_schedule(client, sid))
        except Refused:  # deleted since it was listed
            continue
    return summaries


async def pause(client: Client, sid: str, note: str | None = None) -> OpeningSchedule:
    await _describe(client, sid)
    await _call(sid, client.get_schedule_handle(sid).pause(note=note or "paused from the awardcycle CLI"))
    return await describe_schedule(client, sid)


async def resume(client: Client, sid: str, note: str | None = None) -> OpeningSchedule:
    await _describe(client, sid)
    await _call(sid, client.get_schedule_handle(sid).unpause(note=note or "resumed from the awardcycle CLI"))
    return await describe_schedule(client, sid)


async def delete(client: Client, sid: str) -> DeletedSchedule:
    await _describe(client, sid)
    await _call(sid, client.get_schedule_handle(sid).delete())
    return DeletedSchedule(schedule_id=sid, deleted=True)


async def _call(sid: str, coro: Awaitable[T]) -> T:
    try:
        return await coro
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise _unknown(sid) from error
        raise


async def _describe(client: Client, sid: str) -> ScheduleDescription:
    result: ScheduleDescription = await _call(sid, client.get_schedule_handle(sid).describe())
    return result


def _unknown(sid: str) -> Refused:
    hint = "" if sid.startswith(PREFIX) else f"; schedule ids look like {PREFIX}PROGRAMME"
    return Refused(f"未找到计划 (no schedule {sid!r}{hint})", RefusalKind.NOT_FOUND)


async def _summary(client: Client, description: ScheduleDescription) -> OpeningSchedule:
    schedule, info = description.schedule, description.info
    action = schedule.action
    task_queue = action.task_queue if isinstance(action, ScheduleActionStartWorkflow) else ""
    recent = await asyncio.gather(
        *(
            _action(client, a.action, a.scheduled_at, a.started_at)
            for a in info.recent_actions
            if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
        )
    )
    rehearsal = bool(schedule.spec.intervals)
    return OpeningSchedule(
        schedule_id=description.id,
        programme_id=description.id.removeprefix(PREFIX),
        mode="rehearsal" if rehearsal else "calendar",
        spec=_describe_spec(schedule.spec),
        task_queue=task_queue,
        paused=schedule.state.paused,
        note=schedule.state.note,
        actions=info.num_actions,
        next_action_times=list(info.next_action_times),
        recent_actions=list(recent),
    )


async def _action(
    client: Client, started: ScheduleActionExecutionStartWorkflow, scheduled_at: datetime, started_at: datetime
) -> ScheduledAction:
    action = ScheduledAction(
        workflow_id=started.workflow_id,
        run_id=started.first_execution_run_id,
        scheduled_at=scheduled_at,
        started_at=started_at,
        status="gone",  # past the namespace's retention
    )
    handle = client.get_workflow_handle(action.workflow_id, run_id=action.run_id, result_type=OpeningResult)
    try:
        described = await handle.describe()
    except RPCError:
        return action
    action.status = described.status.name.lower() if described.status else "unknown"
    if described.status is WorkflowExecutionStatus.COMPLETED:
        action.result = await handle.result()
    return action


def _describe_spec(spec: ScheduleSpec) -> str:
    def ranges(values: Sequence[ScheduleRange], width: int = 2) -> str:
        return ",".join(
            f"{r.start:0{width}d}"
            + (f"–{r.end:0{width}d}" if r.end != r.start else "")
            + (f" every {r.step}" if r.step > 1 else "")
            for r in values
        )

    parts = [f"every {i.every.total_seconds():g} s, one interval per edition (rehearsal)" for i in spec.intervals]
    parts += [
        f"{ranges(c.month)}-{ranges(c.day_of_month)} {ranges(c.hour)}:{ranges(c.minute)} "
        f"{spec.time_zone_name or 'UTC'}, years {ranges(c.year, 4) or 'all'}"
        for c in spec.calendars
    ]
    return "; ".join(parts) or "no times"
