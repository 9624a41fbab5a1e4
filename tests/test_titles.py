"""Titles held after the award, on the time-skipping server: yearly self-inspection, checks, revocation, expiry."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.starts import StartActivities
from awardcycle import service
from awardcycle.samples import credit_code
from schemas import ids
from schemas.common import SHANGHAI, Actor, Channel, RehearsalClock, Role
from schemas.title import (
    Complaint,
    ComplaintSubject,
    Revocation,
    SpotCheck,
    TitleGrant,
    TitleHolder,
    TitleKind,
    TitleResult,
    TitlesStarted,
    TitleState,
    TitleStatus,
    add_years,
    anniversaries,
    holder_key,
)
from store import titles
from store.db import session
from tests.conftest import Inbox
from tests.replay import fetch, replay
from tests.scenario import message_id, text_body
from web.deps import workflow_kind

COORDINATOR = Actor(role=Role.COORDINATOR, identity="wang", channel=Channel.CLI)
SECRETARIAT = Actor(role=Role.SECRETARIAT, identity="li", channel=Channel.CLI)


def holder(cycle_id: str, sequence: int, *, award: str = "winner") -> TitleHolder:
    return TitleHolder(
        application_id=ids.application_id(cycle_id, sequence),
        name=f"青岛海尔智能制造有限公司{sequence:02d}",
        applicant_kind="organisation",
        credit_code=credit_code(random.Random(f"{cycle_id}/{sequence}")),
        contact_email=f"quality{sequence:02d}@applicant.example.cn",
        award=award,
    )


async def grant(env: WorkflowEnvironment, holders: int = 1, *, brand: bool = False) -> TitleGrant:
    """An announcement now, in real time (one cycle day a day): the time-skipping server skips the years."""
    now = await env.get_current_time()
    programme_id, name_zh = (
        ("haopin-shandong", "好品山东") if brand else ("qingdao-mayor-quality-award", "青岛市市长质量奖")
    )
    cycle_id = f"{programme_id}-2026-{uuid.uuid4().hex[:6]}"
    return TitleGrant(
        cycle_id=cycle_id,
        programme_id=programme_id,
        programme_name_zh=name_zh,
        brand=brand,
        year=2026,
        granted_at=now,
        validity_years=3,
        self_inspection=True,
        clock=RehearsalClock(origin_real=now, origin_cycle=now, day_seconds=86400),
        holders=[holder(cycle_id, n, award="nomination" if n == 2 else "winner") for n in range(1, holders + 1)],
    )


async def start_titles(env: WorkflowEnvironment, engine: Engine, task_queue: str, grant: TitleGrant) -> TitlesStarted:
    """The activity alone, as the worker on the test's queue would run it for the cycle."""
    activity_env = ActivityEnvironment(env.client)
    activity_env.info = dataclasses.replace(activity_env.info, activity_type="start_titles", task_queue=task_queue)
    return await activity_env.run(StartActivities(env.client).start_titles, grant)


def handle(env: WorkflowEnvironment, title_id: str) -> WorkflowHandle[object, TitleResult]:
    return env.client.get_workflow_handle(title_id, result_type=TitleResult)


async def status(env: WorkflowEnvironment, title_id: str) -> TitleStatus:
    return await env.client.get_workflow_handle(title_id).query("status", result_type=TitleStatus)


def test_title_ids_and_dates() -> None:
    assert ids.title_id("qingdao-mayor-quality-award-2026.app-0003") == "qingdao-mayor-quality-award-2026.title-0003"
    with pytest.raises(ValueError):
        ids.title_id("qingdao-mayor-quality-award-2026.notice")
    assert workflow_kind("qingdao-mayor-quality-award-2026.title-0003") == "title"
    assert holder_key("organisation", "91370200MA3C5X8Y1K", "海尔") == "91370200MA3C5X8Y1K"
    assert holder_key("individual", None, " 张三 ") == "individual:张三"
    granted = datetime(2026, 12, 18, 10, tzinfo=SHANGHAI)
    assert add_years(granted, 3) == datetime(2029, 12, 18, 10, tzinfo=SHANGHAI)
    assert anniversaries(granted, add_years(granted, 3)) == [add_years(granted, 1), add_years(granted, 2)]
    leap_day = datetime(2028, 2, 29, 10, tzinfo=SHANGHAI)
    assert (add_years(leap_day, 3).month, add_years(leap_day, 3).day, add_years(leap_day, 4).day) == (2, 28, 29)


