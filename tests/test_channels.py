"""Experts score through their links, the public objects on the notice page, coordinators re-send links."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from activities.notify import token_sha256
from awardcycle import service
from awardcycle.service import Refused
from config.settings import Settings
from programmes import get_programme
from schemas import ids
from schemas.application import ActReceipt, ExpertLinkResend
from schemas.common import Actor, Channel, Role
from schemas.consultation import DeadlineExtension, LinkResend
from schemas.programme import StageKind
from store import queries
from store.db import session
from tests.conftest import Inbox, login
from tests.scenario import (
    StrongPlayer,
    apply_all,
    forms,
    in_expert_review,
    link_token,
    mail,
    overview_showing,
    small,
    start,
    text_body,
    until_stage,
)
from tests.test_links import CSRF, assert_private
from web.main import create_app

QINGDAO = "qingdao-mayor-quality-award"
COORDINATOR = Actor(role=Role.COORDINATOR, identity="coordinator", channel=Channel.CLI)


@pytest.fixture
async def strict_api(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The web app with tight per-address limits, so a test can reach them; logged in for the audit."""
    tight = settings.model_copy(update={"wrong_link_limit": "3/minute", "objection_limit": "3/hour"})
    app = create_app(tight, env.client, engine, task_queue=task_queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        client.headers.update(await login(client, "staff"))
        yield client


def _expiry(engine: Engine, token: str) -> datetime:
    with session(engine) as s:
        link = queries.find_task_link(s, token_sha256=token_sha256(token))
        assert link is not None
        return link.expires_at


async def _cycle(env: WorkflowEnvironment, task_queue: str, tag: str) -> tuple[str, StrongPlayer]:
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"{tag}-{uuid.uuid4().hex[:6]}")
    await apply_all(env.client, cycle_id, forms(programme))
    return cycle_id, StrongPlayer(programme=programme, departments=True)


async def test_expert_scores_through_the_link(
    api: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str, inbox: Inbox, engine: Engine
) -> None:
    cycle_id, player = await _cycle(env, task_queue, "expert")
    await until_stage(env, engine, cycle_id, player, StageKind.EXPERT_REVIEW)
    # The read model trails the stage change by a moment.
    reviewing = await overview_showing(env.client, engine, cycle_id, in_expert_review, limit=100)
    application_id = next(a.application_id for a in reviewing.applications if a.state == "expert_review")
    application = await service.application_status(env.client, application_id)
    expert_id = application.experts[0]
    message = await mail(inbox, f"{application_id}/expert-{expert_id}")
    expert = next(e for e in player.programme.expert_review.pool if e.id == expert_id)
    assert message["To"] == expert.email and "专家评审" in str(message["Subject"])
    path = f"/t/{await link_token(inbox, f'{application_id}/expert-{expert_id}')}"
    indicators = player.programme.rubric.indicators

    shown = await api.get(path)
    assert shown.status_code == 200, shown.text
    assert_private(shown)
    assert application.name in shown.text and all(i.name_zh in shown.text for i in indicators)
    match = CSRF.search(shown.text)
    assert match is not None
    scores = {f"score-{i.id}": str(i.points * 0.8) for i in indicators}
    base = {"csrf": match.group(1), "expected_revision": "0", "comment": "<i>管理规范</i>"}

    blank = await api.post(path, data={**base, **scores, f"score-{indicators[0].id}": ""})
    assert blank.status_code == 422 and "请为每项指标填写数字得分" in blank.text
    over = await api.post(path, data={**base, **scores, f"score-{indicators[0].id}": "999"})
    assert over.status_code == 409 and "超出范围" in over.text and 'value="999"' in over.text
    assert (await service.application_status(env.client, application_id)).scores == {}, "nothing recorded"

    done = await api.post(path, data={**base, **scores})
    assert done.status_code == 200, done.text
    total = round(sum(i.points * 0.8 for i in indicators), 2)
    assert "第 1 版" in done.text and f"总分 {total:g}" in done.text
    assert (await service.application_status(env.client, application_id)).scores == {expert_id: total}

    twin = (await api.get(f"/api/v1/tasks/{path.removeprefix('/t/')}")).json()
    assert (twin["revision"], twin["comment"], twin["open"]) == (1, "<i>管理规范</i>", True)
    wrong_kind = await api.post(f"/api/v1/tasks/{path.removeprefix('/t/')}", json={"answers": []})
    assert wrong_kind.status_code == 422
    again = await api.get(path)
    assert "&lt;i&gt;管理规范&lt;/i&gt;" in again.text and "<i>管理规范" not in again.text

    # The secretariat moves the expert's link to another address: the old link stops working.
    moved = ExpertLinkResend(actor=COORDINATOR, expert_id=expert_id, email="expert-new@example.cn", reason="邮箱变更")
    resent = await service.perform(env.client, application_id, "resend_expert_link", moved)
    receipt = ActReceipt.model_validate(resent, from_attributes=True)
    message_id = f"{application_id}/expert-{expert_id}-link-{receipt.revision}"
    assert (await mail(inbox, message_id))["To"] == "expert-new@example.cn"
    assert (await api.get(path)).status_code == 410
    fresh = await api.get(f"/t/{await link_token(inbox, message_id)}")
    assert fresh.status_code == 200 and "第 1 版" in fresh.text, "the score stays; only the link moved"
    stranger = moved.model_copy(update={"expert_id": "nobody"})
    with pytest.raises(Refused, match="expert not assigned"):
        await service.perform(env.client, application_id, "resend_expert_link", stranger)


