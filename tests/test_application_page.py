"""The console's application page and its forms, against a real cycle on the time-skipping server and the
real store: each act is posted as a browser would, and the workflow's own history shows what it recorded."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from awardcycle import service
from awardcycle.timeline import TimelineEntry, fetch_timeline
from programmes import get_programme
from schemas.application import ApplicationState, ConditionVerdict, MaterialDecision, QualificationDecision
from schemas.common import Channel, Role
from tests.conftest import Inbox
from tests.scenario import COORDINATOR, StrongPlayer, apply_all, forms, mail, small, start, terminate, text_body
from tests.test_dashboard import console_session
from web.cycle_page import SCORES_HIDDEN
from web.visibility import HIDDEN

QINGDAO = "qingdao-mayor-quality-award"
PROGRAMME = small(get_programme(QINGDAO))
CONDITIONS = [c.id for c in PROGRAMME.conditions]
PAGE = "/console/applications/{}"


def text(response: httpx.Response) -> str:
    return html.unescape(response.text)


def section(page: str, element_id: str) -> str:
    found = re.search(rf'<section id="{re.escape(element_id)}"(.*?)</section>', page, re.S)
    return found[1] if found else ""


async def page_until(browser: httpx.AsyncClient, application_id: str, shown: Callable[[str], bool]) -> str:
    """The page once it shows what the workflows do a moment after an act or a timer."""
    for _ in range(200):
        page = await browser.get(PAGE.format(application_id))
        assert page.status_code == 200, page.text
        if shown(page.text):
            return page.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"the page of {application_id} never showed it:\n{page.text}")


async def post(
    browser: httpx.AsyncClient, application_id: str, act: str, fields: dict[str, Any], *, csrf: bool = True
) -> httpx.Response:
    """The form posted as a browser sends it, with the session's CSRF value from the page."""
    page = await browser.get(PAGE.format(application_id))
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text
    data = {"csrf": token[1], **fields} if csrf else fields
    return await browser.post(f"{PAGE.format(application_id)}/acts/{act}", data=data)


async def state_of(env: WorkflowEnvironment, application_id: str, wanted: ApplicationState) -> None:
    for _ in range(200):
        if (await service.application_status(env.client, application_id)).state is wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{application_id} never reached {wanted.value}")


async def recorded(env: WorkflowEnvironment, workflow_id: str, act: str) -> list[TimelineEntry]:
    """The act's Updates as the workflow's history holds them: a refused one never gets there."""
    timeline = await fetch_timeline(env.client, workflow_id)
    return [e for e in timeline.entries if e.kind == "update" and e.summary.startswith(f"{act}:")]


def console_actor(entry: TimelineEntry, username: str, role: Role) -> bool:
    actor = entry.actor
    return actor is not None and (actor.identity, actor.role, actor.channel) == (username, role, Channel.CONSOLE)


