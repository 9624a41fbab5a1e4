"""Activities that write the SQL read model the web pages and CLI show."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio import activity

from schemas.application import ApplicationView
from schemas.records import CycleProgress, CycleResults
from store import ladder, queries
from store.db import session
from store.tables import ApplicationRecord, RecommendationRow, ResultRow


class RecordActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="record_cycle")
    def record_cycle(self, progress: CycleProgress) -> None:
        with session(self._engine) as db:
            queries.upsert_cycle(
                db,
                cycle_id=progress.cycle_id,
                programme_id=progress.programme_id,
                year=progress.year,
                started_at=progress.started_at,
                day_seconds=progress.day_seconds,
                stage=progress.stage.value if progress.stage else "closed",
                completed=progress.completed,
                updated_at=datetime.now(UTC),
            )

    @activity.defn(name="record_application")
    def record_application(self, view: ApplicationView) -> None:
        """One application's view; a retry, or a write overtaken by a newer one, changes nothing."""
        with session(self._engine) as db:
            queries.upsert_application_view(db, view)

    @activity.defn(name="record_results")
    def record_results(self, results: CycleResults) -> None:
        now = datetime.now(UTC)
        with session(self._engine) as db:
            queries.record_results(
                db,
                cycle_id=results.cycle_id,
                results=[
                    ResultRow(
                        cycle_id=results.cycle_id,
                        application_id=a.application_id,
                        name=a.name,
                        applicant_kind=a.applicant_kind,
                        credit_code=a.credit_code,
                        award=a.award.value,
                        final_score=a.final_score,
                        recorded_at=now,
                    )
                    for a in results.awards
                ],
            )
            ladder.record_applications(
                db,
                records=[
                    ApplicationRecord(
                        application_id=a.application_id,
                        cycle_id=results.cycle_id,
                        programme_id=results.programme_id,
                        year=results.year,
                        holder_key=a.holder_key,
                        name=a.name,
                        applicant_kind=a.applicant_kind,
                        credit_code=a.credit_code,
                        outcome=a.outcome,
                        direct=a.direct,
                        recorded_at=now,
                    )
                    for a in results.applications
                ],
            )
            queries.record_recommendations(
                db,
                cycle_id=results.cycle_id,
                recommendations=[
                    RecommendationRow(
                        cycle_id=results.cycle_id,
                        target_programme=r.programme,
                        application_id=r.application_id,
                        name=r.name,
                        applicant_kind=r.applicant_kind,
                        credit_code=r.credit_code,
                        award=r.award.value,
                        recorded_at=now,
                    )
                    for r in results.recommendations
                ],
            )
