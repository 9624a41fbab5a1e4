"""Applications received on paper, entered by the secretariat with their scans: the console's form at
`/console/cycles/{cycle_id}/applications/new`, and `paper_actor` for the API (`awardcycle apply`).

The actor is the signed-in secretariat or coordinator, channel `paper`; the files go through the same
checks and store as an applicant's (`calls.submit_entered`): a refused entry leaves none of its new files behind.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from awardcycle.service import Refused
from schemas.common import Actor, Channel
from schemas.identity import WORKFLOW_ROLE
from schemas.notification import EMAIL_PATTERN
from schemas.programme import APPLICANT_KIND_ZH
from store.documents import DocumentRefused
from web.applicant_form import ENTERERS, MAX_OTHER_DOCUMENTS, Entered, EnteredApplication, read_application
from web.auth import Access, access_to, csrf_for, principal_of
from web.errors import refusal_status
from web.routes.calls import Call, call_context, load_call, submit_entered
from web.routes.console import SignedIn, html_page
from web.schemas import CYCLE_ID_PATTERN

router = APIRouter(include_in_schema=False)

PAGE = "/console/cycles/{cycle_id}/applications/new"
FORM_FIELDS = 200


def paper_actor(reader: Access) -> Actor:
    """The signed-in person who entered it, in the grant that lets them, on paper."""
    held = reader.require(*ENTERERS)
    return Actor(role=WORKFLOW_ROLE[held], identity=reader.principal.username, channel=Channel.PAPER)


def read_paper(form: FormData, call: Call) -> EnteredApplication:
    """The applicant's fields plus the contact email, which on paper the secretariat types in."""
    entered = read_application(form, call.programme)
    emails = form.getlist("contact_email")
    email = emails[0].strip() if len(emails) == 1 and isinstance(emails[0], str) else ""
    entered.values["contact_email"] = email
    if len(email) > 200 or not re.fullmatch(EMAIL_PATTERN, email):
        entered.errors["contact_email"] = "请填写申报人的有效联系邮箱。"
        entered.fields = {}
    elif entered.valid:
        entered.fields["contact_email"] = email
    return entered


def _page(
    request: Request,
    shown: dict[str, Any],
    call: Call,
    entered: EnteredApplication | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    return html_page(
        "paper_application.html",
        status_code,
        **shown,
        **call_context(request, call),
        action=PAGE.format(cycle_id=call.cycle_id),
        email_field=True,
        kinds=[(k.value, APPLICANT_KIND_ZH[k]) for k in call.programme.applicant_kinds],
        values=Entered(entered.values if entered else {}),
        errors=entered.errors if entered else {},
        had_files=bool(entered and entered.uploads),
        error=error,
    )


async def _entry(request: Request, holder: Any, cycle_id: str) -> tuple[dict[str, Any], Call, Access] | Response:
    principal = principal_of(holder)
    shown = {"principal": principal, "csrf": csrf_for(request, holder.token_sha256)}
    call = await load_call(request, cycle_id) if re.fullmatch(CYCLE_ID_PATTERN, cycle_id) else None
    if call is None:
        return html_page("console_message.html", status.HTTP_404_NOT_FOUND, **shown, message="未找到该评审周期。")
    try:
        reader = await access_to(request, principal, cycle_id)
        paper_actor(reader)
    except Exception as refused:
        detail = getattr(refused, "detail", str(refused))
        return html_page("console_message.html", status.HTTP_403_FORBIDDEN, **shown, message=str(detail))
    return shown, call, reader


@router.get(PAGE, response_class=HTMLResponse)
async def paper_form(cycle_id: str, request: Request, holder: SignedIn) -> Response:
    found = await _entry(request, holder, cycle_id)
    if isinstance(found, Response):
        return found
    shown, call, _ = found
    return _page(request, shown, call)


@router.post(PAGE, response_class=HTMLResponse)
async def enter_paper(cycle_id: str, request: Request, holder: SignedIn) -> Response:
    found = await _entry(request, holder, cycle_id)
    if isinstance(found, Response):
        return found
    shown, call, reader = found
    form = await request.form(max_files=len(call.programme.documents) + MAX_OTHER_DOCUMENTS, max_fields=FORM_FIELDS)
    entered = read_paper(form, call)
    if not entered.valid:
        return _page(request, shown, call, entered, status_code=422)
    try:
        accepted = await submit_entered(request, call, entered, paper_actor(reader))
    except DocumentRefused as refused:
        entered.errors[refused.field or "document-other"] = str(refused)
        return _page(request, shown, call, entered, status_code=422)
    except Refused as refused:
        return _page(request, shown, call, entered, " ".join(str(refused).split()), refusal_status(refused))
    location = f"/console/applications/{accepted.application_id}"
    return RedirectResponse(location, status.HTTP_303_SEE_OTHER)
