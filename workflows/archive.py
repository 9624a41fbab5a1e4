"""ArchiveWorkflow: stores the histories of one cycle's workflows once they have all closed."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.archive import ArchiveActivities
    from schemas.archive import ArchiveRequest, ArchiveResult

# The cycle starts this workflow just before it returns, so the first attempts find it still running:
# the activity raises StillRunning and is retried with backoff until every workflow has closed.
ARCHIVE_ATTEMPT_TIMEOUT = timedelta(minutes=10)
ARCHIVE_DEADLINE = timedelta(days=1)
ARCHIVE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn
class ArchiveWorkflow:
    @workflow.run
    async def run(self, request: ArchiveRequest) -> ArchiveResult:
        return await workflow.execute_activity_method(
            ArchiveActivities.archive_histories,
            request,
            start_to_close_timeout=ARCHIVE_ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=ARCHIVE_DEADLINE,
            retry_policy=ARCHIVE_RETRY,
        )
