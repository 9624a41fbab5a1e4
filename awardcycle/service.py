"""Client-side operations shared by the CLI, the web app, the simulator and the tests."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Engine
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities import cycle_start
from activities.cycle_start import CycleExists, CycleStartError
from activities.rpc import transient
from awardcycle.acts import ACTS
from schemas import ids
from schemas.application import ApplicationForm, ApplicationState, ApplicationStatus, ApplicationView, ScoringTask
from schemas.calendar import CalendarSpec
from schemas.common import Actor
from schemas.consultation import ConsultationInput, ConsultationStatus
from schemas.credit_code import credit_code_problem
from schemas.cycle import (
    EVENTS_PER_RUN,
    ApplicationAccepted,
    ApplicationSubmission,
    CycleOverview,
    CycleStatus,
)
from schemas.notice import NoticeStatus
from schemas.programme import Programme
from store import queries
from store.db import session
from workflows.cycle import HANDING_OVER, AwardCycleWorkflow

R = TypeVar("R", bound=BaseModel)


class RefusalKind(StrEnum):
    """Why a request was refused, as its caller acts on it; the web app answers each with its HTTP status."""

    REFUSED = "refused"  # understood, but not possible as asked (no edition that year, no holiday data)
    INVALID = "invalid"  # a value that fails its check: a credit code, a page size, a form field
    UNAUTHORIZED = "unauthorized"  # no one is logged in, or the token expired
    FORBIDDEN = "forbidden"  # logged in, but not allowed this
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # the workflow refused the act in its present state, or the id is taken
    CLOSED = "closed"  # the workflow has ended and accepts nothing more
    BUSY = "busy"  # the server is away or overloaded: ask again later


class Refused(Exception):
    """A request was refused; the message is the one-line reason shown to the person."""

    def __init__(self, reason: str, kind: RefusalKind = RefusalKind.REFUSED) -> None:
        super().__init__(reason)
        self.kind = kind


def check_calendar(programme: Programme, year: int, calendar: CalendarSpec, *, rehearsal: bool) -> None:
    """Fail closed before a cycle starts if its planned schedule reaches a year without holiday data."""
    try:
        cycle_start.check_calendar(programme, year, calendar, rehearsal=rehearsal)
    except CycleStartError as error:
        raise _refusal(error) from error


def _refusal(error: CycleStartError) -> Refused:
    """A cycle not started (or not open) as a refusal: a taken cycle id conflicts, the rest are plain refusals."""
    kind = RefusalKind.CONFLICT if isinstance(error, CycleExists) else RefusalKind.REFUSED
    return Refused(str(error), kind)


async def start_cycle(
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
    """Start the cycle and return its id once it is open (has computed its first deadline)."""
    try:
        workflow_id = await cycle_start.start_cycle_workflow(
            client,
            programme,
            year,
            task_queue=task_queue,
            day_seconds=day_seconds,
            calendar=calendar,
            cycle_id=cycle_id,
            events_per_run=events_per_run,
        )
        await cycle_start.until_open(client, workflow_id)
    except CycleStartError as error:
        raise _refusal(error) from error
    return workflow_id


QUERY_ATTEMPTS = 3
# A cycle hands over to its next run in a few workflow tasks; a submission refused meanwhile is asked again.
HANDOVER_ATTEMPTS = 20
FIRST_RETRY_SECONDS = 0.5
# A workflow whose task keeps failing holds a query for 30 s before the server gives up; ask again sooner.
QUERY_TIMEOUT = timedelta(seconds=10)


# A busy server may take an act and not answer in time: the caller looks before acting again.
UNANSWERED = "服务器繁忙，未及时答复；请查看是否已记录后再试 (the server did not answer in time; check, then retry)"


def _reason(error: BaseException) -> str:
    cause = error.__cause__ or error
    if isinstance(error, WorkflowUpdateFailedError) and isinstance(cause, ApplicationError):
        return cause.message
    return str(cause) or type(cause).__name__


async def _call(coro: Any, handle: WorkflowHandle[Any, Any] | None = None) -> Any:
    try:
        return await coro
    except WorkflowUpdateFailedError as error:
        raise Refused(_reason(error), RefusalKind.CONFLICT) from error
    except WorkflowUpdateRPCTimeoutOrCancelledError as error:
        raise Refused(UNANSWERED, RefusalKind.BUSY) from error
    except RPCError as error:
        if transient(error) or error.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise  # busy (the caller may ask again), or not a refusal at all
        if handle is not None and await _closed(handle):
            raise Refused(
                f"任务已结束 (the workflow {handle.id} is closed; nothing more is accepted)", RefusalKind.CLOSED
            ) from error
        raise Refused(f"未找到 (not found: {handle.id if handle else error.message})", RefusalKind.NOT_FOUND) from error


async def _closed(handle: WorkflowHandle[Any, Any]) -> bool:
    try:
        description = await handle.describe()
    except RPCError:
        return False
    return description.status is not WorkflowExecutionStatus.RUNNING


async def submit_application(client: Client, cycle_id: str, form: ApplicationForm, actor: Actor) -> ApplicationAccepted:
    if form.credit_code and (problem := credit_code_problem(form.credit_code)):
        raise Refused(problem, RefusalKind.INVALID)
    handle = client.get_workflow_handle(cycle_id)
    submission = ApplicationSubmission(actor=actor, form=form)
    result: ApplicationAccepted = await _call(_submit(handle, submission), handle)
    return result


async def _submit(handle: WorkflowHandle[Any, Any], submission: ApplicationSubmission) -> ApplicationAccepted:
    """The submission, asked again while the cycle continues as new: it refused it then without recording it."""
    pause = FIRST_RETRY_SECONDS
    for _ in range(HANDOVER_ATTEMPTS - 1):
        try:
            return await handle.execute_update(AwardCycleWorkflow.submit_application, submission)
        except WorkflowUpdateFailedError as error:
            cause = error.__cause__
            if not (isinstance(cause, ApplicationError) and cause.type == HANDING_OVER):
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5)
    return await handle.execute_update(AwardCycleWorkflow.submit_application, submission)


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
    """The cycle's own status, from its workflow; its applications are in the read model (`cycle_overview`)."""
    return await query(client, cycle_id, "status", CycleStatus)