async def test_public_objects_on_the_notice_page(
    strict_api: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str, inbox: Inbox, engine: Engine
) -> None:
    cycle_id, player = await _cycle(env, task_queue, "notice")
    assert (await strict_api.get(f"/notices/{cycle_id}")).status_code == 404, "no notice before its stage"
    status = await until_stage(env, engine, cycle_id, player, StageKind.PUBLIC_NOTICE, opened="notice")
    page = await strict_api.get(f"/notices/{cycle_id}")
    assert page.status_code == 200, page.text
    assert_private(page)
    assert "拟授奖名单的公示" in page.text and player.programme.publisher_zh in page.text
    assert "公示期" in page.text and "个工作日" in page.text and "@media print" in page.text
    forms_by_name = {f.name: f for f in forms(player.programme).values()}
    for candidate in status.shortlist:
        assert candidate.name in page.text
        assert forms_by_name[candidate.name].contact_email not in page.text, "no private contact data"
    match = CSRF.search(page.text)
    assert match is not None
    target = status.shortlist[0]
    objection = {
        "csrf": match.group(1),
        "name": "李四",
        "contact": "lisi@example.cn",
        "application_id": target.application_id,
        "reason": "该企业产品曾被抽检不合格",
    }
    action = f"/notices/{cycle_id}/objections"

    forged = await httpx.AsyncClient(transport=strict_api._transport, base_url="http://test").post(
        action, data=objection
    )
    assert forged.status_code == 403, "no cookie, no objection"
    no_reason = await strict_api.post(action, data={**objection, "reason": " "})
    assert no_reason.status_code == 422 and "请说明异议理由" in no_reason.text and "李四" in no_reason.text
    too_long = await strict_api.post(action, data={**objection, "reason": "长" * 2001})
    assert too_long.status_code == 422 and "不得超过2000字" in too_long.text
    lodged = await strict_api.post(action, data=objection)
    assert lodged.status_code == 200, lodged.text
    number = re.search(r"GS2026-\d{4}", lodged.text)
    assert number is not None and target.name in lodged.text
    notice = await service.notice_status(env.client, ids.notice_id(cycle_id))
    assert [(o.objection_id, o.objector, o.application_id) for o in notice.objections] == [
        (number.group(0), "李四", target.application_id)
    ]
    receipt = await mail(inbox, f"{ids.notice_id(cycle_id)}/objection-{number.group(0)}")
    assert receipt["To"] == "lisi@example.cn" and number.group(0) in text_body(receipt)
    timeline = (await strict_api.get(f"/api/v1/audit/{ids.notice_id(cycle_id)}")).json()
    assert '"client_address": "127.0.0.1"' in str(timeline).replace("'", '"')

    limited = await strict_api.post(action, data=objection)
    assert limited.status_code == 429 and "提交过于频繁" in limited.text, "three tries an hour per address"

    while (await service.notice_status(env.client, ids.notice_id(cycle_id))).open:
        await env.sleep(timedelta(days=1))
    closed = await strict_api.get(f"/notices/{cycle_id}")
    assert "公示期已结束" in closed.text and "<form" not in closed.text


