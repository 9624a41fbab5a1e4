"""One application's live status."""

from __future__ import annotations

from fastapi import APIRouter

from awardcycle import service
from schemas.application import ApplicationStatus
from web.deps import ClientDep, require_kind
from web.schemas import Detail

router = APIRouter(prefix="/applications", tags=["applications"])


@router.get("/{application_id}", responses={404: {"model": Detail}})
async def application_status(application_id: str, client: ClientDep) -> ApplicationStatus:
    require_kind(application_id, "application")
    return await service.application_status(client, application_id)
