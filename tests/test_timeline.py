"""The audit timeline decoded from recorded histories; the web routes for it, 404 against a real server."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.chain import fetch_chain
from awardcycle.service import RefusalKind, Refused
from awardcycle.timeline import Timeline, TimelineEntry, actor_label, build_timeline, fetch_timeline, render_text
from config.settings import Settings
from programmes import get_programme
from schemas.common import Actor, Channel, Role
from schemas.identity import Principal
from store import queries
from store.db import session
from tests.conftest import login
from tests.replay import by_workflow, load, noting_fetches, recorded_cycle_id, relay, relay_worker
from web.main import create_app
from web.routes.audit import render_html
from web.timeline_page import NO_ACTOR, actor_key, timeline_page, timeline_request

CYCLE = recorded_cycle_id()

Chains = dict[str, list[WorkflowHistory]]


@pytest.fixture(scope="module")
def histories() -> Chains:
    """Every recorded workflow's runs, first run first: the cycle continued as new, so it has several."""
    return by_workflow(load())


def timeline(histories: Chains, suffix: str = "") -> Timeline:
    return build_timeline(*histories[CYCLE + suffix])


def entries(t: Timeline, kind: str, starts: str = "") -> list[TimelineEntry]:
    return [e for e in t.entries if e.kind == kind and e.summary.startswith(starts)]


def test_every_history_decodes_to_plain_json(histories: Chains) -> None:
    for runs in histories.values():
        t = build_timeline(*runs)
        assert (t.status, t.runs) == ("completed", len(runs))
        assert t.entries[0].kind == "started" and t.entries[-1].kind == "completed"
        assert all(e.at.tzinfo is UTC for e in t.entries)
        # In time order within each run; the server stamps a run's start a moment before (by a millisecond in
        # the recorded cycle) the ContinuedAsNew event that ends the run before it, so order is by run first.
        for n in range(len(runs)):
            at = [e.at for e in t.entries if e.run == n]
            assert at == sorted(at)
        assert [e.run for e in t.entries] == sorted(e.run for e in t.entries)
        json.loads(t.model_dump_json())  # round-trips: content is plain JSON, not models


def test_consultation_answer_objection_and_decision(histories: Chains) -> None:
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
    request, receipt = entries(t, "mail")
    assert "consultation-fgw/request" in request.summary and "consultation-fgw/receipt-1" in receipt.summary
    assert t.result is not None and t.result["dropped"] == [f"{CYCLE}.app-0007"]

    text = render_text(t)
    assert "department:fgw via simulation" in text
    assert "该企业近三年存在严重失信记录" in text
    assert "coordinator:coordinator via simulation  decide_objection: " in text
    assert "失信记录属实，取消候选资格" in text


def test_overdue_consultation_answered_by_policy(histories: Chains) -> None:
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


def test_cycle_stages_deadlines_approval_and_result(histories: Chains) -> None:
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
    # The consultations and the notice are children; an activity starts each application.
    assert len(entries(t, "child_started")) == 17 + 1
    (approval,) = entries(t, "update", "record_approval")
    assert approval.actor is not None and approval.actor.role is Role.COORDINATOR
    assert isinstance(approval.content, dict)
    number = approval.content["document_number"]
    assert re.fullmatch(r"政字〔2026〕\d+号", number)
    assert approval.content == {"document_number": number, "approved_on": "2026-05-20"}
    assert t.result is not None and t.result["approval"]["document_number"] == number
    assert [a["application_id"] for a in t.result["awards"]] == [
        f"{CYCLE}.app-0001",
        f"{CYCLE}.app-0002",
        f"{CYCLE}.app-0005",
    ]

    text = render_text(t)
    assert "截止时间 deadline set: 2026-05-10T00:00:00+08:00" in text
    assert f"coordinator:coordinator via simulation  record_approval: document_number={number}" in text
    assert "进入阶段 stage: consultation" in text
    assert text.rstrip().splitlines()[-1].startswith("结果 result: {")


