"""One department consultation's live status."""

from __future__ import annotations

from fastapi import APIRouter

from awardcycle import service
from schemas.consultation import ConsultationStatus
from web.deps import ClientDep, require_kind
from web.schemas import Detail

router = APIRouter(prefix="/consultations", tags=["consultations"])


@router.get("/{workflow_id}", responses={404: {"model": Detail}})
async def consultation_status(workflow_id: str, client: ClientDep) -> ConsultationStatus:
    require_kind(workflow_id, "consultation")
    return await service.consultation_status(client, workflow_id)