PAGE_LIMIT = 500  # the most applications one answer lists
DEFAULT_LIMIT = 50


def check_page(*, offset: int, limit: int, state: str | None, order: str) -> ApplicationState | None:
    """The state filter, once offset, limit, state and order are known to make sense; else a 422."""
    if not 1 <= limit <= PAGE_LIMIT:
        raise Refused(
            f"每页条数须为 1–{PAGE_LIMIT} (limit must be 1 to {PAGE_LIMIT}, not {limit})", RefusalKind.INVALID
        )
    if offset < 0:
        raise Refused(f"起始位置不能为负数 (offset must be 0 or more, not {offset})", RefusalKind.INVALID)
    if order not in queries.APPLICATION_ORDERS:
        known = ", ".join(queries.APPLICATION_ORDERS)
        raise Refused(f"未知排序方式 (unknown order {order!r}; known: {known})", RefusalKind.INVALID)
    if state is None:
        return None
    try:
        return ApplicationState(state)
    except ValueError:
        known = ", ".join(s.value for s in ApplicationState)
        raise Refused(
            f"未知申报状态 (unknown application state {state!r}; known: {known})", RefusalKind.INVALID
        ) from None


def _read_model(
    engine: Engine, cycle_id: str, state: ApplicationState | None, offset: int, limit: int, order: str
) -> tuple[list[ApplicationView], int, dict[str, int]]:
    with session(engine) as db:
        page, total = queries.application_page(
            db, cycle_id=cycle_id, state=state, offset=offset, limit=limit, order=order
        )
        counts = queries.application_counts(db, cycle_id=cycle_id)
    # Every state, in the order an application passes them, so a reader sees the zeros too.
    return page, total, {s.value: counts.get(s.value, 0) for s in ApplicationState}


async def cycle_overview(
    client: Client,
    engine: Engine,
    cycle_id: str,
    *,
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
    state: str | None = None,
    order: str = "id",
) -> CycleOverview:
    """The cycle's status, its applications counted by state, and one page of them from the read model.

    The read model is written by the applications as they change, so it may trail a just-accepted act."""
    wanted = check_page(offset=offset, limit=limit, state=state, order=order)
    status, execution, (page, total, counts) = await asyncio.gather(
        cycle_status(client, cycle_id),
        execution_of(client, cycle_id),
        asyncio.to_thread(_read_model, engine, cycle_id, wanted, offset, limit, order),
    )
    return CycleOverview(
        **dict(status),
        execution=execution,
        counts=counts,
        total=total,
        offset=offset,
        limit=limit,
        state=wanted,
        applications=page,
    )


async def execution_of(client: Client, workflow_id: str) -> str:
    """How the workflow's latest run stands in Temporal: "running", "completed", "failed", "terminated", ...

    A failed or terminated cycle still answers its status query with its last state; this says it has ended."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe(rpc_timeout=QUERY_TIMEOUT)
    except RPCError as error:
        if transient(error):
            return "unknown"
        raise
    return description.status.name.lower() if description.status else "unknown"


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
        raise Refused(f"未知操作 (unknown act {act_name!r}; known: {', '.join(sorted(ACTS))})", RefusalKind.NOT_FOUND)
    if not isinstance(payload, act.input):
        payload = act.input.model_validate(payload.model_dump() if isinstance(payload, BaseModel) else payload)
    handle = client.get_workflow_handle(workflow_id)
    result: BaseModel = await _call(handle.execute_update(act.name, payload, result_type=act.output), handle)
    return result