def test_application_supplement_and_resubmission(histories: Chains) -> None:
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
    # Times are shown in Asia/Shanghai (UTC+8), not in UTC.
    first = histories[next(i for i in histories if i.endswith(".app-0005"))][0].events[0].event_time.ToDatetime()
    assert text.splitlines()[2].startswith(f"{first + timedelta(hours=8):%Y-%m-%d %H:%M:%S}  started")


def test_notice_objection_and_resolution(histories: Chains) -> None:
    t = timeline(histories, ".notice")
    assert "2026-05-20T00:00:00+08:00" in t.entries[0].summary
    lodged, resolved = entries(t, "update")
    assert lodged.actor is not None and lodged.actor.role is Role.PUBLIC
    assert resolved.actor is not None and resolved.actor.role is Role.COORDINATOR
    assert entries(t, "update_completed", "lodge_objection done: objection_id=GS2026-0001")


def page_of(t: Timeline, **filters: str) -> str:
    """The audit page of `t` as a signed-in auditor sees it, with `filters` as the query string."""
    wanted = timeline_request(
        actor=filters.get("actor"), channel=filters.get("channel"), act=filters.get("act"), offset=None, limit=None
    )
    principal = Principal(
        username="auditor", name_zh="审计员", email="a@example.cn", grants=[], channel=Channel.CONSOLE
    )
    return render_html(timeline_page(t, wanted), principal=principal, csrf="-", workflow_id=t.workflow_id)


def test_html_page_escapes_and_shows_the_answer(histories: Chains) -> None:
    t = timeline(histories, ".consultation-fgw")
    html = page_of(t)
    assert html.startswith("<!doctype html>")
    assert "department:fgw via simulation" in html
    assert "该企业近三年存在严重失信记录" in html
    assert "失信记录属实，取消候选资格" in html
    assert "2027-01-23" in html  # a local (Asia/Shanghai) date: the consultation started 2027-01-22 16:45 UTC
    hostile = t.model_copy(update={"workflow_id": "<script>alert(1)</script>"})
    assert "<script>alert" not in page_of(hostile)
    assert "&lt;script&gt;" in page_of(hostile)


def test_the_auditor_filters_by_actor_channel_and_act_and_pages(histories: Chains) -> None:
    t = timeline(histories)
    everything = timeline_page(t, timeline_request(actor=None, channel=None, act=None, offset=None, limit=None))
    acts = {choice.value: choice.count for choice in everything.acts}
    assert acts and set(acts) == {e.act for e in t.entries if e.act}, "only the acts the timeline holds"
    assert sum(c.count for c in everything.actors) == len(t.entries) == everything.matched
    coordinator = next(c.value for c in everything.actors if c.value.startswith("coordinator:"))
    mine = timeline_page(t, timeline_request(actor=coordinator, channel="", act="", offset="", limit=""))
    assert mine.entries and all(actor_key(e.actor) == coordinator for e in mine.entries)
    kinds = {e.kind for e in mine.entries}
    assert {"update", "update_completed"} <= kinds, "an act keeps its outcome under its actor's filter"
    approval = timeline_page(t, timeline_request(actor="", channel="", act="record_approval", offset="", limit=""))
    assert [e.kind for e in approval.entries] == ["update", "update_completed"]
    none = timeline_page(t, timeline_request(actor=NO_ACTOR, channel=None, act=None, offset=None, limit=None))
    assert none.matched and all(e.actor is None for e in none.entries) and "stage" in {e.kind for e in none.entries}
    simulated = timeline_page(t, timeline_request(actor=None, channel="simulation", act=None, offset=None, limit="1"))
    assert len(simulated.entries) == 1 and simulated.next_href == f"/audit/{CYCLE}?channel=simulation&offset=1&limit=1"
    assert simulated.previous_href is None and (simulated.shown_from, simulated.shown_to) == (1, 1)
    last = timeline_page(t, timeline_request(actor=None, channel="simulation", act=None, offset="1", limit="1"))
    assert last.previous_href == f"/audit/{CYCLE}?channel=simulation&limit=1" and last.next_href is None
    assert last.entries == simulated_entries(t)[1:2] and simulated.entries == simulated_entries(t)[:1]

    html = page_of(t, act="record_approval")
    assert '<option value="record_approval" selected>' in html and 'for="filter-actor"' in html
    assert "符合条件的 2 条" in html and "清除筛选" in html
    for query, reason in [({"limit": "0"}, "每页条数须为 1–1000"), ({"offset": "-1"}, "offset 须为非负整数")]:
        with pytest.raises(ValueError, match=reason):
            timeline_request(actor=None, channel=None, act=None, offset=query.get("offset"), limit=query.get("limit"))


