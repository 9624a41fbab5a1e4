"""Award cycles: start an edition, list them from the read model, ask one for its live status."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import ValidationError

from awardcycle import service
from awardcycle.service import RefusalKind, Refused
from programmes import get_programme
from schemas.application import ApplicationForm
from schemas.calendar import CalendarSpec
from schemas.common import Actor
from schemas.cycle import ApplicationAccepted, CycleOverview
from schemas.holiday_file import calendar_problems
from schemas.identity import WORKFLOW_ROLE, AccountRole
from store import queries
from store.documents import DocumentRefused
from store.holidays import supplied_holidays
from web import visibility
from web.applicant_form import MAX_OTHER_DOCUMENTS, EnteredApplication, read_uploads
from web.auth import PERSONAL_DATA, Access, PrincipalDep, access, forbidden, reader_roles
from web.deps import ClientDep, EngineDep, SessionDep, TaskQueueDep, of_kind
from web.routes.calls import load_call, submit_entered
from web.routes.paper import paper_actor
from web.schemas import (
    AUTH_ERRORS,
    CyclePublic,
    CyclesPublic,
    CycleStart,
    CycleStarted,
    Detail,
    MessagePublic,
    MessagesPublic,
)

router = APIRouter(prefix="/cycles", tags=["cycles"])
CycleReader = Annotated[Access, access("cycle_id")]


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**AUTH_ERRORS, 409: {"model": Detail}, 422: {"model": Detail}}
)
async def start_cycle(
    body: CycleStart, client: ClientDep, task_queue: TaskQueueDep, principal: PrincipalDep, session: SessionDep
) -> CycleStarted:
    """Start an edition; only a coordinator of the programme may, and a chosen id starts with the programme's."""
    programme = get_programme(body.programme)
    if AccountRole.COORDINATOR not in principal.roles_on(programme.id):
        raise forbidden(f"只有该项目的协调员可以启动周期 (starting a cycle needs coordinator@{programme.id})")
    if body.cycle_id is not None and not body.cycle_id.startswith(f"{programme.id}-"):
        raise Refused(
            f"周期编号须以项目编号开头 (a cycle id of {programme.id} starts with '{programme.id}-')",
            RefusalKind.INVALID,
        )
    if body.holidays and (problems := calendar_problems(body.holidays)):
        raise Refused(f"节假日数据有误 (holidays: {'; '.join(problems)})", RefusalKind.INVALID)
    given = [body.holidays] if body.holidays else []
    # Calendars supplied since for other years count too; the cycle keeps them in its input.
    supplied = given + [c for c in supplied_holidays(session) if c.year not in {g.year for g in given}]
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


@router.get("", responses=AUTH_ERRORS)
def list_cycles(
    session: SessionDep, principal: PrincipalDep, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
) -> CyclesPublic:
    """The cycles of the programmes the caller holds a grant on."""
    rows = [row for row in queries.list_cycles(session, year=year) if reader_roles(principal, row.programme_id)]
    data = [CyclePublic.model_validate(row, from_attributes=True) for row in rows]
    return CyclesPublic(data=data, count=len(data))


@router.get(
    "/{cycle_id}", responses={**AUTH_ERRORS, 422: {"model": Detail}}, dependencies=[of_kind("cycle", "cycle_id")]
)
async def cycle_overview(
    cycle_id: str,
    client: ClientDep,
    engine: EngineDep,
    reader: CycleReader,
    offset: Annotated[int, Query(description="applications to skip")] = 0,
    limit: Annotated[int, Query(description=f"per page, 1 to {service.PAGE_LIMIT}")] = service.DEFAULT_LIMIT,
    state: Annotated[str | None, Query(description="only applications in this ApplicationState")] = None,
    order: Annotated[str, Query(description='"id", or "score": highest final score first')] = "id",
) -> CycleOverview:
    """The cycle's live status, its applications counted by state, and one page of them from the read model."""
    # Bounds are checked by the service, so a bad page gets the same one-line reason everywhere.
    overview = await service.cycle_overview(
        client, engine, cycle_id, offset=offset, limit=limit, state=state, order=order
    )
    return visibility.cycle_overview(reader, overview)


