"""Reminders follow a moved consultation deadline: an extension before the first reminder replaces the
planned ones with reminders before the new deadline, each sent once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from activities.calendar import WorkingDayCalendar
from awardcycle import samples, service
from notifications.render import zh_datetime
from programmes import get_programme
from schemas.calendar import CalendarSpec
from schemas.consultation import DeadlineExtension
from schemas.programme import Duration, StageKind
from store.db import session
from store.tables import OutboxMessage
from tests.scenario import COORDINATOR, StrongPlayer, apply_all, small, start, terminate, until_stage

JINAN = "jinan-mayor-quality-award"  # reminders 3 and 1 working days before the consultation's deadline
CALENDAR = WorkingDayCalendar(CalendarSpec())


def reminders(engine: Engine, consultation_id: str) -> list[OutboxMessage]:
    with session(engine) as s:
        found = s.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.workflow_id) == consultation_id)
            .where(col(OutboxMessage.purpose) == "consultation_reminder")
            .order_by(col(OutboxMessage.message_id))
        )
        return list(found)


async def test_reminders_follow_an_extended_consultation_deadline(
    env: WorkflowEnvironment, task_queue: str, engine: Engine
) -> None:
    programme = small(get_programme(JINAN))
    cycle_id = await start(env.client, programme, task_queue, f"remind-{uuid.uuid4().hex[:6]}")
    await apply_all(env.client, cycle_id, {f"app-{i}": samples.application(programme, i) for i in range(1, 5)})
    status = await until_stage(
        env, engine, cycle_id, StrongPlayer(programme=programme), StageKind.CONSULTATION, opened="consultations"
    )
    consultation_id = status.consultations[0]
    before = status.stage_deadline
    assert before is not None and not reminders(engine, consultation_id)

    extension = DeadlineExtension(actor=COORDINATOR, working_days=5, reason="部门申请延期")
    await service.perform(env.client, cycle_id, "extend_deadline", extension)
    moved = CALENDAR.add(before, Duration(days=5))
    for _ in range(100):
        if (await service.consultation_status(env.client, consultation_id)).deadline == moved:
            break
        await asyncio.sleep(0.05)
    # The department stays silent until past the moved deadline.
    await env.sleep(moved - status.cycle_time + timedelta(hours=1))
    for _ in range(200):
        sent = reminders(engine, consultation_id)
        if len(sent) == 2:
            break
        await asyncio.sleep(0.05)
    assert [m.message_id.rpartition("/")[2] for m in sent] == ["reminder-1-1", "reminder-2-1"]
    assert all(zh_datetime(moved) in m.body_text for m in sent), "each names the moved deadline"
    await terminate(env.client, cycle_id)
