"""Reconciling the read model with a recorded cycle history, and replaying recorded histories."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import WorkflowHistory

from activities.records import RecordActivities
from awardcycle.audit import children, cycle_result, differences, replay_all, workflow_type
from schemas.records import CycleProgress, CycleResults
from store.db import session
from store.tables import ResultRow
from tests.replay import load
from worker import WORKFLOWS


def recorded_cycle() -> WorkflowHistory:
    return next(h for h in load() if workflow_type(h) == "AwardCycleWorkflow")


def test_children_and_result_come_from_the_history() -> None:
    history = recorded_cycle()
    started = children(history)
    assert any(".app-" in i for i in started) and any(".consultation-" in i for i in started)
    assert any(i.endswith(".notice") for i in started)
    result = cycle_result(history)
    assert result is not None and result.awards and result.approval.document_number


def test_verify_names_each_difference(engine: Engine) -> None:
    history = recorded_cycle()
    result = cycle_result(history)
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
