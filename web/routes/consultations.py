"""One department consultation's live status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from awardcycle import service
from schemas.consultation import ConsultationStatus
from web import visibility
from web.auth import Access, access
from web.deps import ClientDep, of_kind
from web.schemas import AUTH_ERRORS

router = APIRouter(prefix="/consultations", tags=["consultations"])


@router.get("/{workflow_id}", responses=AUTH_ERRORS, dependencies=[of_kind("consultation")])
async def consultation_status(
    workflow_id: str, client: ClientDep, reader: Annotated[Access, access("workflow_id")]
) -> ConsultationStatus:
    return visibility.consultation_status(reader, await service.consultation_status(client, workflow_id))
