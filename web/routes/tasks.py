"""Task links as JSON: `GET` shows a department its task and changes nothing; `POST` answers it.

The raw token is only hashed here: it never reaches a log line, a workflow or the store.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from temporalio.client import Client

from activities.notify import token_sha256
from awardcycle import service
from awardcycle.service import Refused
from schemas.application import ActReceipt
from schemas.common import Actor, Channel, Role
from schemas.consultation import ConsultationAnswer, ConsultationInput, ConsultationStatus
from store import queries
from store.db import session
from store.tables import TaskLink
from web.deps import ClientDep, EngineDep
from web.schemas import DepartmentPublic, Detail, TaskAnswers, TaskPublic

router = APIRouter(prefix="/tasks", tags=["tasks"])

# Wrong, revoked or expired: the same words either way, so a link's fate is not revealed.
INVALID = "链接无效或已过期 (this link is not valid or has expired); contact the secretariat"
# URL-safe base64 of at least 128 bits; anything else is not worth a lookup.
TOKEN = re.compile(r"[A-Za-z0-9_-]{22,128}")
ERRORS: dict[int | str, dict[str, object]] = {404: {"model": Detail}, 410: {"model": Detail}}


def _find(engine: Engine, digest: str) -> TaskLink | None:
    with session(engine) as s:
        return queries.find_task_link(s, token_sha256=digest)


def mark_task_link_used(engine: Engine, digest: str) -> None:
    with session(engine) as s:
        queries.mark_task_link_used(s, token_sha256=digest, used_at=datetime.now(UTC))


async def open_task_link(token: str, engine: Engine) -> TaskLink:
    """The link, or the polite 404 (unknown, malformed) or 410 (revoked, expired)."""
    link = await run_in_threadpool(_find, engine, token_sha256(token)) if TOKEN.fullmatch(token) else None
    if link is None or link.task_kind != "consultation":
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=INVALID)
    # expires_at is a real instant (a rehearsal's deadline falls early), so the wall clock judges it.
    if link.revoked or datetime.now(UTC) >= link.expires_at:
        raise HTTPException(status_code=status.HTTP_410_GONE, detail=INVALID)
    return link


async def load_task(client: Client, task_id: str) -> tuple[ConsultationInput, ConsultationStatus] | None:
    """The task as asked and as answered so far; None once its history is gone."""
    try:
        return await service.consultation_task(client, task_id), await service.consultation_status(client, task_id)
    except Refused as error:
        if error.status != status.HTTP_404_NOT_FOUND:
            raise
        return None


@router.get("/{token}", responses=ERRORS)
async def show_task(token: str, engine: EngineDep, client: ClientDep) -> TaskPublic:
    link = await open_task_link(token, engine)
    loaded = await load_task(client, link.task_id)
    if loaded is None:
        raise HTTPException(status_code=status.HTTP_410_GONE, detail=INVALID)  # history gone
    task, current = loaded
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


@router.post("/{token}", responses={**ERRORS, 409: {"model": Detail}})
async def answer_task(token: str, body: TaskAnswers, engine: EngineDep, client: ClientDep) -> ActReceipt:
    link = await open_task_link(token, engine)
    answer = ConsultationAnswer(
        actor=Actor(role=Role.DEPARTMENT, identity=link.recipient_id, channel=Channel.LINK),
        answers=body.answers,
        expected_revision=body.expected_revision,
    )
    receipt = await service.perform(client, link.task_id, "answer", answer)
    await run_in_threadpool(mark_task_link_used, engine, link.token_sha256)
    return ActReceipt.model_validate(receipt, from_attributes=True)
