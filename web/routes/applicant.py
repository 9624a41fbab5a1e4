"""An applicant's link, `/a/{token}`: first the application form (the email is confirmed by opening it),
then, once submitted, the same link shows the application's status, takes a supplement and a withdrawal.

Only the token's SHA-256 is stored; its row's kind says which page it opens ("call" → the form,
"application" → the status). A submission claims the row first, so a double click submits once.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine
from starlette.datastructures import FormData, UploadFile

from awardcycle import service
from awardcycle.service import Refused
from config.settings import Settings
from notifications.render import outcome_label, zh_datetime
from programmes import UnknownProgrammeError, get_programme
from schemas import ids
from schemas.application import (
    STATE_ZH,
    ApplicationState,
    SupplementSubmission,
    Withdrawal,
)
from schemas.common import Actor, Channel, Role
from schemas.programme import APPLICANT_KIND_ZH, Programme
from store import queries
from store.db import session
from store.documents import DocumentRefused, DocumentStore, StoredDocument
from store.tables import TaskLink
from web.applicant_form import MAX_OTHER_DOCUMENTS, Entered, EnteredApplication, read_application
from web.auth import csrf_value
from web.errors import refusal_status
from web.routes.calls import CALL_KIND, Call, call_context, load_call, message, page, submit_entered
from web.routes.links import INVALID_ZH, TOO_MANY_PAGE_ZH
from web.routes.tasks import gone_if_missing, mark_task_link_used, open_task_link
from web.uploads import NOT_FOUND_ZH, discard_all, document_lines, document_response, find_document, store_uploads

router = APIRouter(prefix="/a", include_in_schema=False)

APPLICATION_KIND = "application"  # a status link: the application's workflow id is its task_id
SUBMITTING_KIND = "call-submitting"  # a form link while its submission is under way
KINDS = (CALL_KIND, SUBMITTING_KIND, APPLICATION_KIND)
FORBIDDEN_ZH = "表单已失效（安全校验未通过），请重新打开邮件中的链接后再提交。"
SUBMITTING_ZH = "您的申报正在提交，请稍候刷新本页查看结果，不要重复提交。"
DONE_ZH = {
    "submitted": "申报已提交，受理通知已发送至您的邮箱。本页面即为申报状态页，请收藏邮件中的链接。",
    "supplement": "补充材料已提交。",
    "withdrawn": "申报已撤回。",
}
FORM_FIELDS = 200  # text fields of one form: a programme has a dozen conditions, each with two


def install(app: FastAPI) -> None:
    app.include_router(router)


def _documents(request: Request) -> DocumentStore:
    store: DocumentStore = request.app.state.documents
    return store


def _csrf(request: Request, link: TaskLink) -> str:
    return csrf_value(request.app.state.csrf_key, f"applicant:{link.token_sha256}")


def _csrf_ok(request: Request, link: TaskLink, form: FormData) -> bool:
    sent = form.get("csrf")
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), _csrf(request, link).encode())


def _refusal(request: Request, error: HTTPException) -> HTMLResponse:
    too_many = error.status_code == status.HTTP_429_TOO_MANY_REQUESTS
    return message(request, error.status_code, TOO_MANY_PAGE_ZH if too_many else INVALID_ZH, title="链接不可用")


async def _open(token: str, request: Request) -> TaskLink:
    return await open_task_link(token, request, KINDS)


def _move(engine: Engine, link: TaskLink, from_kind: str, to_kind: str, **changes: Any) -> bool:
    with session(engine) as s:
        return queries.move_task_link(
            s, token_sha256=link.token_sha256, from_kind=from_kind, task_kind=to_kind, **changes
        )


def _applicant(link: TaskLink) -> Actor:
    return Actor(role=Role.APPLICANT, identity=link.recipient_email, channel=Channel.LINK)


def _kinds(programme: Programme) -> list[tuple[str, str]]:
    return [(k.value, APPLICANT_KIND_ZH[k]) for k in programme.applicant_kinds]


# The form, while the link is a confirmation link.


def _form_page(
    request: Request,
    token: str,
    link: TaskLink,
    call: Call,
    entered: EnteredApplication | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    values = entered.values if entered else {}
    return page(
        request,
        "apply.html",
        status_code,
        **call_context(request, call),
        action=f"/a/{token}",
        email_field=False,
        email=link.recipient_email,
        kinds=_kinds(call.programme),
        values=Entered(values),
        errors=entered.errors if entered else {},
        had_files=bool(entered and entered.uploads),
        csrf=_csrf(request, link),
        error=error,
    )


async def _call_of(request: Request, link: TaskLink) -> Call:
    call = await load_call(request, link.task_id)
    if call is None:
        raise HTTPException(status.HTTP_410_GONE, INVALID_ZH)
    return call


@router.api_route("/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def applicant_page(token: str, request: Request, done: str = "") -> Response:
    try:
        link = await _open(token, request)
        await run_in_threadpool(mark_task_link_used, request.app.state.engine, link.token_sha256)
        if link.task_kind == APPLICATION_KIND:
            return await _status_page(request, token, link, done=DONE_ZH.get(done, ""))
        if link.task_kind == SUBMITTING_KIND:
            return message(request, status.HTTP_409_CONFLICT, SUBMITTING_ZH, title="申报提交中")
        call = await _call_of(request, link)
        if call.state != "open":
            text = "本年度申报未在受理期内：" + ("申报尚未开始。" if call.state == "before" else "申报已截止。")
            return message(request, status.HTTP_409_CONFLICT, text, title=f"{call.programme.name_zh}在线申报")
        return _form_page(request, token, link, call)
    except HTTPException as error:
        return _refusal(request, error)


@router.post("/{token}", response_class=HTMLResponse)
async def submit_application_form(token: str, request: Request) -> Response:
    try:
        link = await _open(token, request)
        if link.task_kind != CALL_KIND:
            return RedirectResponse(f"/a/{token}", status.HTTP_303_SEE_OTHER)  # a second click of a sent form
        call = await _call_of(request, link)
        settings: Settings = request.app.state.settings
        form = await request.form(max_files=len(call.programme.documents) + MAX_OTHER_DOCUMENTS, max_fields=FORM_FIELDS)
        if not _csrf_ok(request, link, form):
            return message(request, status.HTTP_403_FORBIDDEN, FORBIDDEN_ZH)
        entered = read_application(form, call.programme)
        if not entered.valid:
            return _form_page(request, token, link, call, entered, status_code=422)
        engine: Engine = request.app.state.engine
        if not await run_in_threadpool(_move, engine, link, CALL_KIND, SUBMITTING_KIND):
            return RedirectResponse(f"/a/{token}", status.HTTP_303_SEE_OTHER)
        try:
            entered.fields["contact_email"] = link.recipient_email  # the address the link confirmed
            accepted = (await submit_entered(request, call, entered, _applicant(link))).application_id
        except (DocumentRefused, Refused) as refused:
            await run_in_threadpool(_move, engine, link, SUBMITTING_KIND, CALL_KIND)
            if isinstance(refused, DocumentRefused) and refused.field:
                entered.errors[refused.field] = str(refused)
                return _form_page(request, token, link, call, entered, status_code=422)
            code = refusal_status(refused) if isinstance(refused, Refused) else 422
            return _form_page(request, token, link, call, entered, " ".join(str(refused).split()), code)
        except BaseException:
            await run_in_threadpool(_move, engine, link, SUBMITTING_KIND, CALL_KIND)
            raise
        expires = datetime.now(UTC) + timedelta(days=settings.status_link_days)
        await run_in_threadpool(
            _move, engine, link, SUBMITTING_KIND, APPLICATION_KIND, task_id=accepted, expires_at=expires
        )
        return RedirectResponse(f"/a/{token}?done=submitted", status.HTTP_303_SEE_OTHER)
    except HTTPException as error:
        return _refusal(request, error)


# The status, once the link is an application's.


def _programme_of(engine: Engine, application_id: str) -> tuple[Programme, int] | None:
    """The programme and year of the application's cycle, from the read model."""
    with session(engine) as s:
        row = queries.get_cycle(s, cycle_id=ids.cycle_of(application_id))
    if row is None:
        return None
    try:
        return get_programme(row.programme_id), row.year
    except UnknownProgrammeError:
        return None


