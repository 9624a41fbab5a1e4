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


def upsert_title(
    session: Session,
    *,
    title_id: str,
    holder_key: str,
    programme_id: str,
    cycle_id: str,
    year: int,
    name: str,
    applicant_kind: str,
    credit_code: str | None,
    kind: str,
    state: str,
    granted_at: datetime,
    expires_at: datetime,
    revoked_at: datetime | None = None,
    public_reason: str | None = None,
) -> TitleRow:
    # merge() loads the row with this primary key, if any, and copies these values onto it.
    row = session.merge(
        TitleRow(
            title_id=title_id,
            holder_key=holder_key,
            programme_id=programme_id,
            cycle_id=cycle_id,
            year=year,
            name=name,
            applicant_kind=applicant_kind,
            credit_code=credit_code,
            kind=kind,
            state=state,
            granted_at=granted_at,
            expires_at=expires_at,
            revoked_at=revoked_at,
            public_reason=public_reason,
        )
    )
    session.flush()
    return row


def set_title_state(
    session: Session,
    *,
    title_id: str,
    state: str,
    revoked_at: datetime | None = None,
    public_reason: str | None = None,
) -> TitleRow | None:
    """Changes a stored title's state; None when no such title is stored."""
    row = session.get(TitleRow, title_id)
    if row is None:
        return None
    row.state, row.revoked_at, row.public_reason = state, revoked_at, public_reason
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