async def test_title_runs_three_years_and_expires(
    env: WorkflowEnvironment, task_queue: str, engine: Engine, inbox: Inbox
) -> None:
    title_grant = await grant(env, holders=2)
    title_ids = [ids.title_id(h.application_id) for h in title_grant.holders]

    first = await start_titles(env, engine, task_queue, title_grant)
    again = await start_titles(env, engine, task_queue, title_grant)  # an activity retry
    assert (first.started, first.existing) == (title_ids, [])
    assert (again.started, again.existing) == ([], title_ids)

    # The titles were started by the activity, so their handles do not skip time themselves: sleep past expiry.
    await env.sleep(timedelta(days=3 * 366))
    winner, nominee = [await handle(env, t).result() for t in title_ids]
    expires_at = add_years(title_grant.granted_at, 3)
    assert (winner.state, winner.ended_at) == (TitleState.EXPIRED, expires_at)
    assert nominee.state is TitleState.EXPIRED

    sent = {message_id(m): m for m in inbox.messages}
    for title_id in title_ids:
        ours = sorted(i for i in sent if i.startswith(f"{title_id}/"))
        assert ours == [f"{title_id}/self-inspection-1", f"{title_id}/self-inspection-2"]
        assert (await status(env, title_id)).self_inspections_requested == 2
    first_year = sent[f"{title_ids[0]}/self-inspection-1"]
    assert first_year["To"] == title_grant.holders[0].contact_email
    assert "第1年度自查" in str(first_year["Subject"]) and "（获奖）" in str(first_year["Subject"])
    assert "质量承诺履行" in text_body(first_year) and "回复本邮件" in text_body(first_year)
    assert "（提名奖）" in str(sent[f"{title_ids[1]}/self-inspection-2"]["Subject"])

    with session(engine) as db:
        rows = titles.titles_of(db, holder_key=title_grant.holders[0].key)
        listed = titles.list_titles(db, programme_id=title_grant.programme_id, year=2026)
    assert [(r.title_id, r.state, r.kind) for r in rows] == [(title_ids[0], "expired", "winner")]
    assert rows[0].expires_at == expires_at and rows[0].revoked_at is None
    assert set(title_ids) <= {r.title_id for r in listed}

    histories = await fetch(env.client, title_ids)
    results = await replay(histories)
    assert not results.replay_failures, results.replay_failures
    # 44 events: start, the row written twice, two yearly timers, two emails, the expiry timer.
    assert len(histories[0].events) < 60


async def test_spot_check_complaint_and_revocation(env: WorkflowEnvironment, task_queue: str, engine: Engine) -> None:
    title_grant = await grant(env, brand=True)
    [title_id] = (await start_titles(env, engine, task_queue, title_grant)).started
    await env.sleep(timedelta(days=30))

    checked = await service.perform(
        env.client,
        title_id,
        "record_spot_check",
        SpotCheck(actor=SECRETARIAT, finding="抽查产品3批次，均符合标准", passed=True),
    )
    complained = await service.perform(
        env.client,
        title_id,
        "record_complaint",
        Complaint(
            actor=COORDINATOR,
            subject=ComplaintSubject.LOGO_MISUSE,
            detail="在未获称号的产品包装上使用好品山东标识",
            complainant="消费者赵某",
        ),
    )
    assert (checked.model_dump()["revision"], complained.model_dump()["revision"]) == (1, 2)
    applicant = Actor(role=Role.APPLICANT, identity="quality01@applicant.example.cn", channel=Channel.API)
    with pytest.raises(service.Refused, match="角色不符"):
        await service.perform(
            env.client, title_id, "record_spot_check", SpotCheck(actor=applicant, finding="自查合格", passed=True)
        )

    before = await status(env, title_id)
    assert before.kind is TitleKind.BRAND and before.state is TitleState.ACTIVE
    assert [(c.actor.role, c.passed) for c in before.spot_checks] == [(Role.SECRETARIAT, True)]
    assert [c.subject for c in before.complaints] == [ComplaintSubject.LOGO_MISUSE]

    title = handle(env, title_id)
    for refused, reason in (
        (Revocation(actor=COORDINATOR, public_reason="   "), "公开理由"),
        (Revocation(actor=SECRETARIAT, public_reason="违规使用标识"), "角色不符"),
    ):
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await title.execute_update("revoke_title", refused)
        assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.type == "Rejected"
        assert reason in failed.value.cause.message
    assert await status(env, title_id) == before  # nothing changed

    reason = "经查实，该企业在未获称号产品上使用好品山东标识，情节严重"
    await title.execute_update("revoke_title", Revocation(actor=COORDINATOR, public_reason=reason))
    result = await title.result()
    assert result.state is TitleState.REVOKED
    after = await status(env, title_id)
    assert (after.state, after.public_reason, after.revoked_at) == (TitleState.REVOKED, reason, result.ended_at)
    with session(engine) as db:
        row = titles.get_title(db, title_id=title_id)
    assert row is not None
    assert (row.state, row.public_reason, row.revoked_at, row.kind) == ("revoked", reason, result.ended_at, "brand")

    # The title is closed: a second revocation never reaches a validator. The server answers NOT_FOUND (the
    # time-skipping server says "update <id> not found", a full server "workflow execution already completed");
    # the CLI and the API turn that into a refusal of a closed task, which the API answers 409.
    again = Revocation(actor=COORDINATOR, public_reason=reason)
    with pytest.raises(RPCError) as closed:
        await title.execute_update("revoke_title", again)
    assert closed.value.status is RPCStatusCode.NOT_FOUND
    with pytest.raises(service.Refused, match="任务已结束") as conflict:
        await service.perform(env.client, title_id, "revoke_title", again)
    assert conflict.value.kind is service.RefusalKind.CLOSED

    histories = await fetch(env.client, [title_id])
    results = await replay(histories)
    assert not results.replay_failures, results.replay_failures
