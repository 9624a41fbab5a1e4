"""On the real dev server (the time-skipping server has no Schedules): a rehearsal Schedule opens a cycle a year."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, ScheduleOverlapPolicy, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from awardcycle import schedules
from awardcycle.embedded import start_dev_server, start_mail_sink
from awardcycle.schedules import OpeningSchedule, ScheduledAction
from awardcycle.service import Refused
from awardcycle.temporal_client import connect
from config.settings import Settings
from schemas.ids import TASK_QUEUE
from schemas.opening import OpeningInput, RehearsalOpening
from tests.conftest import free_port
from tests.test_integration import cli, spawn
from workflows.opening import CycleOpeningWorkflow

PROGRAMME = "qingdao-mayor-quality-award"
SCHEDULE = f"open-{PROGRAMME}"
INTERVAL = 4  # real seconds per edition year; each opening fires 2 s into its interval


@pytest.fixture(scope="module")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        home=tmp_path_factory.mktemp("schedules"),
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        web_port=free_port(),
        smtp_port=free_port(),
        _env_file=None,
    )


@pytest.fixture(scope="module")
async def dev_client(stack_settings: Settings) -> AsyncIterator[Client]:
    async with start_dev_server(stack_settings), start_mail_sink(stack_settings):
        yield await connect(stack_settings)


async def worker_polling(client: Client, seconds: float = 30) -> None:
    """Return once a worker polls the task queue, so the first opening does not wait for one."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=TASK_QUEUE),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    async with asyncio.timeout(seconds):
        while not (await client.workflow_service.describe_task_queue(request)).pollers:
            await asyncio.sleep(0.2)


async def opening(
    client: Client, matches: Callable[[ScheduledAction], bool], seconds: float = 20
) -> tuple[ScheduledAction, OpeningSchedule]:
    """The first finished opening of the schedule that matches, and the schedule as it was then."""
    async with asyncio.timeout(seconds):
        while True:
            described = await schedules.describe_schedule(client, SCHEDULE)
            for action in described.recent_actions:
                if action.result is not None and matches(action):
                    return action, described
            await asyncio.sleep(0.2)


async def running(client: Client, workflow_id: str) -> bool:
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return described.status is WorkflowExecutionStatus.RUNNING


async def test_a_rehearsal_schedule_opens_one_cycle_a_year(stack_settings: Settings, dev_client: Client) -> None:
    cycles = [f"{PROGRAMME}-{year}" for year in (2025, 2026)]
    worker = await spawn(stack_settings, "worker")
    try:
        await worker_polling(dev_client)
        code, out, err = await cli(
            stack_settings, "schedule", "create", PROGRAMME, "--rehearsal-interval", str(INTERVAL),
            "--first-year", "2025", "--day-seconds", "3600", "--json",
        )  # fmt: skip
        assert code == 0, err
        created = json.loads(out)
        assert created["schedule_id"] == SCHEDULE and created["mode"] == "rehearsal" and not created["paused"]
        code, out, err = await cli(stack_settings, "schedule", "create", PROGRAMME, "--rehearsal-interval", "4")
        assert code == 1 and out == "" and "already exists" in err and len(err.strip().splitlines()) == 1

        # The first interval stands for 2025: the schedule opens that cycle by itself.
        first, _ = await opening(dev_client, lambda a: a.result is not None and a.result.year == 2025)
        assert first.result is not None and first.result.started and first.result.by_schedule
        assert first.result.cycle_id == cycles[0] and await running(dev_client, cycles[0])
        interval_ends = first.result.scheduled_at + timedelta(seconds=INTERVAL / 2)

        # A trigger within the same interval stands for the same year: the cycle exists, nothing starts twice.
        # ALLOW_ALL: with the schedule's SKIP the server may drop a trigger while it still counts the first
        # opening as running; here nothing but the opening itself stands between the trigger and a second cycle.
        await dev_client.get_schedule_handle(SCHEDULE).trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
        again, _ = await opening(dev_client, lambda a: a.run_id != first.run_id)
        assert again.result is not None and again.result.scheduled_at < interval_ends, "trigger came too late"
        assert (again.result.year, again.result.started, again.result.reason) == (2025, False, "already exists")
        runs = [w async for w in dev_client.list_workflows(f"WorkflowId = '{cycles[0]}'")]
        assert len(runs) == 1

        # The next interval stands for 2026.
        second, _ = await opening(dev_client, lambda a: a.result is not None and a.result.year == 2026)
        assert second.result is not None and second.result.started and await running(dev_client, cycles[1])

        code, out, err = await cli(stack_settings, "schedule", "pause", SCHEDULE, "--note", "paused", "--json")
        assert code == 0 and json.loads(out)["paused"] and json.loads(out)["note"] == "paused", err
        async with asyncio.timeout(20):  # the list is eventually consistent
            while True:
                code, out, err = await cli(stack_settings, "schedule", "list", "--json")
                assert code == 0, err
                listed = {s["schedule_id"]: s for s in json.loads(out)}
                if SCHEDULE in listed:
                    break
        shown = listed[SCHEDULE]
        assert shown["programme_id"] == PROGRAMME and shown["paused"] and shown["next_action_times"]
        assert {a["result"]["year"] for a in shown["recent_actions"] if a["result"]} >= {2025, 2026}

        # Paused across at least one scheduled time: no opening starts, so no cycle either.
        paused_actions = (await schedules.describe_schedule(dev_client, SCHEDULE)).actions
        await asyncio.sleep(1.5 * INTERVAL)
        assert (await schedules.describe_schedule(dev_client, SCHEDULE)).actions == paused_actions
        resumed_at = datetime.now(UTC).replace(microsecond=0)
        code, out, err = await cli(stack_settings, "schedule", "resume", SCHEDULE, "--json")
        assert code == 0 and not json.loads(out)["paused"], err

        # Resumed, it carries on with the interval now due (missed ones are not made up): a year from 2027 on,
        # which chinesecalendar does not cover, so the opening is recorded as refused, not retried.
        later, described = await opening(dev_client, lambda a: a.scheduled_at >= resumed_at)
        assert later.result is not None and later.result.year > 2026 and not later.result.started
        assert "no holiday data" in later.result.reason, later.result.reason
        assert not await running(dev_client, later.result.cycle_id)
        assert described.actions >= paused_actions + 1

        code, out, err = await cli(stack_settings, "schedule", "delete", SCHEDULE)
        assert code == 0 and SCHEDULE in out, err
        with pytest.raises(Refused, match="no schedule"):
            await schedules.describe_schedule(dev_client, SCHEDULE)
        code, out, err = await cli(stack_settings, "schedule", "pause", SCHEDULE)
        assert code == 1 and out == "" and "no schedule" in err and len(err.strip().splitlines()) == 1

        code, out, err = await cli(stack_settings, "schedule", "create", "no-such-award", "--rehearsal-interval", "4")
        assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
        assert "unknown programme 'no-such-award'" in err
        with pytest.raises(Refused, match="no schedule"):
            await schedules.describe_schedule(dev_client, "open-no-such-award")
    finally:
        with contextlib.suppress(Refused):
            await schedules.delete(dev_client, SCHEDULE)
        for cycle_id in cycles:
            if await running(dev_client, cycle_id):
                await dev_client.get_workflow_handle(cycle_id).terminate(reason="end of the schedule test")
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(worker.wait(), timeout=15)
            except TimeoutError:
                worker.kill()
                await worker.wait()


