"""The Temporal worker: registers every workflow and the activities with their dependencies."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.applications import ApplicationActivities
from activities.archive import ArchiveActivities
from activities.calendar import CalendarActivities
from activities.ladder import LadderActivities
from activities.notify import NotificationActivities
from activities.opening import OpeningActivities
from activities.records import RecordActivities
from activities.starts import StartActivities
from activities.titles import TitleActivities
from awardcycle.temporal_client import connect
from config.settings import Settings, get_settings
from notifications.mailer import Mailer
from schemas.ids import TASK_QUEUE
from store.db import make_engine, upgrade
from workflows.application import ApplicationWorkflow
from workflows.archive import ArchiveWorkflow
from workflows.consultation import ConsultationWorkflow
from workflows.cycle import AwardCycleWorkflow
from workflows.notice import PublicNoticeWorkflow
from workflows.opening import CycleOpeningWorkflow
from workflows.title import TitleWorkflow

# Every application of a 1,000-applicant cycle and the cycle stay in memory (about half a MB each), so none
# is replayed from its first event at each of its tasks.
CACHED_WORKFLOWS = 2500
# Under a batch's load a workflow's next task may wait behind others on the worker that has it cached; it
# waits there rather than time out after the SDK's 5 s and be replayed from its first event elsewhere. Not
# longer: the tasks already queued for a killed worker wait this long before another worker may take them.
STICKY_WAIT = timedelta(seconds=60)

WORKFLOWS = [
    AwardCycleWorkflow,
    ApplicationWorkflow,
    ConsultationWorkflow,
    PublicNoticeWorkflow,
    ArchiveWorkflow,
    CycleOpeningWorkflow,
    TitleWorkflow,
]


def build_worker(
    client: Client,
    settings: Settings,
    engine: Engine,
    *,
    task_queue: str = TASK_QUEUE,
    executor: ThreadPoolExecutor | None = None,
) -> Worker:
    calendar = CalendarActivities(engine)
    records = RecordActivities(engine)
    notifications = NotificationActivities(settings, engine, Mailer(settings))
    archive = ArchiveActivities(client, engine)
    opening = OpeningActivities(client)
    titles = TitleActivities(engine)
    starts = StartActivities(client)
    ladder = LadderActivities(client, engine)
    applications = ApplicationActivities(client, engine)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            calendar.compute_deadline,
            calendar.reminder_instants,
            records.record_cycle,
            records.record_application,
            records.record_results,
            notifications.send_task_link,
            notifications.send_message,
            notifications.move_task_links,
            starts.start_archive,
            archive.archive_histories,
            opening.open_cycle,
            starts.start_titles,
            titles.record_title,
            ladder.deliver_recommendations,
            ladder.pending_recommendations,
            ladder.settle_recommendations,
            ladder.check_recommendation,
            ladder.check_eligibility,
            applications.start_application,
            applications.open_stages,
            applications.conclude_applications,
            applications.change_deadlines,
        ],
        # The read-model activities are synchronous SQL; they run on this pool.
        activity_executor=executor or ThreadPoolExecutor(max_workers=settings.activity_threads),
        max_concurrent_workflow_tasks=settings.workflow_task_slots,
        max_cached_workflows=CACHED_WORKFLOWS,
        sticky_queue_schedule_to_start_timeout=STICKY_WAIT,
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    engine = make_engine(settings)
    upgrade(engine)  # the schema at the newest migration before any activity runs
    client = await connect(settings)
    await build_worker(client, settings, engine).run()


if __name__ == "__main__":
    asyncio.run(main())
