"""One public notice's live status."""

from __future__ import annotations

from fastapi import APIRouter

from awardcycle import service
from schemas.notice import NoticeStatus
from web.deps import ClientDep, require_kind
from web.schemas import Detail

router = APIRouter(prefix="/notices", tags=["notices"])


@router.get("/{workflow_id}", responses={404: {"model": Detail}})
async def notice_status(workflow_id: str, client: ClientDep) -> NoticeStatus:
    require_kind(workflow_id, "notice")
    return await service.notice_status(client, workflow_id)
