"""CycleOpeningWorkflow: what a programme's Schedule starts on the opening date; it opens that year's cycle."""

from __future__ import annotations

from datetime import UTC, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.opening import OpeningActivities
    from schemas.opening import OpenCycleRequest, OpeningInput, OpeningResult, opening_year

# Set by a Schedule on every workflow it starts: the nominal time of the action (for a trigger, its time).
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")

# start_cycle waits up to 60 s for the new cycle to compute its first deadline.
OPEN_CYCLE_TIMEOUT = timedelta(minutes=2)
# An outage of Temporal's frontend or the worker delays the opening; a day later it is for a person to look at.
OPEN_CYCLE_DEADLINE = timedelta(days=1)
OPEN_CYCLE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["UnknownProgramme"],
)


@workflow.defn
class CycleOpeningWorkflow:
    @workflow.run
    async def run(self, opening: OpeningInput) -> OpeningResult:
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME)
        by_schedule = scheduled is not None
        if scheduled is None:  # started by hand, not by a Schedule
            scheduled = workflow.now()
        elif scheduled.tzinfo is None:
            scheduled = scheduled.replace(tzinfo=UTC)
        year = opening_year(scheduled, opening.rehearsal)
        result = await workflow.execute_activity_method(
            OpeningActivities.open_cycle,
            OpenCycleRequest(
                programme_id=opening.programme_id,
                year=year,
                day_seconds=opening.rehearsal.day_seconds if opening.rehearsal else None,
            ),
            start_to_close_timeout=OPEN_CYCLE_TIMEOUT,
            schedule_to_close_timeout=OPEN_CYCLE_DEADLINE,
            retry_policy=OPEN_CYCLE_RETRY,
        )
        return OpeningResult(
            programme_id=opening.programme_id,
            year=year,
            scheduled_at=scheduled,
            by_schedule=by_schedule,
            rehearsal=opening.rehearsal is not None,
            cycle_id=result.cycle_id,
            started=result.started,
            reason=result.reason,
        )