async def test_coordinator_moves_a_link_and_the_department_gets_a_receipt(
    api: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str, inbox: Inbox, engine: Engine
) -> None:
    cycle_id, player = await _cycle(env, task_queue, "resend")
    status = await until_stage(
        env, engine, cycle_id, StrongPlayer(programme=player.programme), StageKind.CONSULTATION, opened="consultations"
    )
    department = player.programme.departments[0]
    consultation_id = ids.consultation_id(cycle_id, department.id)
    old = await link_token(inbox, f"{consultation_id}/request")

    with pytest.raises(Refused, match="wrong actor"):
        department_actor = Actor(role=Role.DEPARTMENT, identity=department.id, channel=Channel.LINK)
        await service.perform(
            env.client, consultation_id, "resend_link", LinkResend(actor=department_actor, reason="x")
        )
    moved = LinkResend(actor=COORDINATOR, email="new-office@example.cn", reason="联系人变更")
    await service.perform(env.client, consultation_id, "resend_link", moved)
    new = await link_token(inbox, f"{consultation_id}/link-2")
    assert (await mail(inbox, f"{consultation_id}/link-2"))["To"] == "new-office@example.cn"
    assert (await api.get(f"/t/{old}")).status_code == 410, "the old link stops working"
    shown = await api.get(f"/t/{new}")
    assert shown.status_code == 200
    current = await service.consultation_status(env.client, consultation_id)
    assert current.recipient_email == "new-office@example.cn"

    before = _expiry(engine, new)
    extension = DeadlineExtension(actor=COORDINATOR, working_days=10, reason="部门集中反馈")
    await service.perform(env.client, cycle_id, "extend_deadline", extension)
    for _ in range(100):  # the consultation moves its link in the background
        if _expiry(engine, new) > before:
            break
        await asyncio.sleep(0.05)
    assert _expiry(engine, new) >= before + timedelta(days=10), "the link follows the extended deadline"

    match = CSRF.search(shown.text)
    assert match is not None
    answer = {f"opinion-{c.application_id}": "no_objection" for c in status.shortlist}
    done = await api.post(f"/t/{new}", data={**answer, "csrf": match.group(1)})
    assert done.status_code == 200, done.text
    receipt = await mail(inbox, f"{consultation_id}/receipt-1")
    assert receipt["To"] == "new-office@example.cn"
    body = text_body(receipt)
    assert "第1版" in body and "邮件链接" in body and all(c.name in body for c in status.shortlist)


async def test_wrong_links_are_rate_limited_per_address(
    strict_api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    for _ in range(3):
        assert (await strict_api.get(f"/t/{secrets.token_urlsafe(32)}")).status_code == 404
    blocked = await strict_api.get(f"/t/{secrets.token_urlsafe(32)}")
    assert blocked.status_code == 429 and "过于频繁" in blocked.text
    assert_private(blocked)
    assert (await strict_api.get(f"/api/v1/tasks/{secrets.token_urlsafe(32)}")).status_code == 429
