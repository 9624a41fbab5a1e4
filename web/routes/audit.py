"""Audit timelines decoded from workflow histories, as a console page and as JSON: for the cycle's
auditors and coordinators only, since a timeline names objectors, contacts and client addresses.

The page filters by actor, channel and act and shows one page of entries (web/timeline_page.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse

from awardcycle.service import RefusalKind, Refused
from awardcycle.timeline import Timeline, fetch_timeline
from web.auth import PERSONAL_DATA, PrincipalDep, access_to, csrf_for, principal_of
from web.deps import ClientDep, workflow_kind
from web.routes.console import HEADERS, SignedIn
from web.schemas import AUTH_ERRORS
from web.templating import templates
from web.timeline_page import TimelinePage, timeline_page, timeline_request

router = APIRouter(tags=["audit"])

NO_STORE = {"Cache-Control": "no-store"}


def render_html(page: TimelinePage | None, error: str = "", **shown: Any) -> str:
    return templates.get_template("audit.html").render(page=page, error=error, **shown)


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
    actor: str | None = None,
    channel: str | None = None,
    act: str | None = None,
    offset: str | None = None,
    limit: str | None = None,
) -> Response:
    principal = principal_of(holder)
    shown: dict[str, Any] = {
        "principal": principal,
        "csrf": csrf_for(request, holder.token_sha256),
        "workflow_id": workflow_id,
    }
    try:
        wanted = timeline_request(actor=actor, channel=channel, act=act, offset=offset, limit=limit)
    except ValueError as error:
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
        return HTMLResponse(render_html(None, str(error), **shown), status_code=code, headers=HEADERS)
    timeline = await _timeline(request, client, workflow_id, principal)
    return HTMLResponse(render_html(timeline_page(timeline, wanted), **shown), headers=HEADERS)


@router.get("/api/v1/audit/{workflow_id}", responses=AUTH_ERRORS)
async def audit_json(
    workflow_id: str, request: Request, client: ClientDep, principal: PrincipalDep, response: Response
) -> Timeline:
    response.headers.update(NO_STORE)
    return await _timeline(request, client, workflow_id, principal)