async def _status_page(
    request: Request,
    token: str,
    link: TaskLink,
    *,
    done: str = "",
    error: str = "",
    status_code: int = 200,
    withdraw_reason: str = "",
) -> HTMLResponse:
    client = request.app.state.client
    found = await gone_if_missing(service.application_status(client, link.task_id))
    known = await run_in_threadpool(_programme_of, request.app.state.engine, link.task_id)
    if known is None:
        raise HTTPException(status.HTTP_410_GONE, INVALID_ZH)
    programme, year = known
    supplement = found.state is ApplicationState.SUPPLEMENT_REQUESTED and found.outcome is None
    return page(
        request,
        "applicant_status.html",
        status_code,
        programme=programme,
        year=year,
        status=found,
        state_zh="已结束" if found.outcome else STATE_ZH[found.state],
        deadline=zh_datetime(found.deadline) if found.deadline and not found.outcome else "—",
        outcome_zh=outcome_label(found.outcome.value, programme.name_zh) if found.outcome else "",
        supplement=supplement,
        documents=document_lines(found.documents, f"/a/{token}/documents/", _requirements(programme)),
        can_withdraw=found.outcome is None and found.state is not ApplicationState.CONCLUDED,
        base=f"/a/{token}",
        csrf=_csrf(request, link),
        done=done,
        error=error,
        withdraw_reason=withdraw_reason,
    )


