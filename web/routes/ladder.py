"""The climb at a glance, as JSON: the twin of `awardcycle ladder show`."""

from __future__ import annotations

from fastapi import APIRouter, Query

from awardcycle.ladder import LadderView, ladder_view
from web.auth import READERS, require_anywhere
from web.deps import EngineDep
from web.schemas import AUTH_ERRORS

router = APIRouter(prefix="/ladder", tags=["ladder"])


@router.get("", responses=AUTH_ERRORS, dependencies=[require_anywhere(*READERS)])
async def show_ladder(engine: EngineDep, year: int = Query(ge=2000, le=2100)) -> LadderView:
    """Per tier, the year's cycles and their stage; per applicant, its path through tiers and years."""
    return await ladder_view(engine, year)
