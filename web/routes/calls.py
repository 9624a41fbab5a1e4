"""The call for applications: `GET /calls/{cycle_id}` tells who may apply and until when; `POST .../confirm`
sends the applicant a link to the form, which proves the address before anything is submitted from it.

The page asks the cycle for its stage at most once per CALL_CACHE_SECONDS, so a crowd of applicants does
not queue queries on a busy workflow. The email form's CSRF value is bound to a SameSite=Strict cookie.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cachetools import TTLCache
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import HTMLResponse
from temporalio.exceptions import ApplicationError

from activities.calendar import WorkingDayCalendar
from activities.notify import NotificationActivities
from awardcycle import service
from awardcycle.service import RefusalKind, Refused
from config.settings import Settings
from notifications.mailer import Mailer
from programmes import UnknownProgrammeError, get_programme
from schemas.application import ApplicationForm
from schemas.calendar import CalendarSpec
from schemas.common import Actor
from schemas.cycle import ApplicationAccepted, CycleStatus
from schemas.notification import EMAIL_PATTERN, TaskLinkRequest
from schemas.programme import APPLICANT_KIND_ZH, Programme, StageKind
from store.documents import DocumentStore, megabytes
from web.applicant_form import EnteredApplication
from web.auth import FormNonce
from web.dashboard import deadline_text
from web.ratelimit import client_address
from web.routes.public_notice import office_contact
from web.schemas import CYCLE_ID_PATTERN
from web.templating import templates
from web.uploads import discard_all, store_uploads

router = APIRouter(prefix="/calls", include_in_schema=False)
# The State Council's published holidays; a cycle's supplied calendar only differs for years not yet published.
OFFICIAL_CALENDAR = WorkingDayCalendar(CalendarSpec())

CALL_FORM = FormNonce("call_csrf", "call", "/calls/")
CALL_KIND = "call"  # a confirmation link: opens the form; once submitted, it becomes the status link
CALL_CACHE_SECONDS = 5
CALL_CACHE_SIZE = 256
HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
NOT_FOUND_ZH = "未找到该申报通知：评审周期不存在。"
FORBIDDEN_ZH = "表单已失效（安全校验未通过），请刷新申报通知页面后重新提交。"
TOO_MANY_ZH = "确认邮件发送过于频繁，请稍后再试，或直接联系评审办公室。"
MAIL_DOWN_ZH = "确认邮件暂时无法发送，请稍后再试；如仍不成功，请联系评审办公室。"


@dataclass(frozen=True)
class Call:
    """A cycle's call as applicants see it."""

    cycle_id: str
    programme: Programme
    live: CycleStatus

    @property
    def state(self) -> str:
        """ "open", "before" (the cycle is still opening) or "after"."""
        live = self.live
        if live.stage is StageKind.APPLICATION:
            deadline = live.stage_deadline
            return "open" if deadline is None or live.cycle_time < deadline else "after"
        return "before" if live.stage is None and not live.stages else "after"


async def submit_entered(
    request: Request, call: Call, entered: EnteredApplication, actor: Actor
) -> ApplicationAccepted:
    """Store the form's files, then submit it; a refused submission leaves none of its new files behind."""
    store: DocumentStore = request.app.state.documents
    stored = await store_uploads(store, entered.uploads, request.app.state.settings)
    documents = [s.document(requirement) for s, (_, requirement, _) in zip(stored, entered.uploads, strict=True)]
    try:
        form = ApplicationForm(**entered.fields, documents=documents)
        accepted = await service.submit_application(request.app.state.client, call.cycle_id, form, actor)
    except BaseException:
        discard_all(store, stored)
        raise
    forget_call(request, call.cycle_id)
    return accepted