async def test_the_secretariat_screens_condition_by_condition_on_the_application_page(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str, inbox: Inbox
) -> None:
    cycle_id = await start(env.client, PROGRAMME, task_queue, f"apage-{uuid.uuid4().hex[:6]}")
    applied = forms(PROGRAMME)
    labels = await apply_all(env.client, cycle_id, {label: applied[label] for label in ("winner-1", "gate-fails")})
    passing, failing = sorted(labels)
    form = applied["winner-1"]
    all_met = {f"met-{c}": "yes" for c in CONDITIONS}

    async with (
        console_session(api, "qd-secretariat") as secretariat,
        console_session(api, "qd-coord") as coordinator,
        console_session(api, "qd-onsite") as onsite,
        console_session(api, "auditor") as auditor,
    ):
        # During the call for applications: the application as submitted, and no form yet.
        page = text(await secretariat.get(PAGE.format(passing)))
        assert form.name in page and f"<code>{form.credit_code}</code>" in page
        assert form.category in page and form.region in page
        assert PROGRAMME.conditions[0].text in section(page, "conditions") and "见申报材料附件" in page
        for document in form.documents:
            assert document.name in section(page, "documents") and document.sha256 in section(page, "documents")
        assert form.contact_email not in page and HIDDEN in page, "no contact for the secretariat"
        assert "/audit/" not in page and 'id="act-decide_qualification"' not in page
        assert "自愿申报与区市推荐" in section(page, "stages") and "已受理" in section(page, "stages")

        # Acting before the step: the workflow's validator refuses, and the form keeps what was typed.
        early = await post(secretariat, passing, "decide_qualification", {**all_met, f"reason-{CONDITIONS[0]}": "核实"})
        assert early.status_code == 409
        refused = section(text(early), "act-decide_qualification")
        assert "当前环节不受理此操作" in refused and 'role="alert"' in refused
        assert 'value="核实"' in refused and refused.count("checked") == len(CONDITIONS)

        await env.sleep(timedelta(days=27))  # past the application stage's 20 working days: qualification opens
        page = await page_until(secretariat, passing, lambda p: 'id="act-decide_qualification"' in p)
        assert "秘书处：资格审查（逐条确认基本条件）" in page and 'id="deadline"' in page
        assert all(f'name="met-{c}"' in page for c in CONDITIONS)
        dashboard = (await secretariat.get("/console?year=2026")).text
        assert f'href="/console/applications/{passing}"' in dashboard, "each waiting item links to its page"
        table = (await secretariat.get(f"/console/cycles/{cycle_id}")).text
        assert all(f'href="/console/applications/{a}"' in table for a in labels), "each row links to its page"

        seen = text(await coordinator.get(PAGE.format(passing)))
        assert form.contact_email in seen and f'href="/audit/{passing}"' in seen
        audited = text(await auditor.get(PAGE.format(passing)))
        assert form.contact_email in audited and "act-decide_qualification" not in audited, "an auditor never acts"

        # The on-site team reads the application but holds no grant for this act.
        page = text(await onsite.get(PAGE.format(passing)))
        assert form.name in page and form.contact_email not in page and '<form class="act"' not in page
        barred = await post(onsite, passing, "decide_qualification", all_met)
        assert (
            barred.status_code == 403
            and "无权执行此操作" in text(barred)
            and "act-decide_qualification" not in text(barred)
        )

        # A failed condition needs its reason; everything typed comes back.
        unexplained = {**all_met, f"met-{CONDITIONS[0]}": "no", f"reason-{CONDITIONS[1]}": "证照齐全"}
        answer = await post(secretariat, failing, "decide_qualification", unexplained)
        assert answer.status_code == 422
        refused = section(text(answer), "act-decide_qualification")
        assert f"条件 {CONDITIONS[0]} 判定为“不符合”时须说明理由" in refused
        assert re.search(rf'name="met-{CONDITIONS[0]}" value="no" required checked', refused)
        assert re.search(rf'name="met-{CONDITIONS[1]}" value="yes" required checked', refused)
        assert 'value="证照齐全"' in refused
        cases: list[tuple[dict[str, Any], str]] = [
            ({**all_met, f"met-{CONDITIONS[0]}": ["yes", "no"]}, "表单字段重复"),
            ({**all_met, "verdicts": "all"}, "表单含未知字段"),
            ({**all_met, f"reason-{CONDITIONS[0]}": "长" * 2001}, "不得超过 2000 字"),
            ({f"met-{c}": "yes" for c in CONDITIONS[1:]}, f"条件 {CONDITIONS[0]} 未选择"),
        ]
        for fields, reason in cases:
            answer = await post(secretariat, failing, "decide_qualification", fields)
            assert answer.status_code == 422 and reason in text(answer), reason
        forged = await post(secretariat, failing, "decide_qualification", all_met, csrf=False)
        assert forged.status_code == 403, "no CSRF value, no act"
        assert await recorded(env, failing, "decide_qualification") == [], "nothing refused reached the workflow"

        # Decided condition by condition: one fails with its reason and ends the application.
        failed = {**all_met, f"met-{CONDITIONS[0]}": "no", f"reason-{CONDITIONS[0]}": "经营未满3年"}
        answer = await post(secretariat, failing, "decide_qualification", failed)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/console/applications/{failing}?done=decide_qualification#done"
        done = text(await secretariat.get(answer.headers["location"]))
        assert 'id="done"' in done and "资格审查决定已记录" in done
        [entry] = await recorded(env, failing, "decide_qualification")
        assert console_actor(entry, "qd-secretariat", Role.SECRETARIAT)
        assert entry.content is not None and not isinstance(entry.content, list)
        assert entry.content["verdicts"] == [{"id": c, "met": c != CONDITIONS[0]} for c in CONDITIONS]
        assert entry.content["note"] == f"{CONDITIONS[0]}（不符合）：经营未满3年"
        page = text(await secretariat.get(PAGE.format(failing)))
        assert "未通过资格审查" in page and PROGRAMME.conditions[0].text in section(page, "summary")
        assert "未通过" in section(page, "stages") and '<form class="act"' not in page

        answer = await post(secretariat, passing, "decide_qualification", all_met)
        assert answer.status_code == 303
        [entry] = await recorded(env, passing, "decide_qualification")
        assert console_actor(entry, "qd-secretariat", Role.SECRETARIAT) and entry.content
        assert entry.content == {"verdicts": [{"id": c, "met": True} for c in CONDITIONS], "note": ""}

        # Material review: a supplement request must say what is missing, as the workflow requires.
        page = await page_until(secretariat, passing, lambda p: 'id="act-decide_materials"' in p)
        assert "5 个工作日" in section(page, "act-decide_materials")
        vague = await post(secretariat, passing, "decide_materials", {"conforming": "no", "note": "请尽快补充"})
        assert vague.status_code == 409
        refused = section(text(vague), "act-decide_materials")
        assert "须列明所缺材料" in refused and "请尽快补充" in refused
        assert 'value="no" required checked' in refused
        asked = {"conforming": "no", "missing": "近三年审计报告\r\n质量管理体系认证证书\r\n", "note": "请加盖公章"}
        answer = await post(secretariat, passing, "decide_materials", asked)
        assert answer.status_code == 303
        [entry] = await recorded(env, passing, "decide_materials")
        assert console_actor(entry, "qd-secretariat", Role.SECRETARIAT)
        assert entry.content == {
            "conforming": False,
            "missing": ["近三年审计报告", "质量管理体系认证证书"],
            "note": "请加盖公章",
        }
        page = html.unescape(await page_until(secretariat, passing, lambda p: "待补充材料" in p))
        assert "申报单位：提交补充材料" in page and 'id="deadline"' in page and "act-decide_materials" not in page
        request = text_body(await mail(inbox, f"{passing}/supplement-2"))
        assert "近三年审计报告" in request and "质量管理体系认证证书" in request

        # Who may not read, and what does not exist.
        missing = await secretariat.get(PAGE.format(f"{cycle_id}.app-9999"))
        assert missing.status_code == 404 and "未找到该申报" in text(missing) and "退出登录" in missing.text
        assert (await secretariat.get(PAGE.format("not-an-application"))).status_code == 404
        assert (await secretariat.get(PAGE.format(f"{cycle_id}-nope.app-0001"))).status_code == 404
        assert (await secretariat.get(f"{PAGE.format(passing)}/acts/decide_qualification")).status_code == 405
        async with console_session(api, "jn-coord") as stranger:
            other = await stranger.get(PAGE.format(passing))
            assert other.status_code == 403 and "无权访问该项目" in text(other) and form.name not in other.text
    away = await anonymous.get(PAGE.format(passing))
    assert (away.status_code, away.headers["location"]) == (303, f"/login?next={PAGE.format(passing)}")
    await terminate(env.client, cycle_id)


