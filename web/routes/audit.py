"""Audit timelines decoded from workflow histories, as a console page and as JSON: for the cycle's
auditors and coordinators only, since a timeline names objectors, contacts and client addresses."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from awardcycle.service import RefusalKind, Refused
from awardcycle.timeline import Timeline, fetch_timeline
from web.auth import PERSONAL_DATA, PrincipalDep, access_to, principal_of
from web.deps import ClientDep, workflow_kind
from web.routes.console import SignedIn
from web.schemas import AUTH_ERRORS
from web.templating import templates

router = APIRouter(tags=["audit"])

NO_STORE = {"Cache-Control": "no-store"}


def render_html(timeline: Timeline) -> str:
    return templates.get_template("audit.html").render(timeline=timeline)


async def _timeline(request: Request, client: ClientDep, workflow_id: str, principal: PrincipalDep) -> Timeline:
    # Only ids shaped like this app's workflows are looked up.
    if workflow_kind(workflow_id) is None:
        raise Refused(f"未找到 (no workflow has the id {workflow_id!r})", RefusalKind.NOT_FOUND)
    (await access_to(request, principal, workflow_id)).require(*PERSONAL_DATA)
    return await fetch_timeline(client, workflow_id)


@router.get("/audit/{workflow_id}", response_class=HTMLResponse, responses=AUTH_ERRORS)
async def audit_page(
    workflow_id: str,
    request: Request,
    client: ClientDep,
    holder: SignedIn,
) -> Response:
    timeline = await _timeline(request, client, workflow_id, principal_of(holder))
    return HTMLResponse(render_html(timeline), headers=NO_STORE)


@router.get("/api/v1/audit/{workflow_id}", responses=AUTH_ERRORS)
async def audit_json(
    workflow_id: str, request: Request, client: ClientDep, principal: PrincipalDep, response: Response
) -> Timeline:
    response.headers.update(NO_STORE)
    return await _timeline(request, client, workflow_id, principal)
