"""Queries across programmes and years: recommendations on their way, and how applications ended."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from store.tables import ApplicationRecord, CycleRow, DeliveryRow


def record_applications(session: Session, *, records: Sequence[ApplicationRecord]) -> None:
    """Upserts by application id, so a retried activity writes each row once."""
    for record in records:
        stored = session.get(ApplicationRecord, record.application_id)
        if stored is None:
            session.add(record)
        else:
            stored.sqlmodel_update(record.model_dump())
    session.flush()


def applications_of(session: Session, *, holder_key: str) -> list[ApplicationRecord]:
    query = select(ApplicationRecord).where(ApplicationRecord.holder_key == holder_key)
    return list(session.exec(query.order_by(col(ApplicationRecord.year), col(ApplicationRecord.programme_id))))


def list_applications(session: Session, *, year: int | None = None) -> list[ApplicationRecord]:
    query = select(ApplicationRecord).order_by(col(ApplicationRecord.year), col(ApplicationRecord.application_id))
    if year is not None:
        query = query.where(ApplicationRecord.year == year)
    return list(session.exec(query))


def wins_since(session: Session, *, programme_id: str, holder_key: str, since_year: int) -> list[ApplicationRecord]:
    """The holder's wins of the programme in `since_year` or later."""
    query = (
        select(ApplicationRecord)
        .where(ApplicationRecord.programme_id == programme_id)
        .where(ApplicationRecord.holder_key == holder_key)
        .where(ApplicationRecord.outcome == "winner")
        .where(col(ApplicationRecord.year) >= since_year)
    )
    return list(session.exec(query.order_by(col(ApplicationRecord.year))))


def upsert_delivery(session: Session, *, delivery: DeliveryRow) -> None:
    """One row per (sending cycle, target programme, holder); a retry updates it."""
    query = (
        select(DeliveryRow)
        .where(DeliveryRow.from_cycle == delivery.from_cycle)
        .where(DeliveryRow.target_programme == delivery.target_programme)
        .where(DeliveryRow.holder_key == delivery.holder_key)
    )
    stored = session.exec(query).first()
    if stored is None:
        session.add(delivery)
    else:
        stored.sqlmodel_update(delivery.model_dump(exclude={"id", "created_at"}))
    session.flush()


def get_delivery(session: Session, *, from_cycle: str, target_programme: str, holder_key: str) -> DeliveryRow | None:
    query = (
        select(DeliveryRow)
        .where(DeliveryRow.from_cycle == from_cycle)
        .where(DeliveryRow.target_programme == target_programme)
        .where(DeliveryRow.holder_key == holder_key)
    )
    return session.exec(query).first()


def pending_deliveries(session: Session, *, target_programme: str, year: int) -> list[DeliveryRow]:
    query = (
        select(DeliveryRow)
        .where(DeliveryRow.target_programme == target_programme)
        .where(DeliveryRow.target_year == year)
        .where(DeliveryRow.state == "pending")
    )
    return list(session.exec(query.order_by(col(DeliveryRow.from_cycle), col(DeliveryRow.id))))


def list_deliveries(
    session: Session, *, from_cycle: str | None = None, holder_key: str | None = None
) -> list[DeliveryRow]:
    query = select(DeliveryRow).order_by(col(DeliveryRow.id))
    if from_cycle is not None:
        query = query.where(DeliveryRow.from_cycle == from_cycle)
    if holder_key is not None:
        query = query.where(DeliveryRow.holder_key == holder_key)
    return list(session.exec(query))


def editions(session: Session, *, programme_id: str) -> list[CycleRow]:
    """The programme's cycles, newest year first, the latest started first within a year."""
    query = select(CycleRow).where(CycleRow.programme_id == programme_id)
    return list(session.exec(query.order_by(col(CycleRow.year).desc(), col(CycleRow.started_at).desc())))


def cycles_of_year(session: Session, *, year: int) -> list[CycleRow]:
    query = select(CycleRow).where(CycleRow.year == year)
    return list(session.exec(query.order_by(col(CycleRow.programme_id), col(CycleRow.started_at))))


def deliveries_for_year(session: Session, *, year: int) -> list[DeliveryRow]:
    """Recommendations to an edition of that year, whatever became of them."""
    return list(session.exec(select(DeliveryRow).where(DeliveryRow.target_year == year)))
