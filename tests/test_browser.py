"""A department answers its consultation in headless Chromium, from the link in its request email."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI
from playwright.async_api import async_playwright, expect
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from awardcycle import service
from config.settings import Settings
from programmes import get_programme
from schemas import ids
from schemas.consultation import Opinion
from schemas.programme import StageKind
from tests.conftest import Inbox, free_port
from tests.scenario import StrongPlayer, apply_all, forms, mail, small, start, text_body, until_stage
from tests.test_api import QINGDAO
from web.main import create_app

CHROMIUM = Path("/usr/bin/chromium")
# The network is closed: no GPU, no QUIC and none of Chromium's background calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
URL = re.compile(r"https?://\S+/t/[A-Za-z0-9_-]+")


async def _email_link(inbox: Inbox, consultation_id: str) -> str:
    """The task link as written in the text body of the department's request email."""
    match = URL.search(text_body(await mail(inbox, f"{consultation_id}/request")))
    assert match is not None, "the request email has no link"
    return match.group(0)


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """A real uvicorn server on a free loopback port, in this event loop; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await task


async def test_answer_in_browser(
    env: WorkflowEnvironment, task_queue: str, inbox: Inbox, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    # Fail, not skip: `make test` installs Chromium.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make test` (it installs chromium fonts-noto-cjk)"
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"browser-{uuid.uuid4().hex[:6]}")
    await apply_all(env.client, cycle_id, forms(programme))
    player = StrongPlayer(programme=programme)
    status = await until_stage(env, engine, cycle_id, player, StageKind.CONSULTATION, opened="consultations")
    candidates = status.shortlist
    assert candidates
    department = programme.departments[0]
    consultation_id = ids.consultation_id(cycle_id, department.id)
    emailed = urlsplit(await _email_link(inbox, consultation_id))
    first = candidates[0].application_id
    reason = "存在失信记录"

    app = create_app(settings, env.client, engine, task_queue=task_queue)
    async with serve(app) as base, async_playwright() as playwright:
        local = urlsplit(base)
        link = emailed._replace(scheme=local.scheme, netloc=local.netloc).geturl()
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(locale="zh-CN")
            await page.goto(link)
            await expect(page).to_have_title(f"{programme.name_zh} · 征求意见")
            await expect(page.get_by_text(department.name_zh, exact=True)).to_be_visible()
            for c in candidates:
                await expect(page.get_by_role("cell", name=c.name, exact=True)).to_be_visible()
                opinion = "objection" if c.application_id == first else "no_objection"
                await page.check(f'input[name="opinion-{c.application_id}"][value="{opinion}"]')
            await page.fill(f'[name="reason-{first}"]', reason)
            await page.get_by_role("button", name="提交意见").click()

            await expect(page).to_have_title(f"{programme.name_zh} · 意见已提交")
            await expect(page.get_by_text(f"{department.name_zh} 的意见已记录：第 1 版")).to_be_visible()
            await expect(page.get_by_role("row").filter(has_text=candidates[0].name)).to_contain_text(f"有异议{reason}")
            await page.screenshot(path=tmp_path / "receipt.png", full_page=True)
        finally:
            await browser.close()

    current = await service.consultation_status(env.client, consultation_id)
    assert current.revision == 1 and current.answered_by is not None
    assert current.answered_by.channel.value == "link"
    objections = [(a.application_id, a.reason) for a in current.answers if a.opinion is Opinion.OBJECTION]
    assert objections == [(first, reason)]
