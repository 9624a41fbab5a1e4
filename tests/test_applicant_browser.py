"""An enterprise applies online in headless Chromium: the call page, the confirmation email from the SMTP
sink, the form with two real PDF files (the credit code checked as it is typed), a supplement uploaded by the
status link, and the outcome letter; each page screenshotted and checked with axe-core."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from activities.notify import token_sha256
from awardcycle import service
from config.settings import Settings
from programmes import get_programme
from schemas.application import ApplicationState
from store import queries
from store.db import session
from tests.applicant_flow import MISSING, SupplementPlayer, confirmation, form_fields, play_until, simulator
from tests.conftest import Inbox
from tests.scenario import apply_all, forms, small, start, terminate
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, serve
from tests.test_console_browser import accessible, screenshot_folder
from tests.test_documents import pdf_bytes
from web.main import create_app

QINGDAO = "qingdao-mayor-quality-award"


async def test_an_enterprise_applies_online_supplements_by_upload_and_reads_its_outcome(
    env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
    engine: Engine,
    inbox: Inbox,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Callable[[str, object], None],
) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make test` (it installs chromium fonts-noto-cjk)"
    shots = screenshot_folder(tmp_path_factory)
    print(f"applicant screenshots: {shots}")
    record_property("screenshots", str(shots))
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"apply-web-{uuid.uuid4().hex[:6]}")
    await apply_all(env.client, cycle_id, forms(programme))
    email = f"web-{uuid.uuid4().hex[:6]}@applicant.example.cn"
    fields = form_fields(programme, 81)
    files = {}
    for name, text in (
        ("申报表.pdf", "申报表 盖章扫描件"),
        ("自评报告.pdf", "自评报告 正文"),
        ("审计报告.pdf", "审计报告"),
    ):
        files[name] = tmp_path / name
        files[name].write_bytes(pdf_bytes(text))

    async def snap(page: Page, name: str) -> None:
        await page.screenshot(path=shots / f"applicant-{name}.png", full_page=True)

    app = create_app(settings, env.client, engine, task_queue=task_queue)
    async with serve(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(locale="zh-CN")
            await page.goto(f"{base}/calls/{cycle_id}")
            await expect(page.locator("h1")).to_contain_text(programme.name_zh)
            await expect(page.locator("#window")).to_contain_text("正在受理申报")
            await snap(page, "01-call")
            await accessible(page, "call page")
            await page.get_by_label("联系邮箱").fill(email)
            await page.get_by_role("button", name="发送确认邮件").click()
            await expect(page.locator("main")).to_contain_text(f"确认邮件已发送至 {email}")

            _, token = await confirmation(inbox, email)
            await page.goto(f"{base}/a/{token}")
            await expect(page.locator("main")).to_contain_text(email)
            await page.get_by_label("申报主体类型").select_option("organisation")
            await page.get_by_label("名称（单位全称或个人姓名）").fill(fields["name"])
            code = page.get_by_label(re.compile("^统一社会信用代码"))
            await code.fill(fields["credit_code"][:-1] + ("0" if fields["credit_code"][-1] != "0" else "1"))
            await expect(page.locator("#credit_code-check")).to_contain_text("校验码错误")
            await code.fill(fields["credit_code"])
            await expect(page.locator("#credit_code-check")).to_have_text("代码格式与校验码正确")
            await page.get_by_label("申报类别").select_option(fields["category"])
            await page.get_by_label(re.compile("^所在地区")).fill(fields["region"])
            await page.get_by_label("联系人姓名").fill(fields["contact_person"])
            await page.get_by_label("联系电话").fill(fields["contact_phone"])
            for index, condition in enumerate(programme.conditions, start=1):
                await page.locator(f"#met-{condition.id}-yes").check()
                await page.get_by_label(f"依据说明（第{index}条）").fill(fields[f"evidence-{condition.id}"])
            await page.get_by_label("申报表（盖章扫描件）").set_input_files(files["申报表.pdf"])
            await page.get_by_label("自评报告").set_input_files(files["自评报告.pdf"])
            await snap(page, "02-form-filled")
            await accessible(page, "application form")
            await page.get_by_role("button", name="提交申报").click()
            await expect(page).to_have_url(f"{base}/a/{token}?done=submitted")
            await expect(page.locator("#done")).to_contain_text("申报已提交")
            await expect(page.locator("#documents")).to_contain_text("申报表.pdf")
            await expect(page.locator("#documents")).to_contain_text("自评报告.pdf")
            await snap(page, "03-submitted")
            await accessible(page, "status page")
            with session(engine) as s:
                link = queries.find_task_link(s, token_sha256=token_sha256(token))
            assert link is not None
            application_id = link.task_id  # the status link now opens the application
            form = await service.application_form(env.client, application_id)
            assert [d.size for d in form.documents] == [files[d.name].stat().st_size for d in form.documents]

            # The secretariat asks for a supplement; the applicant uploads it on the status page.
            others = simulator(env, engine, cycle_id, SupplementPlayer(programme=programme, asking=application_id))
            await play_until(env, others, application_id, ApplicationState.SUPPLEMENT_REQUESTED)
            await page.goto(f"{base}/a/{token}")
            supplement = page.locator("#supplement")
            await expect(supplement).to_contain_text(MISSING)
            await snap(page, "04-supplement-requested")
            await accessible(page, "supplement request")
            await supplement.get_by_label(re.compile("^补充材料文件")).set_input_files(files["审计报告.pdf"])
            await supplement.get_by_role("button", name="提交补充材料").click()
            await expect(page).to_have_url(f"{base}/a/{token}?done=supplement")
            await expect(page.locator("#documents")).to_contain_text("审计报告.pdf")
            await snap(page, "05-supplement-sent")

            # The others are played to the end; the status page carries the outcome letter.
            await play_until(env, others, application_id, ApplicationState.CONCLUDED)
            await page.goto(f"{base}/a/{token}")
            outcome = page.locator("#outcome")
            await expect(outcome).to_contain_text("评审结果通知")
            status = await service.application_status(env.client, application_id)
            assert status.outcome is not None
            await expect(outcome).to_contain_text(fields["name"])
            await snap(page, "06-outcome")
            await accessible(page, "outcome letter")
        finally:
            await browser.close()
    await terminate(env.client, cycle_id)
