"""Task links as JSON: `GET` shows the recipient the task and changes nothing; `POST` answers it.

A link is a department's consultation or a drawn expert's scoring form. The raw token is only hashed
here: it never reaches a log line, a workflow or the store.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from temporalio.client import Client

from activities.notify import token_sha256
from awardcycle import service
from awardcycle.service import RefusalKind, Refused
from schemas.application import ActReceipt, ExpertScore, ScoringTask
from schemas.common import Actor, Channel, Role
from schemas.consultation import ConsultationAnswer, ConsultationInput, ConsultationStatus
from store import queries
from store.db import session
from store.tables import TaskLink
from web.deps import ClientDep
from web.ratelimit import client_address, too_many
from web.schemas import DepartmentPublic, Detail, ScoringAnswers, TaskAnswers, TaskPublic

router = APIRouter(prefix="/tasks", tags=["tasks"])

T = TypeVar("T")

CONSULTATION, EXPERT_REVIEW = "consultation", "expert_review"
TASK_KINDS = (CONSULTATION, EXPERT_REVIEW)  # the links /t/ opens; applicants' links open /a/
# Wrong, revoked or expired: the same words either way, so a link's fate is not revealed.
INVALID = "链接无效或已过期 (this link is not valid or has expired); contact the secretariat"
# URL-safe base64 of at least 128 bits; anything else is not worth a lookup.
TOKEN = re.compile(r"[A-Za-z0-9_-]{22,128}")
ERRORS: dict[int | str, dict[str, object]] = {404: {"model": Detail}, 410: {"model": Detail}, 429: {"model": Detail}}


def _find(engine: Engine, digest: str) -> TaskLink | None:
    with session(engine) as s:
        return queries.find_task_link(s, token_sha256=digest)


def mark_task_link_used(engine: Engine, digest: str) -> None:
    with session(engine) as s:
        queries.mark_task_link_used(s, token_sha256=digest, used_at=datetime.now(UTC))


async def open_task_link(token: str, request: Request, kinds: tuple[str, ...] = TASK_KINDS) -> TaskLink:
    """The link if of one of `kinds`, or the polite 404 (unknown, malformed), 410 (revoked, expired) or 429."""
    limits, address = request.app.state.rate_limits, client_address(request)
    engine: Engine = request.app.state.engine
    # A valid link works from any address: an office behind one NAT shares its address with a prober.
    link = await run_in_threadpool(_find, engine, token_sha256(token)) if TOKEN.fullmatch(token) else None
    if link is None or link.task_kind not in kinds:
        if not limits.hit(limits.wrong_link, "wrong-link", address):
            raise too_many()
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=INVALID)
    # expires_at is a real instant (a rehearsal's deadline falls early), so the wall clock judges it.
    if link.revoked or datetime.now(UTC) >= link.expires_at:
        raise HTTPException(status_code=status.HTTP_410_GONE, detail=INVALID)
    return link


async def gone_if_missing(loading: Awaitable[T]) -> T:
    """The task's history is gone (retention): the link has nothing left to show."""
    try:
        return await loading
    except Refused as error:
        if error.kind is not RefusalKind.NOT_FOUND:
            raise
        raise HTTPException(status_code=status.HTTP_410_GONE, detail=INVALID) from error


async def load_task(client: Client, task_id: str) -> tuple[ConsultationInput, ConsultationStatus]:
    """The consultation as asked and as answered so far."""
    return await gone_if_missing(_consultation(client, task_id))


async def _consultation(client: Client, task_id: str) -> tuple[ConsultationInput, ConsultationStatus]:
    return await service.consultation_task(client, task_id), await service.consultation_status(client, task_id)


async def load_scoring(client: Client, link: TaskLink) -> ScoringTask:
    return await gone_if_missing(service.scoring_task(client, link.task_id, link.recipient_id))


def link_actor(link: TaskLink) -> Actor:
    role = Role.EXPERT if link.task_kind == EXPERT_REVIEW else Role.DEPARTMENT
    return Actor(role=role, identity=link.recipient_id, channel=Channel.LINK)


@router.get("/{token}", responses=ERRORS)
async def show_task(token: str, request: Request, client: ClientDep) -> TaskPublic | ScoringTask:
    link = await open_task_link(token, request)
    if link.task_kind == EXPERT_REVIEW:
        return await load_scoring(client, link)
    task, current = await load_task(client, link.task_id)
    return TaskPublic(
        task_id=link.task_id,
        kind=link.task_kind,
        programme_name_zh=task.programme_name_zh,
        deadline=current.deadline,
        department=DepartmentPublic.model_validate(task.department, from_attributes=True),
        candidates=task.candidates,
        answered=current.answered,
        revision=current.revision,
        answers=current.answers,
    )


@router.post("/{token}", responses={**ERRORS, 409: {"model": Detail}, 422: {"model": Detail}})
async def answer_task(
    token: str, body: TaskAnswers | ScoringAnswers, request: Request, client: ClientDep
) -> ActReceipt:
    link = await open_task_link(token, request)
    act: ConsultationAnswer | ExpertScore
    match link.task_kind, body:
        case "consultation", TaskAnswers():
            act = ConsultationAnswer(
                actor=link_actor(link),
                answers=body.answers,
                expected_revision=body.expected_revision,
                client_address=client_address(request),
            )
            name = "answer"
        case "expert_review", ScoringAnswers():
            act = ExpertScore(
                actor=link_actor(link),
                scores=body.scores,
                comment=body.comment,
                expected_revision=body.expected_revision,
                client_address=client_address(request),
            )
            name = "submit_score"
        case _:
            raise Refused(
                f"此链接是{link.task_kind}任务，提交内容不符 (wrong answer for a {link.task_kind} task)",
                RefusalKind.INVALID,
            )
    receipt = await service.perform(client, link.task_id, name, act)
    await run_in_threadpool(mark_task_link_used, request.app.state.engine, link.token_sha256)
    return ActReceipt.model_validate(receipt, from_attributes=True)