@router.get("/{cycle_id}/undelivered", responses=AUTH_ERRORS, dependencies=[of_kind("cycle", "cycle_id")])
def undelivered_messages(cycle_id: str, session: SessionDep, reader: CycleReader) -> MessagesPublic:
    """Messages of the cycle and its children whose last send failed; Temporal keeps retrying them with backoff."""
    reader.require(*PERSONAL_DATA)
    rows = queries.failed_messages(session, cycle_id=cycle_id)
    data = [MessagePublic.model_validate(row, from_attributes=True) for row in rows]
    return MessagesPublic(data=data, count=len(data))


@router.post(
    "/{cycle_id}/applications",
    status_code=status.HTTP_201_CREATED,
    tags=["applications"],
    responses={**AUTH_ERRORS, 409: {"model": Detail}, 422: {"model": Detail}},
    dependencies=[of_kind("cycle", "cycle_id")],
)
async def submit_application(
    cycle_id: str, form: ApplicationForm, client: ClientDep, reader: CycleReader
) -> ApplicationAccepted:
    """Enter an application received by the office, on the applicant's behalf (secretariat or coordinator)."""
    role = reader.require(AccountRole.SECRETARIAT, AccountRole.COORDINATOR)
    principal = reader.principal
    actor = Actor(role=WORKFLOW_ROLE[role], identity=principal.username, channel=principal.channel)
    return await service.submit_application(client, cycle_id, form, actor)


PAPER_BODY: dict[str, Any] = {
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["form"],
                "properties": {
                    "form": {"type": "string", "description": "the ApplicationForm as JSON, without documents"},
                    "document-other": {"type": "array", "items": {"type": "string", "format": "binary"}},
                },
                "additionalProperties": {"type": "string", "format": "binary"},
            }
        }
    }
}


@router.post(
    "/{cycle_id}/paper-applications",
    status_code=status.HTTP_201_CREATED,
    tags=["applications"],
    responses={**AUTH_ERRORS, 409: {"model": Detail}, 413: {"model": Detail}, 422: {"model": Detail}},
    dependencies=[of_kind("cycle", "cycle_id")],
    openapi_extra={"requestBody": PAPER_BODY},
)
async def enter_paper_application(cycle_id: str, request: Request, reader: CycleReader) -> ApplicationAccepted:
    """Enter an application received on paper with its scans (multipart: `form` as JSON without `documents`,
    then one file per required document as `document-{id}`, and any others as `document-other`)."""
    actor = paper_actor(reader)
    call = await load_call(request, cycle_id)
    if call is None:
        raise Refused(f"未找到该评审周期 (no cycle {cycle_id})", RefusalKind.NOT_FOUND)
    form = await request.form(max_files=len(call.programme.documents) + MAX_OTHER_DOCUMENTS, max_fields=10)
    uploads, missing = read_uploads(form, call.programme)  # the fields came as JSON
    if missing:
        raise Refused(" ".join(missing.values()), RefusalKind.INVALID)
    entered = EnteredApplication(values={}, fields=_paper_fields(form.get("form")), uploads=uploads)
    try:
        return await submit_entered(request, call, entered, actor)
    except DocumentRefused as refused:
        raise Refused(str(refused), RefusalKind.INVALID) from refused
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise Refused(f"申报表有误 (form: {problems})", RefusalKind.INVALID) from error


def _paper_fields(sent: object) -> dict[str, Any]:
    """The form's fields from its JSON part; its documents are the uploaded files, never names and hashes."""
    try:
        fields = json.loads(sent) if isinstance(sent, str) else None
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise Refused("缺少申报表 (the `form` part must be the application as a JSON object)", RefusalKind.INVALID)
    if "documents" in fields:
        raise Refused("材料须以文件上传 (send documents as files, not in the form JSON)", RefusalKind.INVALID)
    return fields
