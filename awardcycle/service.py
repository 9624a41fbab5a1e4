"""Client-side operations shared by the CLI, the web app, the simulator and the tests."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.calendar import CalendarError, WorkingDayCalendar
from awardcycle.acts import ACTS
from programmes import load_catalogue
from schemas import ids
from schemas.application import ApplicationForm, ApplicationStatus, ScoringTask
from schemas.calendar import CalendarSpec
from schemas.common import SHANGHAI, Actor
from schemas.consultation import ConsultationInput, ConsultationStatus
from schemas.credit_code import credit_code_problem
from schemas.cycle import ApplicationAccepted, ApplicationSubmission, CycleInput, CycleStatus
from schemas.ladder import Recommender
from schemas.notice import NoticeStatus
from schemas.programme import Programme
from workflows.cycle import AwardCycleWorkflow

R = TypeVar("R", bound=BaseModel)


class Refused(Exception):
    """A request was refused; the message is the one-line reason shown to the person."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def check_calendar(programme: Programme, year: int, calendar: CalendarSpec, *, rehearsal: bool) -> None:
    """Fail closed before a cycle starts if its planned schedule reaches a year without holiday data."""
    if not programme.holds_edition(year):
        raise Refused(f"{programme.name_zh} 在 {year} 年不举办 ({programme.id} holds no edition in {year})")
    days = WorkingDayCalendar(calendar)
    instant = programme.opens_at(year) if rehearsal else datetime.now(SHANGHAI)
    try:
        days.is_working_day(date(year, 1, 1))
        for stage in programme.stages:
            duration = programme.duration_of(stage)
            if duration is not None:
                instant = days.add(instant, duration)
    except CalendarError as error:
        raise Refused(str(error)) from error


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


async def start_cycle(
    client: Client,
    programme: Programme,
    year: int,
    *,
    task_queue: str = ids.TASK_QUEUE,
    day_seconds: float | None = None,
    calendar: CalendarSpec | None = None,
    cycle_id: str | None = None,
) -> str:
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
            ),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError as error:
        raise Refused(f"周期已存在 (cycle {workflow_id} already exists)", status=409) from error
    await _until_open(client, workflow_id)
    return workflow_id


async def _until_open(client: Client, cycle_id: str, seconds: float = 60) -> None:
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
    raise Refused(
        f"周期已创建但未开启 (cycle {cycle_id} started but did not open in {seconds:.0f} s; is a worker running?)"
    )


BUSY = (
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.RESOURCE_EXHAUSTED,  # "consistent query buffer is full", rate limits
    RPCStatusCode.CANCELLED,
)
# A workflow whose last task failed (a worker restarting, a task timed out) answers no query until retried.
TASK_FAILED = "Workflow Task in failed state"
QUERY_ATTEMPTS = 3
FIRST_RETRY_SECONDS = 0.5
# A workflow whose task keeps failing holds a query for 30 s before the server gives up; ask again sooner.
QUERY_TIMEOUT = timedelta(seconds=10)


def transient(error: RPCError) -> bool:
    """A busy or briefly unreachable server: asking again later is the answer."""
    return error.status in BUSY or "Timeout expired" in error.message or TASK_FAILED in error.message


def _reason(error: BaseException) -> str:
    cause = error.__cause__ or error
    if isinstance(error, WorkflowUpdateFailedError) and isinstance(cause, ApplicationError):
        return cause.message
    return str(cause) or type(cause).__name__


async def _call(coro: Any, handle: WorkflowHandle[Any, Any] | None = None) -> Any:
    try:
        return await coro
    except WorkflowUpdateFailedError as error:
        raise Refused(_reason(error), status=409) from error
    except RPCError as error:
        if transient(error) or error.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise  # busy (the caller may ask again), or not a refusal at all
        if handle is not None and await _closed(handle):
            raise Refused(f"任务已结束 (the workflow {handle.id} is closed; nothing more is accepted)", 409) from error
        raise Refused(f"未找到 (not found: {handle.id if handle else error.message})", status=404) from error


async def _closed(handle: WorkflowHandle[Any, Any]) -> bool:
    try:
        description = await handle.describe()
    except RPCError:
        return False
    return description.status is not WorkflowExecutionStatus.RUNNING


async def submit_application(client: Client, cycle_id: str, form: ApplicationForm, actor: Actor) -> ApplicationAccepted:
    if form.credit_code and (problem := credit_code_problem(form.credit_code)):
        raise Refused(problem, status=422)
    handle = client.get_workflow_handle(cycle_id)
    submission = ApplicationSubmission(actor=actor, form=form)
    result: ApplicationAccepted = await _call(
        handle.execute_update(AwardCycleWorkflow.submit_application, submission),
        handle,
    )
    return result


async def query(client: Client, workflow_id: str, name: str, result_type: type[R], *args: str) -> R:
    """A query, asked again with backoff while the server is busy; it changes nothing, so repeating is safe."""
    handle = client.get_workflow_handle(workflow_id)
    pause = FIRST_RETRY_SECONDS
    for attempt in range(QUERY_ATTEMPTS):
        try:
            asked = handle.query(name, args=list(args), result_type=result_type, rpc_timeout=QUERY_TIMEOUT)
            result: R = await _call(asked)
        except RPCError as error:
            if not transient(error) or attempt == QUERY_ATTEMPTS - 1:
                raise
            await asyncio.sleep(pause)
            pause *= 2
        else:
            return result
    raise AssertionError("unreachable")


async def cycle_status(client: Client, cycle_id: str) -> CycleStatus:
    return await query(client, cycle_id, "status", CycleStatus)


async def application_status(client: Client, application_id: str) -> ApplicationStatus:
    return await query(client, application_id, "status", ApplicationStatus)


async def application_form(client: Client, application_id: str) -> ApplicationForm:
    return await query(client, application_id, "form", ApplicationForm)


async def consultation_status(client: Client, workflow_id: str) -> ConsultationStatus:
    return await query(client, workflow_id, "status", ConsultationStatus)


async def consultation_task(client: Client, workflow_id: str) -> ConsultationInput:
    return await query(client, workflow_id, "task", ConsultationInput)


async def scoring_task(client: Client, application_id: str, expert_id: str) -> ScoringTask:
    return await query(client, application_id, "scoring", ScoringTask, expert_id)


async def notice_status(client: Client, workflow_id: str) -> NoticeStatus:
    return await query(client, workflow_id, "status", NoticeStatus)


async def perform(client: Client, workflow_id: str, act_name: str, payload: BaseModel) -> BaseModel:
    """Run one human act (an Update) and return what the workflow answered."""
    act = ACTS.get(act_name)
    if act is None:
        raise Refused(f"未知操作 (unknown act {act_name!r}; known: {', '.join(sorted(ACTS))})", status=404)
    if not isinstance(payload, act.input):
        payload = act.input.model_validate(payload.model_dump() if isinstance(payload, BaseModel) else payload)
    handle = client.get_workflow_handle(workflow_id)
    result: BaseModel = await _call(handle.execute_update(act.name, payload, result_type=act.output), handle)
    return result
