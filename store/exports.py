"""What the office's documents read beyond store.queries: the announced list and the cycles with a notice.

Every statement is built by SQLAlchemy (bound) and reads at most `page` or `limit` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import Session, col, select

from schemas.programme import StageKind
from store.tables import ApplicationViewRow, CycleRow, ResultRow

# A cycle in one of these stages, or completed, has published its public notice if it had candidates.
NOTICED_STAGES = (StageKind.PUBLIC_NOTICE.value, StageKind.APPROVAL.value, StageKind.ANNOUNCEMENT.value)


@dataclass(frozen=True)
class AnnouncedAward:
    """One announced award, with the category and region its application gave."""

    application_id: str
    name: str
    award: str
    final_score: float | None
    category: str
    region: str


def announced_awards(session: Session, *, cycle_id: str, page: int = 500) -> list[AnnouncedAward]:
    """The cycle's recorded results, by application id, read `page` rows at a time."""
    found: list[AnnouncedAward] = []
    while True:
        query = (
            select(ResultRow, ApplicationViewRow)
            .join(
                ApplicationViewRow,
                col(ApplicationViewRow.application_id) == col(ResultRow.application_id),
                isouter=True,
            )
            .where(col(ResultRow.cycle_id) == cycle_id)
            .order_by(col(ResultRow.application_id))
            .offset(len(found))
            .limit(page)
        )
        rows = [
            AnnouncedAward(
                application_id=result.application_id,
                name=result.name,
                award=result.award,
                final_score=result.final_score,
                category=view.category if view else "",
                region=view.region if view else "",
            )
            for result, view in session.exec(query)
        ]
        found += rows
        if len(rows) < page:
            return found


def noticed_cycles(session: Session, *, limit: int) -> list[CycleRow]:
    """The `limit` cycles that reached their public notice, the last to change stage first (a rehearsal's start
    is its programme's opening date, so the start would not tell them apart)."""
    query = (
        select(CycleRow)
        .where(or_(col(CycleRow.stage).in_(NOTICED_STAGES), col(CycleRow.completed).is_(True)))
        .order_by(col(CycleRow.updated_at).desc(), col(CycleRow.cycle_id))
        .limit(limit)
    )
    return list(session.exec(query))
