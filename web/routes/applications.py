"""One application's live status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from awardcycle import service
from schemas.application import ApplicationStatus
from web import visibility
from web.auth import Access, access
from web.deps import ClientDep, of_kind
from web.schemas import AUTH_ERRORS

router = APIRouter(prefix="/applications", tags=["applications"])


@router.get("/{application_id}", responses=AUTH_ERRORS, dependencies=[of_kind("application", "application_id")])
async def application_status(
    application_id: str, client: ClientDep, reader: Annotated[Access, access("application_id")]
) -> ApplicationStatus:
    return visibility.application_status(reader, await service.application_status(client, application_id))


@router.get("/{application_id}/form", responses=AUTH_ERRORS, dependencies=[of_kind("application", "application_id")])
async def application_form(
    application_id: str, client: ClientDep, reader: Annotated[Access, access("application_id")]
) -> visibility.ApplicationFormView:
    """The application as submitted: conditions, evidence and documents, for screening."""
    return visibility.application_form(reader, await service.application_form(client, application_id))
