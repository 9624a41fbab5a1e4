"""The audit timeline decoded from recorded histories; the web routes for it, 404 against a real server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from awardcycle.settings import Settings
from awardcycle.timeline import Timeline, TimelineEntry, actor_label, build_timeline, render_text
from schemas.common import Actor, Channel, Role
from store import queries
from store.db import session
from tests.conftest import login
from tests.replay import load
from web.main import create_app
from web.routes.audit import render_html

CYCLE = "qingdao-mayor-quality-award-2026-56cd34"


@pytest.fixture(scope="module")
def histories() -> dict[str, WorkflowHistory]:
    return {h.workflow_id: h for h in load()}


def timeline(histories: dict[str, WorkflowHistory], suffix: str = "") -> Timeline:
    return build_timeline(histories[CYCLE + suffix])


def entries(t: Timeline, kind: str, starts: str = "") -> list[TimelineEntry]:
    return [e for e in t.entries if e.kind == kind and e.summary.startswith(starts)]


def test_every_history_decodes_to_plain_json(histories: dict[str, WorkflowHistory]) -> None:
    for history in histories.values():
        t = build_timeline(history)
        assert t.status == "completed"
        assert t.entries[0].kind == "started" and t.entries[-1].kind == "completed"
        assert all(e.at.tzinfo is UTC for e in t.entries)
        assert [e.at for e in t.entries] == sorted(e.at for e in t.entries)
        json.loads(t.model_dump_json())  # round-trips: content is plain JSON, not models


def test_consultation_answer_objection_and_decision(histories: dict[str, WorkflowHistory]) -> None:
    t = timeline(histories, ".consultation-fgw")
    assert t.workflow_type == "ConsultationWorkflow"
    assert "青岛市发展和改革委员会" in t.entries[0].summary
    assert isinstance(t.entries[0].content, dict) and t.entries[0].content["candidates"] == 5  # a count, not the input
    (answer,) = entries(t, "update", "answer")
    assert answer.actor is not None
    assert (answer.actor.role, answer.actor.identity, answer.actor.channel) == (
        Role.DEPARTMENT,
        "fgw",
        Channel.SIMULATION,
    )
    assert isinstance(answer.content, dict) and "actor" not in answer.content
    objection = next(a for a in answer.content["answers"] if a["opinion"] == "objection")
    assert objection == {
        "application_id": f"{CYCLE}.app-0007",
        "opinion": "objection",
        "reason": "该企业近三年存在严重失信记录",
    }
    assert "1 objections" in answer.summary and "该企业近三年存在严重失信记录" in answer.summary
    (decision,) = entries(t, "update", "decide_objection")
    assert decision.actor is not None and decision.actor.role is Role.COORDINATOR
    assert decision.content == {
        "application_id": f"{CYCLE}.app-0007",
        "keep": False,
        "reason": "失信记录属实，取消候选资格",
    }
    assert [e.summary.split(":")[0] for e in entries(t, "update_completed")] == ["answer done", "decide_objection done"]
    assert len(entries(t, "mail")) == 1 and "consultation-fgw/request" in entries(t, "mail")[0].summary
    assert t.result is not None and t.result["dropped"] == [f"{CYCLE}.app-0007"]

    text = render_text(t)
    assert "department:fgw via simulation" in text
    assert "该企业近三年存在严重失信记录" in text
    assert "coordinator:coordinator via simulation  decide_objection: " in text
    assert "失信记录属实，取消候选资格" in text


def test_overdue_consultation_answered_by_policy(histories: dict[str, WorkflowHistory]) -> None:
    t = timeline(histories, ".consultation-fy")
    assert not entries(t, "update")  # the department never answered
    assert [e.summary.split(" (")[0] for e in entries(t, "mail")] == [
        f"邮件已发 mail sent: {CYCLE}.consultation-fy/request",
        f"邮件已发 mail sent: {CYCLE}.consultation-fy/reminder-1",
        f"邮件已发 mail sent: {CYCLE}.consultation-fy/reminder-2",
    ]
    assert len(entries(t, "timer_fired")) == 3
    done = t.entries[-1]
    assert done.actor is not None
    assert (done.actor.role, done.actor.identity, done.actor.channel) == (Role.SYSTEM, "overdue-policy", Channel.POLICY)
    assert t.result is not None and {a["opinion"] for a in t.result["answers"]} == {"no_objection"}
    assert "system:overdue-policy via policy" in render_text(t)


def test_cycle_stages_deadlines_approval_and_result(histories: dict[str, WorkflowHistory]) -> None:
    t = timeline(histories)
    assert t.workflow_type == "AwardCycleWorkflow"
    assert t.entries[0].summary == "周期开始 cycle started: qingdao-mayor-quality-award 2026"
    assert t.entries[0].content == {
        "programme_id": "qingdao-mayor-quality-award",
        "programme_name_zh": "青岛市市长质量奖",
        "year": 2026,
        "day_seconds": 86400.0,
    }
    stages = [e.content["stage"] for e in entries(t, "stage") if isinstance(e.content, dict)]
    assert stages[:3] == ["application", "qualification", "material"]
    assert stages[-3:] == ["public_notice", "approval", "announcement"]
    deadlines = [e.summary for e in entries(t, "deadline")]
    assert deadlines[:2] == [
        "截止时间 deadline set: 2026-03-28T00:00:00+08:00",
        "截止时间 deadline set: 2026-04-04T00:00:00+08:00",
    ]
    assert len(entries(t, "reminders")) == 1
    assert len(entries(t, "update", "submit_application")) == 10
    assert len(entries(t, "child_started")) == 10 + 17 + 1  # applications, consultations, the notice
    (approval,) = entries(t, "update", "record_approval")
    assert approval.actor is not None and approval.actor.role is Role.COORDINATOR
    assert approval.content == {"document_number": "政字〔2026〕82号", "approved_on": "2026-05-20"}
    assert t.result is not None and t.result["approval"]["document_number"] == "政字〔2026〕82号"
    assert [a["application_id"] for a in t.result["awards"]] == [
        f"{CYCLE}.app-0001",
        f"{CYCLE}.app-0002",
        f"{CYCLE}.app-0005",
    ]

    text = render_text(t)
    assert "截止时间 deadline set: 2026-05-10T00:00:00+08:00" in text
    assert "coordinator:coordinator via simulation  record_approval: document_number=政字〔2026〕82号" in text
    assert "进入阶段 stage: consultation" in text
    assert text.rstrip().splitlines()[-1].startswith("结果 result: {")


def test_application_supplement_and_resubmission(histories: dict[str, WorkflowHistory]) -> None:
    t = timeline(histories, ".app-0005")
    assert t.entries[0].summary == "申报 application: supplemented有限公司"
    materials = entries(t, "update", "decide_materials")
    assert [m.content["conforming"] for m in materials if isinstance(m.content, dict)] == [False, True]
    assert isinstance(materials[0].content, dict) and materials[0].content["missing"] == ["近三年审计报告"]
    (supplement,) = entries(t, "update", "submit_supplement")
    assert supplement.actor is not None
    assert (supplement.actor.role, supplement.actor.channel) == (Role.APPLICANT, Channel.API)
    assert isinstance(supplement.content, dict) and supplement.content["documents"][0]["name"] == "补充材料.pdf"
    assert materials[0].at <= supplement.at <= materials[1].at
    signals = [e.content["stage"] for e in entries(t, "signal", "open_stage") if isinstance(e.content, dict)]
    assert signals[:3] == ["qualification", "material", "expert_review"]
    assert entries(t, "signal", "conclude")
    assert t.result is not None and t.result["outcome"] == "nomination"

    text = render_text(t)
    assert "applicant:quality05@applicant.example.cn via api  submit_supplement: documents[1]" in text
    assert "近三年审计报告" in text
    # Times are shown in Asia/Shanghai: the first event was 23:41:57 UTC.
    assert text.splitlines()[2].startswith("2026-11-22 07:41:57  started")


def test_notice_objection_and_resolution(histories: dict[str, WorkflowHistory]) -> None:
    t = timeline(histories, ".notice")
    assert "2026-05-20T00:00:00+08:00" in t.entries[0].summary
    lodged, resolved = entries(t, "update")
    assert lodged.actor is not None and lodged.actor.role is Role.PUBLIC
    assert resolved.actor is not None and resolved.actor.role is Role.COORDINATOR
    assert entries(t, "update_completed", "lodge_objection done: objection_id=GS2026-0001")


def test_html_page_escapes_and_shows_the_answer(histories: dict[str, WorkflowHistory]) -> None:
    t = timeline(histories, ".consultation-fgw")
    html = render_html(t)
    assert html.startswith("<!doctype html>")
    assert "department:fgw via simulation" in html
    assert "该企业近三年存在严重失信记录" in html
    assert "失信记录属实，取消候选资格" in html
    assert "2027-01-14" in html  # a local (Asia/Shanghai) date
    hostile = t.model_copy(update={"workflow_id": "<script>alert(1)</script>"})
    assert "<script>alert" not in render_html(hostile)
    assert "&lt;script&gt;" in render_html(hostile)


async def test_routes_unknown_workflow_is_404(env: WorkflowEnvironment, settings: Settings, engine: Engine) -> None:
    app = create_app(settings, env.client, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as api:
        api.headers.update(await login(api, "auditor"))
        for path in (f"/audit/{CYCLE}-missing", f"/api/v1/audit/{CYCLE}.app-0042", "/audit/not.a.valid.id"):
            response = await api.get(path)
            assert response.status_code == 404, path
            assert response.json()["detail"].startswith("未找到")


async def test_routes_show_a_live_workflow(env: WorkflowEnvironment, settings: Settings, engine: Engine) -> None:
    # No worker: the history holds the start alone, which is all the route needs to decode.
    programme = {"id": "qingdao-mayor-quality-award", "name_zh": "青岛市市长质量奖"}
    await env.client.start_workflow(
        "AwardCycleWorkflow", {"programme": programme, "year": 2027}, id="audit-probe", task_queue="nobody-polls"
    )
    now = datetime.now(UTC)
    with session(engine) as s:  # the read model names its programme, so the auditor's grant applies
        queries.upsert_cycle(
            s, cycle_id="audit-probe", programme_id=programme["id"], year=2027, started_at=now, day_seconds=None,
            stage="application", completed=False, updated_at=now,
        )  # fmt: skip
    app = create_app(settings, env.client, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as api:
        api.headers.update(await login(api, "auditor"))
        page = await api.get("/audit/audit-probe")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert "周期开始 cycle started: qingdao-mayor-quality-award 2027" in page.text
        data = await api.get("/api/v1/audit/audit-probe")
        assert data.status_code == 200 and data.headers["cache-control"] == "no-store"
        parsed = Timeline.model_validate(data.json())
        assert (parsed.workflow_type, parsed.status, parsed.result) == ("AwardCycleWorkflow", "running", None)
        assert [e.kind for e in parsed.entries] == ["started"]


def test_a_simulated_act_names_the_user_who_ran_it() -> None:
    simulated = Actor(role=Role.EXPERT, identity="qdm-01", channel=Channel.SIMULATION, principal="qd-wang")
    assert actor_label(simulated) == "expert:qdm-01 via simulation (by qd-wang)"
    assert actor_label(simulated.model_copy(update={"principal": None})) == "expert:qdm-01 via simulation"
