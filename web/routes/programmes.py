"""The programme catalogue, read from the TOML files on each request so edits show at once."""

from __future__ import annotations

from fastapi import APIRouter

from programmes import get_programme, load_catalogue
from schemas.programme import Programme
from web.schemas import Detail, ProgrammesPublic, ProgrammeSummary

router = APIRouter(prefix="/programmes", tags=["programmes"])


@router.get("")
def list_programmes() -> ProgrammesPublic:
    data = [ProgrammeSummary.model_validate(p, from_attributes=True) for p in load_catalogue().values()]
    return ProgrammesPublic(data=data, count=len(data))


@router.get("/{programme_id}", responses={404: {"model": Detail}})
def show_programme(programme_id: str) -> Programme:
    return get_programme(programme_id)
