"""The console's application page, `/console/applications/{application_id}`, and its forms, each posted to
`/console/applications/{application_id}/acts/{act}`.

The same readers as the API's `GET /api/v1/applications/{application_id}`, and the same acts as its
`POST .../acts/{act}`: the actor comes from the session's principal through the API's own `act_actor`, and
the Update goes through `service.perform`. A refused act comes back on its form with the reason and the
values entered; an accepted one redirects (303) to the page, which confirms it.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from temporalio.client import Client

from awardcycle import service
from awardcycle.service import RefusalKind, Refused
from store import accounts
from web.application_page import FORMS, Entered, FormError, application_page, invalid_zh, page_href, read_fields
from web.auth import Access, access_to, csrf_for, cycle_of, principal_of
from web.deps import ClientDep, workflow_kind
from web.errors import refusal_status
from web.routes.acts import act_actor
from web.routes.console import SignedIn, html_page
from web.schemas import CYCLE_ID_PATTERN

router = APIRouter(include_in_schema=False)

PAGE = "/console/applications/{application_id}"
TEMPLATE = "application.html"
NOT_FOUND_ZH = "未找到该申报 (no application has the id {application_id!r})"


def _shown(request: Request, holder: accounts.TokenHolder) -> dict[str, Any]:
    return {"principal": principal_of(holder), "csrf": csrf_for(request, holder.token_sha256), "page": None}


def _not_found(shown: dict[str, Any], application_id: str) -> Response:
    return html_page(
        TEMPLATE, status.HTTP_404_NOT_FOUND, **shown, error=NOT_FOUND_ZH.format(application_id=application_id)
    )


async def _reader(request: Request, shown: dict[str, Any], application_id: str) -> Access | Response:
    """Who may read the application's cycle, or the page saying why not (404 for an unknown id, else 403)."""
    # Only ids shaped like an application's are looked up, so junk never reaches Temporal.
    if workflow_kind(application_id) != "application" or not re.fullmatch(CYCLE_ID_PATTERN, cycle_of(application_id)):
        return _not_found(shown, application_id)
    try:
        return await access_to(request, shown["principal"], application_id)
    except Refused as refused:
        return html_page(TEMPLATE, refusal_status(refused), **shown, error=str(refused))
    except HTTPException as refused:
        return html_page(TEMPLATE, refused.status_code, **shown, error=str(refused.detail))


async def _render(
    client: Client,
    reader: Access,
    application_id: str,
    shown: dict[str, Any],
    status_code: int = status.HTTP_200_OK,
    *,
    error: str = "",
    entered: Entered | None = None,
    done: str | None = None,
) -> Response:
    try:
        page = await application_page(client, reader, application_id, entered=entered, done=done)
    except Refused as refused:
        if refused.kind is RefusalKind.NOT_FOUND:
            return _not_found(shown, application_id)
        return html_page(TEMPLATE, refusal_status(refused), **shown, error=str(refused))
    return html_page(TEMPLATE, status_code, **{**shown, "page": page}, error=error)


@router.get(PAGE, response_class=HTMLResponse)
async def show_application(
    request: Request, application_id: str, holder: SignedIn, client: ClientDep, done: str | None = None
) -> Response:
    shown = _shown(request, holder)
    reader = await _reader(request, shown, application_id)
    if isinstance(reader, Response):
        return reader
    return await _render(client, reader, application_id, shown, done=done)


@router.post(PAGE + "/acts/{act}", response_class=HTMLResponse)
async def submit_act(request: Request, application_id: str, act: str, holder: SignedIn, client: ClientDep) -> Response:
    """One form's act; the session's CSRF value was checked before this runs (web.auth.optional_holder)."""
    shown = _shown(request, holder)
    reader = await _reader(request, shown, application_id)
    if isinstance(reader, Response):
        return reader
    spec = FORMS.get(act)
    if spec is None:
        return html_page(TEMPLATE, status.HTTP_404_NOT_FOUND, **shown, error=f"未知操作 (no such form: {act[:40]!r})")
    try:
        actor = act_actor(spec.act, reader, None)
    except HTTPException as refused:
        return await _render(client, reader, application_id, shown, refused.status_code, error=str(refused.detail))
    try:
        claims = (await service.application_form(client, application_id)).conditions
    except Refused as refused:
        return await _render(client, reader, application_id, shown, refusal_status(refused), error=str(refused))
    values, problem = read_fields((await request.form()).multi_items(), spec.fields(claims))
    try:
        if problem:
            raise FormError(problem)
        payload = spec.act.input.model_validate({**spec.body(values, claims), "actor": actor})
    except (FormError, ValidationError) as error:
        reason = invalid_zh(error.errors()) if isinstance(error, ValidationError) else str(error)
        entered = Entered(act, values, reason)
        return await _render(
            client, reader, application_id, shown, status.HTTP_422_UNPROCESSABLE_CONTENT, entered=entered
        )
    try:
        await service.perform(client, application_id, act, payload)
    except Refused as refused:
        entered = Entered(act, values, " ".join(str(refused).split()))
        return await _render(client, reader, application_id, shown, refusal_status(refused), entered=entered)
    return RedirectResponse(f"{page_href(application_id)}?done={act}#done", status_code=status.HTTP_303_SEE_OTHER)