def simulated_entries(t: Timeline) -> list[TimelineEntry]:
    return [e for e in t.entries if e.actor is not None and e.actor.channel is Channel.SIMULATION]


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


def test_a_chain_of_runs_reads_as_one_timeline(histories: Chains) -> None:
    runs = histories[CYCLE]
    assert len(runs) > 1, "the recorded cycle continued as new"
    chain = build_timeline(*runs)
    last = build_timeline(runs[-1])
    assert (chain.runs, chain.status) == (len(runs), "completed")
    assert chain.result is not None and chain.result == last.result  # the result of the last run
    # Each hand-over: the run that continued as new names the next, which names the run it continues.
    boundary = [e for e in chain.entries if e.kind in ("continued_as_new", "run_started")]
    assert [(e.kind, e.run, e.content) for e in boundary] == [
        entry
        for n in range(1, len(runs))
        for entry in (
            ("continued_as_new", n - 1, {"next_run": runs[n].run_id}),
            ("run_started", n, {"continues": runs[n - 1].run_id}),
        )
    ]
    # The chain reads as its runs one after the other, each entry numbered with the run it happened in.
    assert [e.model_dump(exclude={"run"}) for e in chain.entries] == [
        e.model_dump(exclude={"run"}) for run in runs for e in build_timeline(run).entries
    ]
    assert [e.run for e in chain.entries] == [n for n, run in enumerate(runs) for _ in build_timeline(run).entries]
    assert len({e.run for e in entries(chain, "update")}) > 1  # acts recorded in more than one run
    # The stage carries over a hand-over: each is entered once, in the programme's order.
    stages = [e.content["stage"] for e in entries(chain, "stage") if isinstance(e.content, dict)]
    assert stages == [s.kind.value for s in get_programme("qingdao-mayor-quality-award").stages]
    assert [e.kind for e in chain.entries].count("started") == 1 and chain.entries[-1].kind == "completed"
    assert render_text(chain).startswith(f"{CYCLE} (AwardCycleWorkflow) — completed, {len(runs)} runs\n")

    # A run that continued as new, alone, hands over; it does not end the cycle.
    for run in runs[:-1]:
        alone = build_timeline(run)
        assert (alone.status, alone.entries[-1].kind, alone.result) == ("continued_as_new", "continued_as_new", None)


async def test_fetch_timeline_decodes_every_run_of_the_workflow(env: WorkflowEnvironment) -> None:
    workflow_id = f"timeline-{uuid.uuid4().hex[:6]}"
    async with relay_worker(env.client) as queue:
        await relay(env.client, queue, workflow_id, runs=3)
    runs = await fetch_chain(env.client, workflow_id)
    assert len(runs) == 3
    client, fetched = noting_fetches(env.client)
    timeline = await fetch_timeline(client, workflow_id)
    # The latest run, then back along each first event's link.
    assert fetched == [(workflow_id, None), (workflow_id, runs[1].run_id), (workflow_id, runs[0].run_id)]
    assert timeline == build_timeline(*runs)
    assert (timeline.runs, timeline.status, timeline.result) == (3, "completed", {"value": 2})
    assert [e.kind for e in timeline.entries].count("run_started") == 2
    with pytest.raises(Refused) as refused:
        await fetch_timeline(client, f"{workflow_id}-missing")
    assert refused.value.kind is RefusalKind.NOT_FOUND


def test_a_simulated_act_names_the_user_who_ran_it() -> None:
    simulated = Actor(role=Role.EXPERT, identity="qdm-01", channel=Channel.SIMULATION, principal="qd-wang")
    assert actor_label(simulated) == "expert:qdm-01 via simulation (by qd-wang)"
    assert actor_label(simulated.model_copy(update={"principal": None})) == "expert:qdm-01 via simulation"
