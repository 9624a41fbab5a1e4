"""A coordinator and the secretariat run a Qingdao rehearsal from the console in headless Chromium: sign-in,
the dashboard's start form, an extension (accepted and refused), a qualification decision, the approval and
the downloads and the audit timeline filtered by act, each page screenshotted and checked with axe-core
(bundled, offline)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from openpyxl import load_workbook
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from pypdf import PdfReader
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from activities.calendar import WorkingDayCalendar
from awardcycle import service
from config.settings import Settings
from notifications.render import zh_datetime
from programmes import get_programme
from schemas.calendar import CalendarSpec
from schemas.common import Actor, Channel, Role
from schemas.consultation import CandidateOpinion, ConsultationAnswer, Opinion
from schemas.programme import Duration, StageKind
from tests.conftest import PASSWORD
from tests.scenario import StrongPlayer, apply_all, forms, until_stage
from tests.test_application_page import console_actor, recorded
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, serve
from tests.test_cycle_acts import eventually
from web.cycle_page import DONE_ZH
from web.main import create_app

QINGDAO = "qingdao-mayor-quality-award"
CALENDAR = WorkingDayCalendar(CalendarSpec())
# The axe-core rules about labels, colour contrast and keyboard focus.
AXE_RULES = [
    "label",
    "select-name",
    "button-name",
    "link-name",
    "input-button-name",
    "form-field-multiple-labels",
    "color-contrast",
    "scrollable-region-focusable",
    "tabindex",
    "nested-interactive",
    "aria-hidden-focus",
    "focus-order-semantics",
]
AXE = Axe()


def screenshot_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("AWARDCYCLE_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def accessible(page: Page, what: str) -> None:
    """No serious or critical violation of the label, contrast and focus rules on the page as it stands."""
    results = await AXE.run(page, options={"runOnly": {"type": "rule", "values": AXE_RULES}})
    found = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not found, f"{what}: {found}"
    assert results.response["passes"], f"{what}: axe checked nothing"


async def reload_until(page: Page, shown: Callable[[], Any], *, tries: int = 200) -> None:
    """Reload until `shown()` (an awaitable of a bool) holds: the read model trails the workflows."""
    for _ in range(tries):
        if await shown():
            return
        await asyncio.sleep(0.1)
        await page.reload()
    raise AssertionError(f"{page.url} never showed it")


async def sign_in(browser: Browser, base: str, username: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(locale="zh-CN", accept_downloads=True)
    page = await context.new_page()
    await page.goto(f"{base}/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录", exact=True).click()
    await expect(page).to_have_url(re.compile(rf"{re.escape(base)}/console(\?.*)?$"))
    await expect(page.locator("header")).to_contain_text(f"（{username}）")
    return context, page


def pdf_text(content: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages))


async def download(page: Page, link_name: str) -> bytes:
    async with page.expect_download() as info:
        await page.get_by_role("link", name=link_name, exact=True).click()
    done = await info.value
    assert await done.failure() is None
    path = await done.path()
    return Path(path).read_bytes()


async def test_a_qingdao_rehearsal_from_login_to_the_documents_in_the_browser(
    env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
    engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Callable[[str, object], None],
) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make test` (it installs chromium fonts-noto-cjk)"
    shots = screenshot_folder(tmp_path_factory)
    print(f"console screenshots: {shots}")
    record_property("screenshots", str(shots))
    programme = get_programme(QINGDAO)
    cycle_id = f"{QINGDAO}-2026-console-{uuid.uuid4().hex[:6]}"
    url = f"/console/cycles/{cycle_id}"
    reason = "区市推荐材料尚未报齐，顺延五个工作日"
    objection = "该企业近三年存在严重失信记录"

    async def snap(page: Page, name: str) -> None:
        await page.screenshot(path=shots / f"{name}.png", full_page=True)

    app = create_app(settings, env.client, engine, task_queue=task_queue)
    async with serve(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # The sign-in page, then the dashboard with the start form.
            login = await browser.new_page(locale="zh-CN")
            await login.goto(f"{base}/login")
            await expect(login).to_have_title(re.compile("登录"))
            await snap(login, "01-login")
            await accessible(login, "login page")
            await login.close()

            _, page = await sign_in(browser, base, "qd-coord")
            await expect(page.locator("header")).to_contain_text(f"coordinator@{QINGDAO}")
            start = page.locator("#form-start_cycle")
            await expect(start).to_be_visible()
            await snap(page, "02-dashboard")
            await accessible(page, "dashboard")

            # A rehearsal started from the form: a cycle day of 86400 s, which the time-skipping server skips.
            await start.get_by_label("评审项目").select_option(QINGDAO)
            await start.get_by_label("年度").fill("2026")
            await start.get_by_label(re.compile("^演练时钟")).fill("86400")
            await start.get_by_label(re.compile("^周期编号")).fill(cycle_id)
            await start.get_by_role("button", name="启动", exact=True).click()
            await expect(page).to_have_url(f"{base}{url}?done=start_cycle")
            await expect(page.locator("#done")).to_have_text(DONE_ZH["start_cycle"])
            await expect(page.locator("h1")).to_contain_text(programme.name_zh)
            status = await service.cycle_status(env.client, cycle_id)
            assert (status.programme_id, status.year, status.day_seconds) == (QINGDAO, 2026, 86400)
            assert status.stage is StageKind.APPLICATION and status.stage_deadline is not None
            before = status.stage_deadline
            await snap(page, "03-cycle-started")
            await accessible(page, "cycle page")

            # The dashboard lists the new cycle; its row opens the cycle page.
            await page.goto(f"{base}/console?year=2026")
            row = page.locator(f'[id="cycle-{cycle_id}"]')
            await expect(row).to_contain_text(cycle_id)
            await snap(page, "03b-dashboard-with-cycle")
            await accessible(page, "dashboard with a cycle")
            await row.get_by_role("link", name=programme.name_zh).click()
            await expect(page).to_have_url(f"{base}{url}")

            # Extend the open stage's deadline with a reason; the schedule shows the new deadline.
            extend = page.locator("#form-extend_deadline")
            await extend.get_by_label("延长的工作日数").fill("5")
            await extend.get_by_label("延期理由").fill(reason)
            await extend.get_by_role("button", name="延长截止时间").click()
            await expect(page).to_have_url(f"{base}{url}?done=extend_deadline#schedule")
            await expect(page.locator("#done")).to_have_text(DONE_ZH["extend_deadline"])
            status = await service.cycle_status(env.client, cycle_id)
            assert status.stage_deadline == CALENDAR.add(before, Duration(days=5))
            schedule = page.locator("#schedule")
            await expect(schedule).to_contain_text(zh_datetime(status.stage_deadline))
            await expect(schedule).to_contain_text(reason)
            await expect(schedule).not_to_contain_text(zh_datetime(before))
            await snap(page, "04-deadline-extended")

            # A reason of blanks passes the browser's `required` but not the server: refused, values kept.
            extend = page.locator("#form-extend_deadline")
            await extend.get_by_label("延长的工作日数").fill("3")
            await extend.get_by_label("延期理由").fill("   ")
            await extend.get_by_role("button", name="延长截止时间").click()
            extend = page.locator("#form-extend_deadline")
            await expect(extend.get_by_role("alert")).to_have_text("请填写延期理由")
            await expect(extend.get_by_label("延长的工作日数")).to_have_value("3")
            assert (await service.cycle_status(env.client, cycle_id)).stage_deadline == status.stage_deadline
            await snap(page, "05-extension-refused")

            # Applications arrive through the office; the stage ends and the page advances on reload.
            labels = await apply_all(env.client, cycle_id, forms(programme))
            chosen = next(a for a, label in labels.items() if label == "winner-1")
            await page.goto(f"{base}{url}")
            stage_zh = await page.locator("#schedule strong").first.inner_text()
            await env.sleep(status.stage_deadline - status.cycle_time + timedelta(days=1))

            async def advanced() -> bool:
                return await page.locator("#schedule strong").first.inner_text() != stage_zh

            await reload_until(page, advanced)
            assert (await service.cycle_status(env.client, cycle_id)).stage is not StageKind.APPLICATION
            await snap(page, "06-cycle-advanced")

            # The secretariat decides one qualification condition by condition on the application page.
            _, desk = await sign_in(browser, base, "qd-secretariat")
            await desk.goto(f"{base}/console/applications/{chosen}")
            qualification = desk.locator("#act-decide_qualification")

            async def offered() -> bool:
                return await qualification.count() > 0

            await reload_until(desk, offered)
            await accessible(desk, "application page")
            for condition in programme.conditions:
                await qualification.locator(f'input[name="met-{condition.id}"][value="yes"]').check()
            await snap(desk, "07-application-qualification")
            await qualification.get_by_role("button", name="提交资格审查决定").click()
            await expect(desk).to_have_url(f"{base}/console/applications/{chosen}?done=decide_qualification#done")
            await expect(desk.locator("#done")).to_contain_text("资格审查决定已记录")
            [entry] = await recorded(env, chosen, "decide_qualification")
            assert console_actor(entry, "qd-secretariat", Role.SECRETARIAT)
            assert entry.content == {"verdicts": [{"id": c.id, "met": True} for c in programme.conditions], "note": ""}
            await snap(desk, "08-application-decided")

            # The secretariat's other decisions, the experts and the on-site teams are played until the
            # departments are consulted; they answer through their links, and the first one objects.
            quiet = StrongPlayer(programme=programme)  # plays no department
            reached = await until_stage(env, engine, cycle_id, quiet, StageKind.CONSULTATION, opened="consultations")
            shortlist = [c.application_id for c in reached.shortlist]
            objected = shortlist[0]
            objecting = reached.consultations[0]
            for workflow_id in reached.consultations:
                department = workflow_id.rpartition(".consultation-")[2]
                answer = ConsultationAnswer(
                    actor=Actor(role=Role.DEPARTMENT, identity=department, channel=Channel.LINK),
                    answers=[
                        CandidateOpinion(application_id=a, opinion=Opinion.OBJECTION, reason=objection)
                        if workflow_id == objecting and a == objected
                        else CandidateOpinion(application_id=a, opinion=Opinion.NO_OBJECTION)
                        for a in shortlist
                    ],
                )
                await eventually(partial(service.consultation_status, env.client, workflow_id), lambda _: True)
                await service.perform(env.client, workflow_id, "answer", answer)

            # The coordinator decides the department's objection on the cycle page.
            key = f"decide_objection:{objecting}:{objected}"
            decide = page.locator(f'[id="form-{key}"]')
            await page.goto(f"{base}{url}")
            for _ in range(30):
                if await decide.count():
                    break
                await env.sleep(timedelta(days=1))
                await page.reload()
            await expect(decide).to_contain_text(objection)
            await snap(page, "09-department-objection")
            await accessible(page, "cycle page with an objection")
            await decide.get_by_label("异议不影响评选，保留候选资格").check()
            await decide.get_by_label("决定理由").fill("经核查，失信记录已修复，不影响评选")
            await decide.get_by_role("button", name="作出决定").click()
            await expect(page).to_have_url(f"{base}{url}?done=decide_objection#consultation")
            await expect(page.locator("#done")).to_have_text(DONE_ZH["decide_objection"])
            [record] = (await service.consultation_status(env.client, objecting)).objections
            assert (record.decided, record.keep, record.decision_reason) == (
                True,
                True,
                "经核查，失信记录已修复，不影响评选",
            )
            await snap(page, "10-objection-decided")

            # The public notice runs its course; then the government's approval is awaited.
            player = StrongPlayer(programme=programme, departments=True)
            await until_stage(env, engine, cycle_id, player, StageKind.APPROVAL)
            await page.goto(f"{base}{url}")
            approval = page.locator("#form-record_approval")

            async def awaiting_approval() -> bool:
                return await approval.count() > 0

            await reload_until(page, awaiting_approval)
            await snap(page, "11-awaiting-approval")
            await approval.get_by_label("批准文号").fill("青政字〔2026〕12号")
            await approval.get_by_label("批准日期").fill("2026-09-30")
            await approval.get_by_role("button", name="记录批准").click()
            await expect(page).to_have_url(f"{base}{url}?done=record_approval#schedule")
            await expect(page.locator("#done")).to_have_text(DONE_ZH["record_approval"])

            async def completed() -> bool:
                return await page.locator("h1 .badge").count() > 0

            await reload_until(page, completed)
            status = await service.cycle_status(env.client, cycle_id)
            assert status.completed and status.approval is not None
            assert status.approval.document_number == "青政字〔2026〕12号"
            assert status.approval.actor is not None and status.approval.actor.identity == "qd-coord"
            await snap(page, "12-cycle-completed")
            await accessible(page, "completed cycle page")

            # The documents through the page's links, read back.
            book = load_workbook(io.BytesIO(await download(page, "评审结果（xlsx）")))
            sheet = book["评审结果"]
            title = sheet["A1"].value
            assert isinstance(title, str) and title.startswith(f"{programme.name_zh}评审结果（演练）　周期：{cycle_id}")
            assert [c.value for c in sheet[2]][:2] == ["申报编号", "名称"]
            table = {row[0]: row[1] for row in sheet.iter_rows(min_row=3, values_only=True) if any(row)}
            assert table == {a: f"{label}有限公司" for a, label in labels.items()}, table
            text = pdf_text(await download(page, "获奖名单（PDF）"))
            assert f"2026年度{programme.name_zh}获奖名单" in text and "青政字〔2026〕12号" in text
            notice = pdf_text(await download(page, "公示文件（PDF）"))
            assert f"关于{programme.name_zh}拟授奖名单的公示" in notice

            # The auditor's view: the cycle's timeline, filtered by act through its labelled select.
            await page.get_by_role("link", name="审计时间线 (audit timeline)").click()
            await expect(page).to_have_url(f"{base}/audit/{cycle_id}")
            await expect(page.locator("#timeline-count")).to_contain_text("全部")
            filters = page.locator("#timeline-filter")
            await filters.get_by_label("操作", exact=True).select_option("record_approval")
            await filters.get_by_role("button", name="筛选").click()
            await expect(page).to_have_url(re.compile(rf"/audit/{re.escape(cycle_id)}\?.*act=record_approval"))
            await expect(page.locator("#timeline-count")).to_contain_text("符合条件的 2 条")
            await expect(page.locator("#timeline tbody tr")).to_have_count(2)
            await expect(page.locator("#timeline")).to_contain_text("coordinator:qd-coord via console")
            await snap(page, "13-timeline-filtered")
            await accessible(page, "filtered audit timeline")
        finally:
            await browser.close()
    expected = [
        "01-login",
        "02-dashboard",
        "03-cycle-started",
        "03b-dashboard-with-cycle",
        "04-deadline-extended",
        "05-extension-refused",
        "06-cycle-advanced",
        "07-application-qualification",
        "08-application-decided",
        "09-department-objection",
        "10-objection-decided",
        "11-awaiting-approval",
        "12-cycle-completed",
        "13-timeline-filtered",
    ]
    assert all((shots / f"{name}.png").stat().st_size > 0 for name in expected), sorted(shots.iterdir())
