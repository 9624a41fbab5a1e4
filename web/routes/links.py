"""Task links as HTML: `GET /t/{token}` shows the recipient's form; `POST` answers it.

A department answers its consultation; a drawn expert scores an application. The pages are the twin of
`web.routes.tasks` (same token rules, same polite 404/410/429, same acts via link). Each form carries
a CSRF value bound to the token's SHA-256.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cachetools import LRUCache
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from awardcycle import service
from awardcycle.service import Refused
from config.settings import Settings
from notifications.render import OPINIONS_ZH, award_label, zh_datetime
from schemas.application import ActReceipt, ExpertScore
from schemas.consultation import CandidateOpinion, ConsultationAnswer, ConsultationInput, Opinion
from store.tables import TaskLink
from web.auth import csrf_value
from web.errors import refusal_status
from web.ratelimit import client_address
from web.routes.tasks import (
    EXPERT_REVIEW,
    gone_if_missing,
    link_actor,
    load_scoring,
    load_task,
    mark_task_link_used,
    open_task_link,
)
from web.templating import templates
from web.uploads import document_lines

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
TOO_MANY_PAGE_ZH = "无效链接尝试过于频繁，请稍后再试或联系评审办公室。"
FORBIDDEN_ZH = "表单已失效（安全校验未通过），请重新打开邮件中的链接后再提交。"
OPINIONS = OPINIONS_ZH
ASKED_CACHE = 512  # consultations whose candidates are kept in memory; a cycle has about 17


def install(app: FastAPI) -> None:
    """Register the pages, their headers, and a cache of what each consultation asks."""
    app.state.asked = LRUCache(maxsize=ASKED_CACHE)
    app.middleware("http")(_security_headers)
    app.include_router(router)


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    if request.url.path.startswith(PREFIX):
        for name, value in HEADERS.items():  # a document download sets stricter ones of its own
            response.headers.setdefault(name, value)
    return response


def _page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(template).render(**context), status_code=status_code)


def _invalid(request: Request, status_code: int, message: str = INVALID_ZH) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    contact = settings.mail_reply_to or settings.mail_from
    return _page("link_invalid.html", status_code, message=message, contact=contact)


def _refusal(request: Request, error: HTTPException) -> HTMLResponse:
    too_many = error.status_code == status.HTTP_429_TOO_MANY_REQUESTS
    return _invalid(request, error.status_code, TOO_MANY_PAGE_ZH if too_many else INVALID_ZH)


def _rows(task: ConsultationInput, values: Mapping[str, tuple[str, str]]) -> list[dict[str, str]]:
    return [
        {
            "id": c.application_id,
            "name": c.name,
            "credit_code": c.credit_code or "",
            "category": c.category,
            "region": c.region,
            "award": award_label(c.proposed_award, task.programme_name_zh),
            "opinion": values.get(c.application_id, ("", ""))[0],
            "reason": values.get(c.application_id, ("", ""))[1],
        }
        for c in task.candidates
    ]


def _csrf(request: Request, link: TaskLink) -> str:
    return csrf_value(request.app.state.csrf_key, link.token_sha256)


async def _form(
    request: Request,
    link: TaskLink,
    values: Mapping[str, tuple[str, str]] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The consultation form; `values` are the entered ones on a refusal, else the department's last answer."""
    task, current = await load_task(request.app.state.client, link.task_id)
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
        csrf=_csrf(request, link),
        opinions=OPINIONS,
        error=error,
    )


