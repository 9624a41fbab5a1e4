"""The coordinator's acts as console forms, against real cycles on the time-skipping server and the real store."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from functools import partial
from typing import TypeVar

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from activities.calendar import WorkingDayCalendar
from awardcycle import service
from awardcycle.service import Refused
from awardcycle.timeline import fetch_timeline
from notifications.render import zh_datetime
from programmes import get_programme
from schemas.calendar import CalendarSpec
from schemas.common import Actor, Channel, Role
from schemas.consultation import CandidateOpinion, ConsultationAnswer, Opinion
from schemas.programme import Duration, OverduePolicy, Programme, StageKind
from tests.console import console_session, page_until, section
from tests.scenario import StrongPlayer, apply_all, forms, small, start, terminate, until_stage
from web.cycle_page import DONE_ZH

QINGDAO = "qingdao-mayor-quality-award"
YEAR_PAGE = "/console?year=2026"
CALENDAR = WorkingDayCalendar(CalendarSpec())
T = TypeVar("T")


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found[1]


def form(page: str, key: str) -> str:
    """The form with this key (`form-{key}`), or an AssertionError naming it."""
    found = re.search(rf'<form class="act" id="form-{re.escape(key)}"(.*?)</form>', page, re.S)
    assert found, f"no form {key} on the page"
    return html.unescape(found[1])


def cell(page: str, name: str, cycle_id: str) -> str:
    """The dashboard's cell of a cycle's overdue departments or open public objections."""
    found = re.search(rf'id="{name}-{re.escape(cycle_id)}">(.*?)</td>', page, re.S)
    return found[1] if found else ""


def acts_url(cycle_id: str, act: str) -> str:
    return f"/console/cycles/{cycle_id}/acts/{act}"


async def eventually(read: Callable[[], Awaitable[T]], shown: Callable[[T], bool]) -> T:
    """What `read` returns once it shows what an act started (a child workflow, the next stage)."""
    for _ in range(200):
        try:
            value = await read()
        except Refused:  # not started yet
            await asyncio.sleep(0.05)
            continue
        if shown(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("never shown")


async def test_a_coordinator_extends_the_deadline_through_the_form(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str
) -> None:
    cycle_id = await start(env.client, get_programme(QINGDAO), task_queue, f"acts-{uuid.uuid4().hex[:6]}")
    url = f"/console/cycles/{cycle_id}"
    before = (await service.cycle_status(env.client, cycle_id)).stage_deadline
    assert before is not None
    reason = "区市推荐材料尚未报齐，顺延五个工作日"
    async with console_session(api, "qd-coord") as coordinator:
        page = await page_until(coordinator, url, lambda text: 'id="form-extend_deadline"' in text)
        assert 'id="form-record_approval"' not in page, "no approval form before the approval stage"
        csrf = csrf_of(page)
        extend = acts_url(cycle_id, "extend_deadline")

        done = await coordinator.post(extend, data={"csrf": csrf, "working_days": "5", "reason": reason})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"{url}?done=extend_deadline#schedule"
        status = await service.cycle_status(env.client, cycle_id)
        assert status.stage_deadline == CALENDAR.add(before, Duration(days=5))
        assert status.stages[-1].extensions == [f"qd-coord: +5 工作日, {reason}"]
        timeline = await fetch_timeline(env.client, cycle_id)
        actors = [e.actor for e in timeline.entries if e.actor and e.actor.role is Role.COORDINATOR]
        assert actors and all((a.identity, a.channel) == ("qd-coord", Channel.CONSOLE) for a in actors)
        shown = await coordinator.get(done.headers["location"])
        assert DONE_ZH["extend_deadline"] in shown.text
        stages = section(shown.text, "schedule")
        assert zh_datetime(status.stage_deadline) in stages and reason in stages
        assert zh_datetime(before) not in stages

        # Bad values come back on the form, with the reason and what was entered; nothing changes.
        for fields, why in [
            ({"working_days": "0", "reason": reason}, "延长的工作日数须为 1–120 之间的整数"),
            ({"working_days": "５", "reason": reason}, "延长的工作日数须为 1–120 之间的整数"),
            ({"working_days": "3", "reason": ""}, "请填写延期理由"),
            ({"working_days": "3", "reason": "理" * 2001}, "延期理由不得超过 2000 字"),
        ]:
            refused = await coordinator.post(extend, data={"csrf": csrf, **fields})
            assert refused.status_code == 422, fields
            kept = form(refused.text, "extend_deadline")
            assert why in kept and 'role="alert"' in kept, fields
            assert f'value="{fields["working_days"]}"' in kept and f">{fields['reason']}</textarea>" in kept
        twice = await coordinator.post(extend, data={"csrf": csrf, "working_days": ["1", "2"], "reason": reason})
        assert twice.status_code == 422 and "重复提交" in form(twice.text, "extend_deadline")
        for sent in ({}, {"csrf": "0" * 64}):
            forged = await coordinator.post(extend, data={**sent, "working_days": "9", "reason": "跨站提交"})
            assert forged.status_code == 403 and "安全校验未通过" in forged.json()["detail"]
        assert (await service.cycle_status(env.client, cycle_id)).stage_deadline == status.stage_deadline

    async with console_session(api, "qd-secretariat") as secretariat:
        page = await page_until(secretariat, url, lambda _: True)
        assert 'class="act"' not in page and "/acts/" not in page, "a reader without the grant sees no forms"
        denied = await secretariat.post(extend, data={"csrf": csrf_of(page), "working_days": "2", "reason": "试图"})
        assert denied.status_code == 403 and "coordinator@qingdao-mayor-quality-award" in denied.text
        assert "退出登录" in denied.text and '<form class="act"' not in denied.text
    async with console_session(api, "jn-coord") as stranger:
        page = (await stranger.get("/console")).text
        denied = await stranger.post(extend, data={"csrf": csrf_of(page), "working_days": "2", "reason": "越权"})
        assert denied.status_code == 403 and "无权访问该项目" in denied.text
    away = await anonymous.post(extend, data={})
    assert (away.status_code, away.headers["location"]) == (303, f"/login?next={extend}")
    assert (await service.cycle_status(env.client, cycle_id)).stage_deadline == status.stage_deadline
    await terminate(env.client, cycle_id)


async def test_the_dashboard_starts_a_cycle(api: httpx.AsyncClient, env: WorkflowEnvironment) -> None:
    cycle_id = f"{QINGDAO}-2026-start-{uuid.uuid4().hex[:6]}"
    fields = {"programme": QINGDAO, "year": "2026", "day_seconds": "86400", "cycle_id": cycle_id}
    async with console_session(api, "qd-coord") as coordinator:
        page = (await coordinator.get("/console")).text
        offered = form(page, "start_cycle")
        assert f'<option value="{QINGDAO}"' in offered and "jinan-mayor-quality-award" not in offered
        csrf = csrf_of(page)
        started = await coordinator.post("/console/cycles", data={"csrf": csrf, **fields})
        assert started.status_code == 303, started.text
        assert started.headers["location"] == f"/console/cycles/{cycle_id}?done=start_cycle"
        status = await service.cycle_status(env.client, cycle_id)
        assert (status.programme_id, status.year, status.day_seconds) == (QINGDAO, 2026, 86400)
        assert status.stage is StageKind.APPLICATION
        assert DONE_ZH["start_cycle"] in (await coordinator.get(started.headers["location"])).text

        for changed, code, why in [
            ({}, 409, "周期已存在"),
            ({"year": "1999"}, 422, "年度须为 2000–2100 之间的整数"),
            ({"day_seconds": "0.01"}, 422, "须为 0.1–86400 之间的数"),
            ({"cycle_id": "其他.编号"}, 422, "周期编号只能由字母、数字、连字符和下划线组成"),
            ({"cycle_id": "jinan-mayor-quality-award-2026-x"}, 422, "周期编号须以项目编号开头"),
            ({"programme": "jinan-mayor-quality-award"}, 403, "coordinator@jinan-mayor-quality-award"),
        ]:
            sent = {**fields, **changed}
            refused = await coordinator.post("/console/cycles", data={"csrf": csrf, **sent})
            assert refused.status_code == code, changed
            kept = form(refused.text, "start_cycle")
            assert why in kept, (changed, kept)
            assert f'value="{sent["year"]}"' in kept and f'value="{sent["cycle_id"]}"' in kept
    async with console_session(api, "qd-secretariat") as secretariat:
        page = (await secretariat.get("/console")).text
        assert 'id="form-start_cycle"' not in page
        fields["cycle_id"] = f"{cycle_id}-b"
        denied = await secretariat.post("/console/cycles", data={"csrf": csrf_of(page), **fields})
        assert denied.status_code == 403 and "coordinator@qingdao-mayor-quality-award" in denied.text
    await terminate(env.client, cycle_id)


def escalating(programme: Programme) -> Programme:
    """The programme with departments that miss the deadline left to the coordinator."""
    rules = programme.consultation.model_copy(update={"overdue_policy": OverduePolicy.ESCALATE})
    return programme.model_copy(update={"consultation": rules})


async def test_consultation_notice_and_approval_through_the_forms(
    api: httpx.AsyncClient, env: WorkflowEnvironment, engine: Engine, task_queue: str
) -> None:
    programme = escalating(small(get_programme(QINGDAO)))
    cycle_id = await start(env.client, programme, task_queue, f"acts-{uuid.uuid4().hex[:6]}")
    await apply_all(env.client, cycle_id, forms(programme))
    player = StrongPlayer(programme=programme)  # plays no department: the test and the forms do
    reached = await until_stage(env, engine, cycle_id, player, StageKind.CONSULTATION, opened="consultations")
    shortlist = [c.application_id for c in reached.shortlist]
    paper, silent, *others = reached.consultations
    for workflow_id in others:
        department = workflow_id.rpartition(".consultation-")[2]
        answer = ConsultationAnswer(
            actor=Actor(role=Role.DEPARTMENT, identity=department, channel=Channel.LINK),
            answers=[CandidateOpinion(application_id=a, opinion=Opinion.NO_OBJECTION) for a in shortlist],
        )
        await eventually(partial(service.consultation_status, env.client, workflow_id), lambda _: True)
        await service.perform(env.client, workflow_id, "answer", answer)
    url = f"/console/cycles/{cycle_id}"
    objected, *rest = shortlist
    objection = "该企业近三年存在严重失信记录"

    async with console_session(api, "qd-coord") as coordinator:
        page = await page_until(coordinator, url, lambda text: 'id="form-answer"' in text)
        csrf = csrf_of(page)
        assert 'id="form-resend_link"' in page and 'id="form-extend_deadline"' in page

        # A paper answer that leaves a candidate out is refused by the consultation; the form keeps it.
        opinions = {f"opinion:{objected}": "objection", f"reason:{objected}": objection}
        opinions |= {f"opinion:{a}": "no_objection" for a in rest}
        short = {
            "csrf": csrf,
            "consultation": paper,
            f"opinion:{objected}": "objection",
            f"reason:{objected}": objection,
        }
        refused = await coordinator.post(acts_url(cycle_id, "answer"), data=short)
        assert refused.status_code == 409
        kept = form(refused.text, "answer")
        assert "须对每位候选对象各答复一次" in kept and f'value="{objection}"' in kept
        assert f'<option value="{paper}" selected>' in kept and '<option value="objection" selected>' in kept
        answered = await coordinator.post(
            acts_url(cycle_id, "answer"), data={"csrf": csrf, "consultation": paper, **opinions}
        )
        assert answered.headers["location"] == f"{url}?done=answer#consultation", answered.text
        recorded = await service.consultation_status(env.client, paper)
        assert recorded.answered_by == Actor(role=Role.COORDINATOR, identity="qd-coord", channel=Channel.PAPER)

        moved = {"csrf": csrf, "consultation": silent, "email": "office@gaj.example.cn", "reason": "原邮箱退信"}
        assert (await coordinator.post(acts_url(cycle_id, "resend_link"), data=moved)).status_code == 303
        assert (await service.consultation_status(env.client, silent)).recipient_email == "office@gaj.example.cn"

        # The deadline passes: the silent department waits for the coordinator, the objection for a decision.
        status = await service.cycle_status(env.client, cycle_id)
        assert status.stage_deadline is not None
        await env.sleep(status.stage_deadline - status.cycle_time + timedelta(days=1))
        overdue_key, decision_key = f"resolve_overdue:{silent}", f"decide_objection:{paper}:{objected}"
        page = await page_until(coordinator, url, lambda text: f'id="form-{overdue_key}"' in text)
        assert f'id="form-{decision_key}"' in page and objection in form(page, decision_key)
        grid = section(page, "consultation")
        assert all(f'href="/audit/{w}"' in grid for w in reached.consultations), "each department's timeline"
        assert all(f'href="/audit/{a}"' in section(page, "applications") for a in shortlist)
        board = await page_until(
            coordinator, YEAR_PAGE, lambda text: "1 个部门" in cell(text, "overdue", cycle_id), answered=False
        )
        assert f'href="/console/cycles/{cycle_id}#consultation"' in cell(board, "overdue", cycle_id)
        assert "—" in cell(board, "objections", cycle_id), "no notice yet, so no objection to count"
        assert 'id="form-answer"' not in page, "the consultation takes no more answers"
        resolve = acts_url(cycle_id, "resolve_overdue")
        extend = {"csrf": csrf, "consultation": silent, "action": "extend", "working_days": "", "reason": "再给三天"}
        refused = await coordinator.post(resolve, data=extend)
        assert refused.status_code == 409
        kept = form(refused.text, overdue_key)
        assert "延期须至少一个工作日" in kept and 'value="extend" checked' in kept and 'value="再给三天"' in kept
        deem = {**extend, "action": "deem_no_objection", "reason": "逾期未反馈，视为无异议"}
        assert (await coordinator.post(resolve, data=deem)).status_code == 303
        decide = {
            "csrf": csrf,
            "consultation": paper,
            "application_id": objected,
            "decision": "drop",
            "reason": "失信属实",
        }
        decided = await coordinator.post(acts_url(cycle_id, "decide_objection"), data=decide)
        assert decided.headers["location"] == f"{url}?done=decide_objection#consultation"
        [record] = (await service.consultation_status(env.client, paper)).objections
        assert (record.decided, record.keep, record.decision_reason) == (True, False, "失信属实")
        await env.client.get_workflow_handle(paper).result()  # its last objection decided, it concludes
        again = await coordinator.post(acts_url(cycle_id, "decide_objection"), data=decide)
        assert again.status_code == 409 and "任务已结束" in form(again.text, decision_key)

        # The public notice: an objection received on paper, then its resolution.
        status = await eventually(
            lambda: service.cycle_status(env.client, cycle_id), lambda s: s.stage is StageKind.PUBLIC_NOTICE
        )
        assert objected not in [c.application_id for c in status.shortlist], "dropped on the department's objection"
        page = await page_until(coordinator, url, lambda text: 'id="form-lodge_objection"' in text)
        lodge = {
            "csrf": csrf,
            "application_id": rest[0],
            "contact": "13900000000",
            "reason": "李四来信：曾被抽检不合格",
        }
        assert (await coordinator.post(acts_url(cycle_id, "lodge_objection"), data=lodge)).status_code == 303
        notice_id = f"{cycle_id}.notice"
        [lodged] = (await service.notice_status(env.client, notice_id)).objections
        assert (lodged.objector, lodged.application_id) == ("qd-coord", rest[0])
        key = f"resolve_objection:{lodged.objection_id}"
        page = await page_until(coordinator, url, lambda text: f'id="form-{key}"' in text)
        assert f'href="/audit/{notice_id}"' in section(page, "notice")
        board = await page_until(
            coordinator, YEAR_PAGE, lambda text: "1 条" in cell(text, "objections", cycle_id), answered=False
        )
        assert f'href="/console/cycles/{cycle_id}#notice"' in cell(board, "objections", cycle_id)
        assert "—" in cell(board, "overdue", cycle_id), "the consultation is over"
        resolution = {"csrf": csrf, "objection_id": lodged.objection_id, "decision": "rejected", "reason": "复检合格"}
        resolved = await coordinator.post(acts_url(cycle_id, "resolve_objection"), data=resolution)
        assert resolved.headers["location"] == f"{url}?done=resolve_objection#notice"
        [lodged] = (await service.notice_status(env.client, notice_id)).objections
        assert (lodged.resolved, lodged.upheld, lodged.resolution_reason) == (True, False, "复检合格")
        page = (await coordinator.get(resolved.headers["location"])).text
        assert DONE_ZH["resolve_objection"] in page and f'id="form-{key}"' not in page
        none_open = await page_until(
            coordinator, YEAR_PAGE, lambda text: '#notice">0</a>' in cell(text, "objections", cycle_id), answered=False
        )
        assert "0 条" not in cell(none_open, "objections", cycle_id), "resolved: none open, and no alarm"

        # Approval: the open stage has no deadline to extend, and the cycle's validator says so on the form.
        notice = await service.notice_status(env.client, notice_id)
        status = await service.cycle_status(env.client, cycle_id)
        await env.sleep(notice.ends_at - status.cycle_time + timedelta(days=1))
        page = await page_until(coordinator, url, lambda text: 'id="form-record_approval"' in text)
        assert 'id="form-extend_deadline"' not in page
        late = {"csrf": csrf, "working_days": "3", "reason": "等待市政府常务会议"}
        refused = await coordinator.post(acts_url(cycle_id, "extend_deadline"), data=late)
        assert refused.status_code == 409
        kept = form(refused.text, "extend_deadline")
        assert "当前环节不能延期" in kept and 'value="3"' in kept and ">等待市政府常务会议</textarea>" in kept
        approve = acts_url(cycle_id, "record_approval")
        approval = {"csrf": csrf, "document_number": "青政字〔2026〕12号", "approved_on": "2026-13-01"}
        refused = await coordinator.post(approve, data=approval)
        assert refused.status_code == 422
        kept = form(refused.text, "record_approval")
        assert "批准日期须为有效日期" in kept and 'value="青政字〔2026〕12号"' in kept and 'value="2026-13-01"' in kept
        assert "青岛市人民政府" in kept, "the form names the approving authority"
        approved = await coordinator.post(approve, data={**approval, "approved_on": "2026-09-30"})
        assert approved.headers["location"] == f"{url}?done=record_approval#schedule", approved.text
        status = await eventually(lambda: service.cycle_status(env.client, cycle_id), lambda s: s.completed)
        assert status.approval is not None
        assert (status.approval.document_number, status.approval.approved_on) == (
            "青政字〔2026〕12号",
            date(2026, 9, 30),
        )
        assert status.approval.actor == Actor(role=Role.COORDINATOR, identity="qd-coord", channel=Channel.CONSOLE)
        page = await page_until(coordinator, url, lambda text: "已完成" in text)
        assert 'class="act"' not in page, "a completed cycle offers no acts"