def _requirements(programme: Programme) -> dict[str, str]:
    return {d.id: d.name_zh for d in programme.documents}


async def _application_link(token: str, request: Request) -> TaskLink:
    link = await _open(token, request)
    if link.task_kind != APPLICATION_KIND:
        raise HTTPException(status.HTTP_404_NOT_FOUND, INVALID_ZH)
    return link


@router.post("/{token}/supplement", response_class=HTMLResponse)
async def upload_supplement(token: str, request: Request) -> Response:
    try:
        link = await _application_link(token, request)
        form = await request.form(max_files=MAX_OTHER_DOCUMENTS, max_fields=10)
        if not _csrf_ok(request, link, form):
            return message(request, status.HTTP_403_FORBIDDEN, FORBIDDEN_ZH)
        files = [f for f in form.getlist("supplement") if isinstance(f, UploadFile) and f.filename]
        if not files:
            return await _status_page(request, token, link, error="请选择要上传的补充材料文件。", status_code=422)
        settings: Settings = request.app.state.settings
        store = _documents(request)
        try:
            stored = await store_uploads(store, [("supplement", None, f) for f in files], settings)
        except DocumentRefused as refused:
            return await _status_page(request, token, link, error=str(refused), status_code=422)
        try:
            await _supplement(request, link, stored)
        except Refused as refused:
            discard_all(store, stored)
            return await _status_page(
                request, token, link, error=" ".join(str(refused).split()), status_code=refusal_status(refused)
            )
        except BaseException:
            discard_all(store, stored)
            raise
        return RedirectResponse(f"/a/{token}?done=supplement", status.HTTP_303_SEE_OTHER)
    except HTTPException as error:
        return _refusal(request, error)


async def _supplement(request: Request, link: TaskLink, stored: list[StoredDocument]) -> None:
    submission = SupplementSubmission(actor=_applicant(link), documents=[s.document() for s in stored])
    await service.perform(request.app.state.client, link.task_id, "submit_supplement", submission)


@router.post("/{token}/withdraw", response_class=HTMLResponse)
async def withdraw_application(token: str, request: Request) -> Response:
    try:
        link = await _application_link(token, request)
        form = await request.form(max_files=0, max_fields=10)
        if not _csrf_ok(request, link, form):
            return message(request, status.HTTP_403_FORBIDDEN, FORBIDDEN_ZH)
        reasons = form.getlist("reason")
        reason = reasons[0].strip() if len(reasons) == 1 and isinstance(reasons[0], str) else ""
        if form.get("confirm") != "yes" or not reason or len(reason) > 2000:
            problem = "请填写撤回理由（不超过2000字）并勾选确认。"
            return await _status_page(request, token, link, error=problem, status_code=422, withdraw_reason=reason)
        withdrawal = Withdrawal(actor=_applicant(link), reason=reason)
        try:
            await service.perform(request.app.state.client, link.task_id, "withdraw", withdrawal)
        except Refused as refused:
            return await _status_page(
                request,
                token,
                link,
                error=" ".join(str(refused).split()),
                status_code=refusal_status(refused),
                withdraw_reason=reason,
            )
        return RedirectResponse(f"/a/{token}?done=withdrawn", status.HTTP_303_SEE_OTHER)
    except HTTPException as error:
        return _refusal(request, error)


@router.get("/{token}/documents/{sha256}")
async def applicant_document(token: str, sha256: str, request: Request) -> Response:
    try:
        link = await _application_link(token, request)
        found = await gone_if_missing(service.application_status(request.app.state.client, link.task_id))
        chosen = find_document(found.documents, sha256)
        return await run_in_threadpool(document_response, _documents(request), chosen)
    except HTTPException as error:
        if error.status_code == status.HTTP_404_NOT_FOUND and error.detail == NOT_FOUND_ZH:
            return message(request, error.status_code, "未找到该文件。", title="文件不可用")
        return _refusal(request, error)
