"""The console's cycle page, `/console/cycles/{cycle_id}` (`?offset=&limit=&state=&order=&scores=`, and
`?done=ACT` after a form's act was accepted, `?rehearsal=` after the rehearsal's start or stop button).

The same readers as the API's `GET /api/v1/cycles/{cycle_id}`: an unknown cycle is a 404, one whose
programme the user holds no reading grant on a 403, a bad page a 422, each as a page with the reason.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response

from awardcycle.service import Refused
from web.auth import access_to, csrf_for, principal_of
from web.cycle_page import UnknownApplication, cycle_page, page_request
from web.deps import ClientDep, EngineDep
from web.errors import refusal_status
from web.rehearsal import panel
from web.routes.console import SignedIn, html_page
from web.routes.cycle_acts import rehearsal_message
from web.schemas import CYCLE_ID_PATTERN

router = APIRouter(include_in_schema=False)

NOT_FOUND_ZH = "未找到该评审周期 (no cycle has the id {cycle_id!r})"


@router.get("/console/cycles/{cycle_id}", response_class=HTMLResponse)
async def show_cycle(
    request: Request,
    cycle_id: str,
    holder: SignedIn,
    client: ClientDep,
    engine: EngineDep,
    offset: str | None = None,
    limit: str | None = None,
    state: str | None = None,
    order: str | None = None,
    scores: str | None = None,
    done: str | None = None,
    rehearsal: str | None = None,
) -> Response:
    principal = principal_of(holder)
    csrf = csrf_for(request, holder.token_sha256)
    shown: dict[str, Any] = {"principal": principal, "csrf": csrf, "page": None, "rehearsal": None}
    # Only ids shaped like a cycle's are looked up, so a child's id or junk never reaches Temporal.
    if not re.fullmatch(CYCLE_ID_PATTERN, cycle_id):
        return html_page("cycle.html", status.HTTP_404_NOT_FOUND, **shown, error=NOT_FOUND_ZH.format(cycle_id=cycle_id))
    try:
        reader = await access_to(request, principal, cycle_id)
    except Refused as refused:
        return html_page("cycle.html", refusal_status(refused), **shown, error=str(refused))
    except HTTPException as refused:
        return html_page("cycle.html", refused.status_code, **shown, error=str(refused.detail))
    try:
        wanted = page_request(cycle_id, offset=offset, limit=limit, state=state, order=order, scores=scores, done=done)
    except ValueError as error:
        return html_page("cycle.html", status.HTTP_422_UNPROCESSABLE_CONTENT, **shown, error=str(error))
    try:
        page = await cycle_page(client, engine, reader, wanted)
    except UnknownApplication as error:
        return html_page("cycle.html", status.HTTP_404_NOT_FOUND, **shown, error=str(error))
    played = panel(request.app.state.rehearsals, reader, rehearsal_message(rehearsal))
    return html_page("cycle.html", **{**shown, "page": page, "rehearsal": played}, error="")
