"""Read-only audit timelines decoded from workflow histories: an HTML page and the same as JSON."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from temporalio.client import Client

from awardcycle.service import Refused
from awardcycle.timeline import Timeline, fetch_timeline
from web.deps import ClientDep, workflow_kind
from web.schemas import Detail
from web.templating import templates

router = APIRouter(tags=["audit"])

NO_STORE = {"Cache-Control": "no-store"}
ERRORS: dict[int | str, dict[str, object]] = {404: {"model": Detail}}


def render_html(timeline: Timeline) -> str:
    return templates.get_template("audit.html").render(timeline=timeline)


async def _timeline(client: Client, workflow_id: str) -> Timeline:
    # Only ids shaped like this app's workflows are looked up.
    if workflow_kind(workflow_id) is None:
        raise Refused(f"未找到 (no workflow has the id {workflow_id!r})", status=404)
    return await fetch_timeline(client, workflow_id)


@router.get("/audit/{workflow_id}", response_class=HTMLResponse, responses=ERRORS)
async def audit_page(workflow_id: str, client: ClientDep) -> HTMLResponse:
    timeline = await _timeline(client, workflow_id)
    return HTMLResponse(render_html(timeline), headers=NO_STORE)


@router.get("/api/v1/audit/{workflow_id}", responses=ERRORS)
async def audit_json(workflow_id: str, client: ClientDep, response: Response) -> Timeline:
    response.headers.update(NO_STORE)
    return await _timeline(client, workflow_id)
