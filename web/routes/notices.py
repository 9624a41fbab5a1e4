"""One public notice's live status, with the objectors named only to coordinators and auditors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from awardcycle import service
from schemas.notice import NoticeStatus
from web import visibility
from web.auth import Access, access
from web.deps import ClientDep, of_kind
from web.schemas import AUTH_ERRORS

router = APIRouter(prefix="/notices", tags=["notices"])


@router.get("/{workflow_id}", responses=AUTH_ERRORS, dependencies=[of_kind("notice")])
async def notice_status(
    workflow_id: str, client: ClientDep, reader: Annotated[Access, access("workflow_id")]
) -> NoticeStatus:
    return visibility.notice_status(reader, await service.notice_status(client, workflow_id))
