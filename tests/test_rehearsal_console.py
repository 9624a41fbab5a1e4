"""'Play the others' from the cycle page: the simulator as a background task of the web app, against a real
rehearsal cycle on the time-skipping server."""

from __future__ import annotations

import asyncio
import html
import re
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from awardcycle import service
from awardcycle.timeline import fetch_timeline
from programmes import get_programme
from schemas.common import Channel, Role
from tests.console import console_session, page_until, section
from tests.scenario import apply_all, day_sleeper, forms, start, terminate
from web.rehearsal import Rehearsals

QINGDAO = "qingdao-mayor-quality-award"


def acts_done(page: str) -> int:
    found = re.search(r'id="rehearsal-acts">(\d+) 项', page)
    return int(found[1]) if found else 0


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found[1]


async def test_a_coordinator_plays_the_others_of_a_rehearsal_from_the_cycle_page(
    api: httpx.AsyncClient, env: WorkflowEnvironment, engine: Engine, task_queue: str
) -> None:
    programme = get_programme(QINGDAO)
    cycle_id = await start(env.client, programme, task_queue, f"play-{uuid.uuid4().hex[:6]}")
    labels = await apply_all(env.client, cycle_id, forms(programme))
    app: FastAPI = api._transport.app  # type: ignore[attr-defined]
    # The test server's clock moves only when asked: each idle look skips a cycle day instead of waiting.
    app.state.rehearsals = Rehearsals(pause=lambda _: day_sleeper(env))
    url = f"/console/cycles/{cycle_id}"
    begin, stop = f"{url}/rehearsal", f"{url}/rehearsal/stop"

    try:
        async with console_session(api, "qd-secretariat") as secretariat:
            page = await page_until(secretariat, url, lambda text: "申报列表" in text, answered=False)
            assert 'id="rehearsal"' not in page, "only the coordinator sees the button"
            refused = await secretariat.post(begin, data={"csrf": csrf_of(page), "departments": "yes"})
            assert refused.status_code == 403 and "coordinator@" in html.unescape(refused.text)

        async with console_session(api, "qd-coord") as coordinator:
            page = await page_until(coordinator, url, lambda text: 'id="form-rehearsal-start"' in text, answered=False)
            assert "未运行" in section(page, "rehearsal") and 'for="rehearsal-departments"' in page
            csrf = csrf_of(page)
            assert (await coordinator.post(begin, data={"departments": "yes"})).status_code == 403, "no CSRF value"
            started = await coordinator.post(begin, data={"csrf": csrf, "departments": "yes"})
            assert started.headers["location"] == f"{url}?rehearsal=started-departments#rehearsal", started.text
            again = await coordinator.post(begin, data={"csrf": csrf, "departments": "yes"})
            assert again.headers["location"] == f"{url}?rehearsal=running#rehearsal", "one run per cycle"
            assert "已在运行" in (await coordinator.get(again.headers["location"])).text

            page = await page_until(coordinator, url, lambda text: acts_done(text) >= len(labels), answered=False)
            panel = section(page, "rehearsal")
            assert "运行中" in panel and 'id="form-rehearsal-stop"' in panel and 'id="rehearsal-last"' in panel
            # Each act carries a known actor on channel simulation, and the account that started the run.
            timeline = await fetch_timeline(env.client, sorted(labels)[0])
            played = [e.actor for e in timeline.entries if e.kind == "update" and e.actor]
            assert played and all(a.channel is Channel.SIMULATION and a.principal == "qd-coord" for a in played)
            assert {a.role for a in played} >= {Role.SECRETARIAT}

            stopped = await coordinator.post(stop, data={"csrf": csrf})
            assert stopped.headers["location"] == f"{url}?rehearsal=stopped#rehearsal"
            page = (await coordinator.get(stopped.headers["location"])).text
            assert "已由 qd-coord 停止" in section(page, "rehearsal") and 'id="form-rehearsal-start"' in page
            idle = await coordinator.post(stop, data={"csrf": csrf})
            assert idle.headers["location"] == f"{url}?rehearsal=idle#rehearsal"

            # Started again, it plays the rest of the year: from the applications to the announcement.
            assert (await coordinator.post(begin, data={"csrf": csrf, "departments": "yes"})).status_code == 303
            run = app.state.rehearsals.get(cycle_id)
            assert run is not None and run.task is not None
            await asyncio.wait_for(asyncio.shield(run.task), timeout=300)
            assert run.ended == "周期已完成" and (await service.cycle_status(env.client, cycle_id)).completed
            page = await page_until(coordinator, url, lambda text: "周期已完成" in text, answered=False)
            assert 'id="form-rehearsal-start"' not in page, "a completed cycle has nothing left to play"
            audit = await coordinator.get(f"/audit/{cycle_id}", params={"channel": "simulation"})
            assert audit.status_code == 200 and "coordinator:qd-coord via simulation (by qd-coord)" in audit.text
            assert '<option value="simulation" selected>' in audit.text
    finally:
        await app.state.rehearsals.close()  # a failed check leaves no simulator behind on a closing server


async def test_the_web_apps_shutdown_cancels_a_running_rehearsal(
    api: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str
) -> None:
    cycle_id = await start(env.client, get_programme(QINGDAO), task_queue, f"play-{uuid.uuid4().hex[:6]}")
    app: FastAPI = api._transport.app  # type: ignore[attr-defined]
    never: asyncio.Event = asyncio.Event()

    async def wait_forever(_: object) -> None:
        await never.wait()

    app.state.rehearsals = Rehearsals(pause=lambda _: wait_forever)
    async with app.router.lifespan_context(app):
        async with console_session(api, "qd-coord") as coordinator:
            page = await page_until(coordinator, f"/console/cycles/{cycle_id}", lambda text: "csrf" in text)
            started = await coordinator.post(f"/console/cycles/{cycle_id}/rehearsal", data={"csrf": csrf_of(page)})
            assert started.status_code == 303
        run = app.state.rehearsals.get(cycle_id)
        assert run is not None and run.running
    assert not run.running and run.ended == "已停止", "the lifespan's end cancelled it"
    await terminate(env.client, cycle_id)