async def _scoring_form(
    request: Request,
    link: TaskLink,
    entered: tuple[Mapping[str, str], str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The scoring form; `entered` holds the values and comment typed in before a refusal."""
    client = request.app.state.client
    task, application = await asyncio.gather(
        load_scoring(client, link), gone_if_missing(service.application_status(client, link.task_id))
    )
    values, comment = entered or ({k: f"{v:g}" for k, v in task.scores.items()}, task.comment)
    return _page(
        "scoring.html",
        status_code,
        task=task,
        deadline=zh_datetime(task.deadline) if task.deadline else "—",
        values=values,
        comment=comment,
        csrf=_csrf(request, link),
        error=error,
        documents=document_lines(application.documents, f"{request.url.path}/documents/"),
    )


@router.api_route("/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def show_page(token: str, request: Request) -> HTMLResponse:
    try:
        link = await open_task_link(token, request)
        if link.task_kind == EXPERT_REVIEW:
            return await _scoring_form(request, link)
        return await _form(request, link)
    except HTTPException as error:
        return _refusal(request, error)


@router.post("/{token}", response_class=HTMLResponse)
async def answer_page(token: str, request: Request) -> HTMLResponse:
    try:
        link = await open_task_link(token, request)
        form = await request.form()
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), _csrf(request, link).encode()):
            return _invalid(request, status.HTTP_403_FORBIDDEN, FORBIDDEN_ZH)
        if link.task_kind == EXPERT_REVIEW:
            return await _score(request, link, form)
        return await _answer(request, link, form)
    except HTTPException as error:
        return _refusal(request, error)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _expected_revision(form: FormData) -> int | None:
    revision = _text(form, "expected_revision")
    return int(revision) if revision.isdigit() else None


async def _perform(request: Request, link: TaskLink, act: str, payload: BaseModel) -> ActReceipt:
    """Run the act; a task whose history is gone gets the polite 410, a refusal stays a `Refused`."""
    receipt = await gone_if_missing(service.perform(request.app.state.client, link.task_id, act, payload))
    await run_in_threadpool(mark_task_link_used, request.app.state.engine, link.token_sha256)
    return ActReceipt.model_validate(receipt, from_attributes=True)


def _one_line(refused: Refused) -> str:
    return " ".join(str(refused).split())


async def _asked(request: Request, task_id: str) -> ConsultationInput:
    """What the consultation asks; its candidates never change, so one query per task and process serves all."""
    asked: LRUCache[str, ConsultationInput] = request.app.state.asked
    if task_id not in asked:
        asked[task_id] = await gone_if_missing(service.consultation_task(request.app.state.client, task_id))
    return asked[task_id]


async def _answer(request: Request, link: TaskLink, form: FormData) -> HTMLResponse:
    task = await _asked(request, link.task_id)
    values = {
        c.application_id: (_text(form, f"opinion-{c.application_id}"), _text(form, f"reason-{c.application_id}"))
        for c in task.candidates
    }
    if any(opinion not in OPINIONS for opinion, _ in values.values()):
        return await _form(request, link, values, "请对每位候选者选择“无异议”或“有异议”。", 422)
    try:
        answer = ConsultationAnswer(
            actor=link_actor(link),
            answers=[CandidateOpinion(application_id=a, opinion=Opinion(o), reason=r) for a, (o, r) in values.items()],
            expected_revision=_expected_revision(form),
            client_address=client_address(request),
        )
    except ValidationError:
        return await _form(request, link, values, "理由不得超过 2000 字。", 422)
    try:
        receipt = await _perform(request, link, "answer", answer)
    except Refused as refused:
        return await _form(request, link, values, _one_line(refused), refusal_status(refused))
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


async def _score(request: Request, link: TaskLink, form: FormData) -> HTMLResponse:
    task = await load_scoring(request.app.state.client, link)
    values = {i.id: _text(form, f"score-{i.id}") for i in task.rubric.indicators}
    entered = (values, _text(form, "comment"))
    try:
        score = ExpertScore(
            actor=link_actor(link),
            scores={k: float(v) for k, v in values.items()},
            comment=entered[1],
            expected_revision=_expected_revision(form),
            client_address=client_address(request),
        )
    except ValueError:  # float() of a blank or a word, or a comment over the limit
        return await _scoring_form(request, link, entered, "请为每项指标填写数字得分；评审意见不得超过 4000 字。", 422)
    try:
        receipt = await _perform(request, link, "submit_score", score)
    except Refused as refused:
        return await _scoring_form(request, link, entered, _one_line(refused), refusal_status(refused))
    return _page(
        "scoring_receipt.html",
        task=task,
        revision=receipt.revision,
        total=receipt.detail.removeprefix("total "),
        accepted_at=zh_datetime(receipt.accepted_at),
    )