def test_the_real_schedule_of_a_biennial_programme() -> None:
    plan = schedules.plan_schedule("china-quality-award", first_year=2027)
    (calendar,) = plan.schedule.spec.calendars
    assert plan.schedule.spec.time_zone_name == "Asia/Shanghai" and not plan.schedule.spec.intervals
    assert [(r.start, r.end, r.step) for r in calendar.year] == [(2027, 2100, 2)]  # every second year
    assert [(r.start, r.end) for r in (*calendar.month, *calendar.day_of_month)] == [(9, 9), (1, 1)]
    assert [(r.start, r.end) for r in (*calendar.hour, *calendar.minute)] == [(0, 0), (5, 5)]
    assert plan.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    # The default first year is the next edition year, and a year without an edition is refused.
    assert schedules.next_edition(plan.programme, 2026) == 2027 and schedules.next_edition(plan.programme, 2027) == 2027
    with pytest.raises(Refused, match="holds no edition in 2026"):
        schedules.plan_schedule("china-quality-award", first_year=2026)
    with pytest.raises(Refused, match="whole seconds"):
        schedules.plan_schedule("china-quality-award", rehearsal_interval=2.5)
    with pytest.raises(Refused, match="unknown programme"):
        schedules.plan_schedule("no-such-award")


def test_a_rehearsal_interval_stands_for_an_edition_year() -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    rehearsal = RehearsalOpening(
        first_year=2027, interval_seconds=4, day_seconds=None, started_at=started, every_years=2
    )
    at = [started + timedelta(seconds=s) for s in (0, 2, 3.999, 4, 6, 9)]
    assert [rehearsal.year_at(t) for t in at] == [2027, 2027, 2027, 2029, 2029, 2031]
    plan = schedules.plan_schedule("china-quality-award", rehearsal_interval=4, first_year=2027, now=started)
    (interval,) = plan.schedule.spec.intervals
    first = datetime(1970, 1, 1, tzinfo=UTC) + interval.offset  # type: ignore[operator]
    assert (started - first) % interval.every == timedelta(seconds=2)  # mid-interval


async def test_an_opening_started_by_hand_uses_its_start_time(env: WorkflowEnvironment, task_queue: str) -> None:
    """No TemporalScheduledStartTime: the workflow falls back to workflow.now(), and an unknown programme fails."""
    now = datetime.now(UTC)
    rehearsal = RehearsalOpening(  # started 10 intervals ago from 2000 → 2010; every 1 year on a biennial award
        first_year=2000, interval_seconds=3600, day_seconds=60, started_at=now - timedelta(hours=10, minutes=30)
    )
    result = await env.client.execute_workflow(
        CycleOpeningWorkflow.run,
        OpeningInput(programme_id="china-quality-award", rehearsal=rehearsal),
        id=f"open-by-hand-{uuid.uuid4().hex[:6]}",
        task_queue=task_queue,
    )
    assert (result.year, result.by_schedule, result.started) == (2010, False, False)
    assert "holds no edition in 2010" in result.reason
    with pytest.raises(WorkflowFailureError) as failure:
        await env.client.execute_workflow(
            CycleOpeningWorkflow.run,
            OpeningInput(programme_id="no-such-award"),
            id=f"open-unknown-{uuid.uuid4().hex[:6]}",
            task_queue=task_queue,
        )
    activity_error = failure.value.cause  # the workflow failed with the activity's error
    assert isinstance(activity_error, ActivityError) and activity_error.retry_state is RetryState.NON_RETRYABLE_FAILURE
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError) and cause.type == "UnknownProgramme"
