"""Award cycles: start an edition, list them from the read model, ask one for its live status."""

from __future__ import annotations

from fastapi import APIRouter, status

from awardcycle import service
from awardcycle.service import Refused
from programmes import get_programme
from schemas.application import ApplicationForm
from schemas.calendar import CalendarSpec
from schemas.common import Actor, Channel, Role
from schemas.cycle import ApplicationAccepted, CycleStatus
from schemas.holiday_file import calendar_problems
from store import queries
from web.deps import ClientDep, SessionDep, TaskQueueDep, require_kind
from web.schemas import CyclePublic, CyclesPublic, CycleStart, CycleStarted, Detail, MessagePublic, MessagesPublic

router = APIRouter(prefix="/cycles", tags=["cycles"])


@router.post("", status_code=status.HTTP_201_CREATED, responses={404: {"model": Detail}, 409: {"model": Detail}})
async def start_cycle(body: CycleStart, client: ClientDep, task_queue: TaskQueueDep) -> CycleStarted:
    programme = get_programme(body.programme)
    if body.holidays and (problems := calendar_problems(body.holidays)):
        raise Refused(f"节假日数据有误 (holidays: {'; '.join(problems)})", status=422)
    supplied = [body.holidays] if body.holidays else []
    cycle_id = await service.start_cycle(
        client,
        programme,
        body.year,
        task_queue=task_queue,
        day_seconds=body.day_seconds,
        calendar=CalendarSpec(supplied=supplied),
        cycle_id=body.cycle_id,
    )
    return CycleStarted(cycle_id=cycle_id)


@router.get("")
def list_cycles(session: SessionDep, year: int | None = None) -> CyclesPublic:
    data = [CyclePublic.model_validate(row, from_attributes=True) for row in queries.list_cycles(session, year=year)]
    return CyclesPublic(data=data, count=len(data))


@router.get("/{cycle_id}", responses={404: {"model": Detail}})
async def cycle_status(cycle_id: str, client: ClientDep) -> CycleStatus:
    require_kind(cycle_id, "cycle")
    return await service.cycle_status(client, cycle_id)


@router.get("/{cycle_id}/undelivered")
def undelivered_messages(cycle_id: str, session: SessionDep) -> MessagesPublic:
    """Messages of the cycle whose last send failed; Temporal keeps retrying them with backoff."""
    require_kind(cycle_id, "cycle")
    rows = queries.failed_messages(session, workflow_prefix=f"{cycle_id}.")
    data = [MessagePublic.model_validate(row, from_attributes=True) for row in rows]
    return MessagesPublic(data=data, count=len(data))


@router.post(
    "/{cycle_id}/applications",
    status_code=status.HTTP_201_CREATED,
    tags=["applications"],
    responses={404: {"model": Detail}, 409: {"model": Detail}},
)
async def submit_application(cycle_id: str, form: ApplicationForm, client: ClientDep) -> ApplicationAccepted:
    """Submit an application file; the applicant is the form's contact email."""
    require_kind(cycle_id, "cycle")
    applicant = Actor(role=Role.APPLICANT, identity=form.contact_email, channel=Channel.API)
    return await service.submit_application(client, cycle_id, form, applicant)
