"""Titles held after the award: one row per title, written by the `record_title` activity.

The row is what eligibility rules look up across years (by holder_key): a live title, a revoked one.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, col, select

from store.tables import UTCDateTime


class TitleRow(SQLModel, table=True):
    __tablename__ = "title"

    title_id: str = Field(primary_key=True, description="workflow id of the TitleWorkflow")
    holder_key: str = Field(index=True, description="credit code, else `{applicant_kind}:{name}`")
    programme_id: str = Field(index=True)
    cycle_id: str
    year: int
    name: str
    applicant_kind: str
    credit_code: str | None = None
    kind: str = Field(description='"winner", "nomination" or "brand"')
    state: str = Field(description='"active", "revoked" or "expired"')
    granted_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    public_reason: str | None = None


def upsert_title(session: Session, *, title: TitleRow) -> TitleRow:
    """Writes the whole row: merge() loads the stored one with this title id, if any, and copies onto it."""
    row = session.merge(title)
    session.flush()
    return row


def get_title(session: Session, *, title_id: str) -> TitleRow | None:
    return session.get(TitleRow, title_id)


def titles_of(session: Session, *, holder_key: str) -> list[TitleRow]:
    """Every title one holder has held, newest grant first."""
    query = (
        select(TitleRow)
        .where(TitleRow.holder_key == holder_key)
        .order_by(col(TitleRow.granted_at).desc(), col(TitleRow.title_id))
    )
    return list(session.exec(query))


def list_titles(session: Session, *, programme_id: str | None = None, year: int | None = None) -> list[TitleRow]:
    query = select(TitleRow).order_by(col(TitleRow.year).desc(), col(TitleRow.title_id))
    if programme_id is not None:
        query = query.where(TitleRow.programme_id == programme_id)
    if year is not None:
        query = query.where(TitleRow.year == year)
    return list(session.exec(query))
