"""Task links as HTML: `GET /t/{token}` shows a department its form; `POST` answers it.

The page is the twin of `web.routes.tasks` (same token rules, same polite 404/410, same `answer` act
as department via link). The form carries a CSRF value bound to the token's SHA-256.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import Engine

from awardcycle import service
from awardcycle.service import Refused
from notifications.render import award_label, zh_datetime
from schemas.application import ActReceipt
from schemas.common import Actor, Channel, Role
from schemas.consultation import CandidateOpinion, ConsultationAnswer, ConsultationInput, Opinion
from store.tables import TaskLink
from web.deps import ClientDep, EngineDep
from web.routes.tasks import load_task, mark_task_link_used, open_task_link
from web.templating import templates

router = APIRouter(prefix="/t", include_in_schema=False)

PREFIX = "/t/"
HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
INVALID_ZH = "链接无效或已过期，请联系评审办公室。"
FORBIDDEN_ZH = "表单已失效（安全校验未通过），请重新打开邮件中的链接后再提交。"
OPINIONS = {Opinion.NO_OBJECTION.value: "无异议", Opinion.OBJECTION.value: "有异议"}


def install(app: FastAPI) -> None:
    """Register the pages, their headers and the CSRF key.

    The key is random per process and kept only in `app.state`: a restart invalidates forms that are
    open in a browser (the department reloads the link and submits again), which is acceptable.
    """
    if getattr(app.state, "csrf_key", None) is None:
        app.state.csrf_key = secrets.token_bytes(32)
    app.middleware("http")(_security_headers)
    app.include_router(router)


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    if request.url.path.startswith(PREFIX):
        response.headers.update(HEADERS)
    return response


def csrf_value(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), "sha256").hexdigest()


def _page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(template).render(**context), status_code=status_code)


def _invalid(status_code: int, message: str = INVALID_ZH) -> HTMLResponse:
    return _page("link_invalid.html", status_code, message=message)


async def _link(token: str, engine: Engine) -> TaskLink | HTMLResponse:
    try:
        return await open_task_link(token, engine)
    except HTTPException as error:
        return _invalid(error.status_code)


def _rows(task: ConsultationInput, values: Mapping[str, tuple[str, str]]) -> list[dict[str, str]]:
    return [
        {
            "id": c.application_id,
            "name": c.name,
            "category": c.category,
            "region": c.region,
            "award": award_label(c.proposed_award, task.programme_name_zh),
            "opinion": values.get(c.application_id, ("", ""))[0],
            "reason": values.get(c.application_id, ("", ""))[1],
        }
        for c in task.candidates
    ]


async def _form(
    request: Request,
    link: TaskLink,
    values: Mapping[str, tuple[str, str]] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The form; `values` are the entered ones on a refusal, else the department's last answer."""
    loaded = await load_task(request.app.state.client, link.task_id)
    if loaded is None:
        return _invalid(status.HTTP_410_GONE)  # history gone, as in the JSON route
    task, current = loaded
    if values is None:
        values = {a.application_id: (a.opinion.value, a.reason) for a in current.answers}
    return _page(
        "task.html",
        status_code,
        programme=task.programme_name_zh,
        department=task.department.name_zh,
        deadline=zh_datetime(current.deadline),
        rows=_rows(task, values),
        answered=current.answered,
        # After a refusal this is the current revision: the error says why, the department decides again.
        revision=current.revision,
        csrf=csrf_value(request.app.state.csrf_key, link.token_sha256),
        opinions=OPINIONS,
        error=error,
    )


@router.get("/{token}", response_class=HTMLResponse)
async def show_page(token: str, request: Request, engine: EngineDep) -> HTMLResponse:
    link = await _link(token, engine)
    if isinstance(link, HTMLResponse):
        return link
    return await _form(request, link)


@router.post("/{token}", response_class=HTMLResponse)
async def answer_page(token: str, request: Request, engine: EngineDep, client: ClientDep) -> HTMLResponse:
    link = await _link(token, engine)
    if isinstance(link, HTMLResponse):
        return link
    form = await request.form()
    sent = form.get("csrf")
    expected = csrf_value(request.app.state.csrf_key, link.token_sha256)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _invalid(status.HTTP_403_FORBIDDEN, FORBIDDEN_ZH)

    try:
        task = await service.consultation_task(client, link.task_id)
    except Refused as refused:
        if refused.status != status.HTTP_404_NOT_FOUND:
            raise
        return _invalid(status.HTTP_410_GONE)
    values: dict[str, tuple[str, str]] = {}
    for c in task.candidates:
        opinion, reason = form.get(f"opinion-{c.application_id}"), form.get(f"reason-{c.application_id}")
        values[c.application_id] = (
            opinion if isinstance(opinion, str) else "",
            reason.strip() if isinstance(reason, str) else "",
        )
    if any(opinion not in OPINIONS for opinion, _ in values.values()):
        return await _form(request, link, values, "请对每位候选者选择“无异议”或“有异议”。", 422)
    revision = form.get("expected_revision")
    try:
        answer = ConsultationAnswer(
            actor=Actor(role=Role.DEPARTMENT, identity=link.recipient_id, channel=Channel.LINK),
            answers=[CandidateOpinion(application_id=a, opinion=Opinion(o), reason=r) for a, (o, r) in values.items()],
            expected_revision=int(revision) if isinstance(revision, str) and revision.isdigit() else None,
        )
    except ValidationError:
        return await _form(request, link, values, "理由不得超过 2000 字。", 422)
    try:
        receipt = ActReceipt.model_validate(
            await service.perform(client, link.task_id, "answer", answer), from_attributes=True
        )
    except Refused as refused:
        if refused.status == status.HTTP_404_NOT_FOUND:
            return _invalid(status.HTTP_410_GONE)
        return await _form(request, link, values, " ".join(str(refused).split()), refused.status)
    await run_in_threadpool(mark_task_link_used, engine, link.token_sha256)
    names = {c.application_id: c.name for c in task.candidates}
    return _page(
        "task_receipt.html",
        programme=task.programme_name_zh,
        department=task.department.name_zh,
        revision=receipt.revision,
        accepted_at=zh_datetime(receipt.accepted_at),
        rows=[
            {"name": names[a.application_id], "opinion": OPINIONS[a.opinion.value], "reason": a.reason}
            for a in answer.answers
        ],
    )
