"""The public notice (公示) as a page anyone can read and print, with a real-name objection form.

`GET /notices/{cycle_id}` shows the candidates and the period; `POST /notices/{cycle_id}/objections`
lodges an objection on the notice workflow and shows its acknowledgement number. The form's CSRF value
is bound to a SameSite=Strict cookie, and objections are rate-limited per client address.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from awardcycle import service
from awardcycle.service import RefusalKind, Refused
from config.settings import Settings
from notifications.render import award_label, zh_date, zh_datetime
from programmes import UnknownProgrammeError, get_programme
from schemas import ids
from schemas.common import Actor, Channel, Role
from schemas.notice import NoticeStatus, ObjectionAck, PublicObjection
from schemas.notification import EMAIL_PATTERN
from web.auth import FormNonce
from web.errors import refusal_status
from web.ratelimit import client_address
from web.routes.links import HEADERS
from web.schemas import CYCLE_ID_PATTERN
from web.templating import templates

router = APIRouter(prefix="/notices", include_in_schema=False)

PREFIX = "/notices/"
NOTICE_FORM = FormNonce("notice_csrf", "notice", PREFIX)
PHONE = re.compile(r"\+?[0-9][0-9 -]{6,19}")
NOT_FOUND_ZH = "未找到该公示：评审周期不存在，或尚未进入公示阶段。"
FORBIDDEN_ZH = "表单已失效（安全校验未通过），请刷新公示页面后重新提交。"
TOO_MANY_ZH = "提交过于频繁，请稍后再试，或直接联系评审办公室。"
REASON_LIMIT = 2000


def office_contact(request: Request) -> str:
    """How the public reaches the award office, as every notice gives it."""
    settings: Settings = request.app.state.settings
    return settings.mail_reply_to or settings.mail_from


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(template).render(contact=office_contact(request), **context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def _message(request: Request, status_code: int, message: str) -> HTMLResponse:
    return _page(request, "notice_message.html", status_code, message=message)


def period_days(cycle_programme: str) -> str:
    """The notice period as the notice states it (`7个工作日`); empty for a programme the catalogue lost."""
    try:
        period = get_programme(cycle_programme).notice_period
    except UnknownProgrammeError:
        return ""
    return f"{period.days}个工作日"  # the catalogue admits only working days for a notice period


async def _notice(request: Request, cycle_id: str) -> tuple[NoticeStatus, str] | None:
    """The notice and its period in days, or None when the cycle has no notice (yet)."""
    if not re.fullmatch(CYCLE_ID_PATTERN, cycle_id):
        return None
    client = request.app.state.client
    try:
        cycle = await service.cycle_status(client, cycle_id)
        notice = await service.notice_status(client, ids.notice_id(cycle_id))
    except Refused as refused:
        if refused.kind is RefusalKind.NOT_FOUND:
            return None
        raise
    return notice, period_days(cycle.programme_id)


def _render(
    request: Request,
    cycle_id: str,
    notice: NoticeStatus,
    days: str,
    *,
    values: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    nonce, csrf = NOTICE_FORM.issue(request)
    candidates = [
        {**c.model_dump(), "award": award_label(c.proposed_award, notice.programme_name_zh)} for c in notice.candidates
    ]
    response = _page(
        request,
        "notice.html",
        status_code,
        cycle_id=cycle_id,
        notice=notice,
        candidates=candidates,
        starts=zh_date(notice.starts_at),
        # The notice ends at 24:00 of its last day, shown as that day.
        ends=zh_datetime(notice.ends_at),
        days=days,
        csrf=csrf,
        values=values or {},
        error=error,
    )
    NOTICE_FORM.keep(request, response, nonce)
    return response


@router.get("/{cycle_id}", response_class=HTMLResponse)
async def show_notice(cycle_id: str, request: Request) -> HTMLResponse:
    found = await _notice(request, cycle_id)
    if found is None:
        return _message(request, status.HTTP_404_NOT_FOUND, NOT_FOUND_ZH)
    return _render(request, cycle_id, *found)


def _problem(values: dict[str, str], notice: NoticeStatus) -> str:
    """What is wrong with the entered objection, in Chinese; empty when it can be lodged."""
    if not values["name"] or len(values["name"]) > 100:
        return "请填写真实姓名（不超过100字）。"
    if not (PHONE.fullmatch(values["contact"]) or re.fullmatch(EMAIL_PATTERN, values["contact"])):
        return "请填写有效的电话号码或电子邮箱。"
    if values["application_id"] not in {c.application_id for c in notice.candidates}:
        return "请选择公示名单中的异议对象。"
    if not values["reason"]:
        return "请说明异议理由。"
    if len(values["reason"]) > REASON_LIMIT:
        return f"异议理由不得超过{REASON_LIMIT}字。"
    return ""


def _fields(form: FormData) -> dict[str, str]:
    return {
        name: value.strip() if isinstance(value := form.get(name), str) else ""
        for name in ("name", "contact", "application_id", "reason")
    }


@router.post("/{cycle_id}/objections", response_class=HTMLResponse)
async def lodge_objection(cycle_id: str, request: Request) -> HTMLResponse:
    found = await _notice(request, cycle_id)
    if found is None:
        return _message(request, status.HTTP_404_NOT_FOUND, NOT_FOUND_ZH)
    notice, days = found
    form = await request.form()
    if not NOTICE_FORM.matches(request, form.get("csrf")):
        return _message(request, status.HTTP_403_FORBIDDEN, FORBIDDEN_ZH)
    limits, address = request.app.state.rate_limits, client_address(request)
    if not limits.hit(limits.objection, "objection", cycle_id, address):
        return _message(request, status.HTTP_429_TOO_MANY_REQUESTS, TOO_MANY_ZH)

    values = _fields(form)
    if problem := _problem(values, notice):
        return _render(request, cycle_id, notice, days, values=values, error=problem, status_code=422)
    objection = PublicObjection(
        actor=Actor(role=Role.PUBLIC, identity=values["name"], channel=Channel.WEB),
        contact=values["contact"],
        application_id=values["application_id"],
        reason=values["reason"],
        client_address=address,
    )
    try:
        lodged = await service.perform(request.app.state.client, notice.workflow_id, "lodge_objection", objection)
    except Refused as refused:
        error = " ".join(str(refused).split())
        return _render(request, cycle_id, notice, days, values=values, error=error, status_code=refusal_status(refused))
    ack = ObjectionAck.model_validate(lodged, from_attributes=True)
    names = {c.application_id: c.name for c in notice.candidates}
    return _page(
        request,
        "notice_ack.html",
        notice=notice,
        cycle_id=cycle_id,
        ack=ack,
        received_at=zh_datetime(ack.received_at),
        candidate=names[values["application_id"]],
        emailed=bool(re.fullmatch(EMAIL_PATTERN, values["contact"])),
    )