def install(app: FastAPI) -> None:
    app.state.calls = TTLCache(maxsize=CALL_CACHE_SIZE, ttl=CALL_CACHE_SECONDS)
    app.include_router(router)


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(template).render(contact=office_contact(request), **context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def message(request: Request, status_code: int, text: str, title: str = "在线申报", back: str = "") -> HTMLResponse:
    alert = status_code >= 400
    return page(request, "applicant_message.html", status_code, title=title, message=text, alert=alert, back=back)


async def load_call(request: Request, cycle_id: str) -> Call | None:
    """The cycle's call, or None for a cycle unknown here; its status is cached for a few seconds."""
    if not re.fullmatch(CYCLE_ID_PATTERN, cycle_id):
        return None
    cache: TTLCache[str, CycleStatus] = request.app.state.calls
    live = cache.get(cycle_id)
    if live is None:
        try:
            live = await service.cycle_status(request.app.state.client, cycle_id)
        except Refused as refused:
            if refused.kind is RefusalKind.NOT_FOUND:
                return None
            raise
        cache[cycle_id] = live
    try:
        return Call(cycle_id=cycle_id, programme=get_programme(live.programme_id), live=live)
    except UnknownProgrammeError:
        return None


def forget_call(request: Request, cycle_id: str) -> None:
    """Ask the cycle afresh next time: an act has just changed it."""
    request.app.state.calls.pop(cycle_id, None)


def call_context(request: Request, call: Call) -> dict[str, Any]:
    """What the call page and the form both show of the call."""
    settings: Settings = request.app.state.settings
    deadline, left, _ = deadline_text(call.live, OFFICIAL_CALENDAR)
    return {
        "cycle_id": call.cycle_id,
        "programme": call.programme,
        "year": call.live.year,
        "deadline": deadline if call.live.stage is StageKind.APPLICATION else "",
        "left": left if call.state == "open" else "",
        "file_limit": megabytes(settings.document_max_bytes),
        "total_limit": megabytes(settings.application_max_bytes),
    }


def _render(request: Request, call: Call, *, email: str = "", error: str = "", status_code: int = 200) -> HTMLResponse:
    nonce, csrf = CALL_FORM.issue(request)
    response = page(
        request,
        "call.html",
        status_code,
        **call_context(request, call),
        state=call.state,
        kinds="、".join(APPLICANT_KIND_ZH[k] for k in call.programme.applicant_kinds),
        contact_zh=call.programme.contact_zh,
        csrf=csrf,
        email=email,
        error=error,
    )
    CALL_FORM.keep(request, response, nonce)
    return response


@router.get("/{cycle_id}", response_class=HTMLResponse)
async def show_call(cycle_id: str, request: Request) -> HTMLResponse:
    call = await load_call(request, cycle_id)
    if call is None:
        return message(request, status.HTTP_404_NOT_FOUND, NOT_FOUND_ZH)
    return _render(request, call)


def notifier(request: Request) -> NotificationActivities:
    """The outbox and mailer the workers use, here for the links no workflow sends."""
    state = request.app.state
    if getattr(state, "notifier", None) is None:
        state.notifier = NotificationActivities(state.settings, state.engine, Mailer(state.settings))
    found: NotificationActivities = state.notifier
    return found


@router.post("/{cycle_id}/confirm", response_class=HTMLResponse)
async def confirm_email(cycle_id: str, request: Request) -> HTMLResponse:
    call = await load_call(request, cycle_id)
    if call is None:
        return message(request, status.HTTP_404_NOT_FOUND, NOT_FOUND_ZH)
    form = await request.form(max_files=0, max_fields=10)
    emails = form.getlist("email")
    if not CALL_FORM.matches(request, form.get("csrf")):
        return message(request, status.HTTP_403_FORBIDDEN, FORBIDDEN_ZH, back=f"/calls/{cycle_id}")
    email = emails[0].strip() if len(emails) == 1 and isinstance(emails[0], str) else ""
    if call.state != "open":
        return _render(request, call, email=email, error="本年度申报未在受理期内，无法发送确认邮件。", status_code=409)
    if len(email) > 200 or not re.fullmatch(EMAIL_PATTERN, email):
        return _render(request, call, email=email[:200], error="请填写一个有效的电子邮箱地址。", status_code=422)
    limits, address = request.app.state.rate_limits, client_address(request)
    if not (limits.hit(limits.applicant_email, "confirm", address) and limits.hit(limits.applicant_email, email)):
        return message(request, status.HTTP_429_TOO_MANY_REQUESTS, TOO_MANY_ZH, back=f"/calls/{cycle_id}")
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    link = TaskLinkRequest(
        message_id=f"{cycle_id}/confirm-{uuid.uuid4().hex}",
        task_id=cycle_id,
        task_kind=CALL_KIND,
        recipient_id=email,
        recipient_email=email,
        deadline=call.live.stage_deadline or now,
        closes_at=now,
        expires_at=now + timedelta(hours=settings.applicant_link_hours),
        template="applicant_confirm",
        context={"programme": call.programme.name_zh, "cycle": f"{call.live.year}年度"},
        link_path="/a/",
    )
    try:
        await notifier(request).send_link(link, None)
    except ApplicationError:
        return message(request, status.HTTP_503_SERVICE_UNAVAILABLE, MAIL_DOWN_ZH, back=f"/calls/{cycle_id}")
    hours = settings.applicant_link_hours
    text = f"确认邮件已发送至 {email}。请在 {hours} 小时内打开邮件中的链接，填写申报表并上传材料。"
    return message(request, status.HTTP_200_OK, text, title=f"{call.programme.name_zh}在线申报")