async def test_the_onsite_team_and_the_coordinator_record_results_on_the_application_page(
    api: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str
) -> None:
    cycle_id = await start(env.client, PROGRAMME, task_queue, f"aonsite-{uuid.uuid4().hex[:6]}")
    [application_id] = await apply_all(env.client, cycle_id, {"winner-1": forms(PROGRAMME)["winner-1"]})
    await env.sleep(timedelta(days=27))
    await state_of(env, application_id, ApplicationState.QUALIFICATION)
    verdicts = [ConditionVerdict(id=c, met=True) for c in CONDITIONS]
    await service.perform(
        env.client, application_id, "decide_qualification", QualificationDecision(actor=COORDINATOR, verdicts=verdicts)
    )
    await state_of(env, application_id, ApplicationState.MATERIAL_REVIEW)
    conforming = MaterialDecision(actor=COORDINATOR, conforming=True)
    await service.perform(env.client, application_id, "decide_materials", conforming)
    await state_of(env, application_id, ApplicationState.EXPERT_REVIEW)
    experts = (await service.application_status(env.client, application_id)).experts
    player = StrongPlayer(programme=PROGRAMME)
    for expert in experts[:-1]:  # the last drawn expert never scores
        await service.perform(env.client, application_id, "submit_score", player.score(application_id, expert))

    async with (
        console_session(api, "qd-onsite") as onsite,
        console_session(api, "qd-secretariat") as secretariat,
        console_session(api, "qd-coord") as coordinator,
    ):
        # While the review is open, the on-site team sees no experts' scores; the secretariat does.
        hidden = text(await onsite.get(PAGE.format(application_id)))
        assert SCORES_HIDDEN in hidden and 'id="expert-scores"' not in hidden
        scored = section(text(await secretariat.get(PAGE.format(application_id))), "scores")
        assert all(expert in scored for expert in experts) and "未评分" in scored
        assert "专家 1 人未评分：专家评分" in text(await secretariat.get(PAGE.format(application_id)))

        await env.sleep(timedelta(days=20))  # past expert review's 10 working days: on-site review opens
        page = await page_until(onsite, application_id, lambda p: 'id="act-record_onsite"' in p)
        assert "现场评审组：录入现场评审结果" in html.unescape(page) and 'id="expert-scores"' in page
        assert "act-record_onsite" not in (await secretariat.get(PAGE.format(application_id))).text

        typed = {"passed": "yes", "findings": "现场核实材料属实"}
        wrong = await post(onsite, application_id, "record_onsite", {**typed, "score": "八百"})
        assert wrong.status_code == 422
        refused = section(text(wrong), "act-record_onsite")
        assert "得分须为不小于 0 的数字" in refused and 'value="八百"' in refused and "现场核实材料属实" in refused
        over = await post(onsite, application_id, "record_onsite", {**typed, "score": "5000"})
        assert over.status_code == 409 and "超出范围 0–1000" in section(text(over), "act-record_onsite")
        assert await recorded(env, application_id, "record_onsite") == []
        answer = await post(onsite, application_id, "record_onsite", {**typed, "score": "880.5"})
        assert answer.status_code == 303
        [entry] = await recorded(env, application_id, "record_onsite")
        assert console_actor(entry, "qd-onsite", Role.ONSITE_TEAM)
        assert entry.content == {"score": 880.5, "passed": True, "findings": "现场核实材料属实"}

        # Oral defence: the coordinator's act; the on-site team neither sees its form nor may post it.
        page = await page_until(coordinator, application_id, lambda p: 'id="act-record_defence"' in p)
        assert "880.5" in section(page, "scores")
        assert "act-record_defence" not in (await onsite.get(PAGE.format(application_id))).text
        barred = await post(onsite, application_id, "record_defence", {"score": "860"})
        assert barred.status_code == 403 and "coordinator@qingdao-mayor-quality-award" in text(barred)
        answer = await post(coordinator, application_id, "record_defence", {"score": "860", "note": "答辩清晰"})
        assert answer.status_code == 303
        done = text(await coordinator.get(answer.headers["location"]))
        assert "陈述答辩得分已记录" in done
        [entry] = await recorded(env, application_id, "record_defence")
        assert console_actor(entry, "qd-coord", Role.COORDINATOR)
        assert entry.content == {"score": 860.0, "note": "答辩清晰"}
        assert (await service.application_status(env.client, application_id)).defence_score == 860
    await terminate(env.client, cycle_id)
