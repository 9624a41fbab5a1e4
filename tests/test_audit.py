"""Reconciling the read model with a recorded cycle history, and replaying recorded histories."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.chain import fetch_chain
from activities.records import RecordActivities
from awardcycle.audit import children, cycle_histories, cycle_result, differences, replay_all
from schemas.records import CycleProgress, CycleResults
from store.db import session
from store.tables import ResultRow
from tests.replay import (
    by_workflow,
    load,
    noting_fetches,
    recorded_cycle_id,
    relay,
    relay_worker,
)
from worker import WORKFLOWS


def recorded_cycle() -> list[WorkflowHistory]:
    """The recorded cycle's runs, first run first."""
    return by_workflow(load())[recorded_cycle_id()]


def test_children_and_result_come_from_the_history() -> None:
    runs = recorded_cycle()
    started = [i for run in runs for i in children(run)]
    assert started and all(i.startswith(f"{runs[0].workflow_id}.") for i in started)
    assert any(".consultation-" in i for i in started) and any(i.endswith(".notice") for i in started)
    assert not any(".app-" in i for i in started)  # an activity starts each application: no child of the cycle
    assert [cycle_result(run) for run in runs[:-1]] == [None] * (len(runs) - 1)  # those continued as new
    result = cycle_result(runs[-1])
    assert result is not None and result.awards and result.approval.document_number


def test_verify_names_each_difference(engine: Engine) -> None:
    result = cycle_result(recorded_cycle()[-1])
    assert result is not None
    cycle_id = result.cycle_id
    assert differences(engine, cycle_id, result)  # nothing recorded yet: every award is missing

    records = RecordActivities(engine)
    records.record_cycle(
        CycleProgress(
            cycle_id=cycle_id, programme_id="qingdao-mayor-quality-award", year=2026, day_seconds=86400,
            started_at=datetime(2026, 3, 1, tzinfo=UTC), stage=None, completed=True,
        )
    )  # fmt: skip
    records.record_results(
        CycleResults(cycle_id=cycle_id, awards=result.awards, recommendations=result.recommendations)
    )
    assert differences(engine, cycle_id, result) == []

    changed = result.awards[0].application_id
    with session(engine) as db:
        query = select(ResultRow).where(ResultRow.cycle_id == cycle_id, ResultRow.application_id == changed)
        row = db.exec(query).one()
        row.award = "nomination" if row.award == "winner" else "winner"
    [difference] = differences(engine, cycle_id, result)
    assert changed in difference and "history says" in difference


async def test_recorded_histories_replay_with_a_rate() -> None:
    outcomes, rate = await replay_all(load(), WORKFLOWS)
    assert outcomes and all(o.error is None for o in outcomes) and rate > 0


async def test_runs_of_one_workflow_replay_separately_and_are_numbered() -> None:
    runs = recorded_cycle()
    assert len(runs) > 1, "the recorded cycle continued as new"
    outcomes, _ = await replay_all(runs, WORKFLOWS)
    assert [(o.workflow_id, o.run_index, o.error) for o in outcomes] == [
        (runs[0].workflow_id, n, None) for n in range(len(runs))
    ]


async def test_replay_shared_among_processes_gives_the_outcomes_of_one_process() -> None:
    histories = load()
    alone, _ = await replay_all(histories, WORKFLOWS)
    ticks: list[None] = []
    shared, rate = await replay_all(histories, WORKFLOWS, lambda: ticks.append(None), processes=2, min_share=1)
    assert shared == alone and all(o.error is None for o in shared) and rate > 0
    assert len(ticks) == len(histories)  # every history moves the progress on once


def misrecorded(history: WorkflowHistory) -> WorkflowHistory:
    """The history with its first activity renamed, as if other code than today's had recorded it."""
    events = [copy.deepcopy(e) for e in history.events]
    scheduled = next(e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    scheduled.activity_task_scheduled_event_attributes.activity_type.name = "renamed_activity"
    return WorkflowHistory(history.workflow_id, events)


async def test_a_history_the_code_does_not_match_gives_its_divergence_in_either_mode() -> None:
    recorded = next(h for h in load() if ".consultation-" in h.workflow_id)
    for processes in (1, 2):
        [diverged, matched], _ = await replay_all(
            [misrecorded(recorded), recorded], WORKFLOWS, processes=processes, min_share=1
        )
        assert diverged.error and "Nondeterminism" in diverged.error and "renamed_activity" in diverged.error
        assert matched.error is None and matched.run_index == 1


async def test_cycle_histories_follow_every_chain_and_the_children_of_every_run(env: WorkflowEnvironment) -> None:
    """On a real server: a relay of three runs, each starting a child that itself runs twice."""
    parent = f"audit-{uuid.uuid4().hex[:6]}"
    async with relay_worker(env.client) as queue:
        await relay(env.client, queue, parent, runs=3, children=1, child_runs=2)
    runs = await fetch_chain(env.client, parent)
    started = [i for run in runs for i in children(run)]
    assert started == [f"{parent}.child-{n}-0" for n in range(3)]  # one child started in each run
    client, fetched = noting_fetches(env.client)
    histories = await cycle_histories(client, parent)
    assert [h.workflow_id for h in histories] == [parent] * 3 + [i for i in started for _ in range(2)]
    assert [h.to_json() for h in histories[:3]] == [run.to_json() for run in runs]
    # Each chain from its latest run, then back along the links.
    child_runs = {i: [h.run_id for h in histories if h.workflow_id == i] for i in started}
    # The applications (numbered from 1; a relay has none) are looked for before the children.
    assert fetched == [
        (parent, None),
        (parent, runs[1].run_id),
        (parent, runs[0].run_id),
        (f"{parent}.app-0001", None),
    ] + [step for i in started for step in ((i, None), (i, child_runs[i][0]))]
