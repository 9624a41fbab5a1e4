"""On the real dev server: logged-in users run a rehearsal through the CLI and the JSON API of a separate
`awardcycle web`, and the worker dies mid-stage."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
import uuid
from collections.abc import AsyncIterator
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from awardcycle import samples
from awardcycle.embedded import start_dev_server, start_mail_sink
from awardcycle.temporal_client import connect
from config.settings import Settings
from programmes import get_programme
from schemas.programme import StageKind
from store.db import make_engine
from tests.conftest import BACKENDS, free_port
from web.main import create_app

CLI = [sys.executable, "-m", "awardcycle"]
PROGRAMME = "qingdao-mayor-quality-award"
DAY_SECONDS = 0.5
COORDINATOR, AUDITOR = "wang.fang", "li.shen"
PASSWORD = "correct horse battery"
USERS = {
    COORDINATOR: ("王芳", f"coordinator@{PROGRAMME}", f"secretariat@{PROGRAMME}"),
    AUDITOR: ("李申", f"auditor@{PROGRAMME}"),
}


@pytest.fixture(scope="module", params=BACKENDS)
def stack_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The embedded stack's settings: the dev server and the `.eml` mail sink of `awardcycle up`, and the store
    on each backend (SQLite under the state directory, or an empty database on the session's PostgreSQL)."""
    postgresql = request.param == "postgresql"
    return Settings(
        home=tmp_path_factory.mktemp("stack"),
        database_url=request.getfixturevalue("postgres").create_database() if postgresql else None,
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        web_port=free_port(),
        smtp_port=free_port(),
        _env_file=None,
    )


def api_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.web_port}"


def config_home(settings: Settings, user: str) -> Path:
    """Each user's own XDG_CONFIG_HOME, where `awardcycle login` keeps that user's token."""
    return settings.home / "config" / user


def cli_env(settings: Settings, user: str) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("AWARDCYCLE_")}
    return {
        **inherited,
        "AWARDCYCLE_HOME": str(settings.home),
        "AWARDCYCLE_TEMPORAL_PORT": str(settings.temporal_port),
        "AWARDCYCLE_SMTP_HOST": "127.0.0.1",
        "AWARDCYCLE_SMTP_PORT": str(settings.smtp_port),
        "AWARDCYCLE_WEB_PORT": str(settings.web_port),
        "AWARDCYCLE_API_URL": api_url(settings),
        "XDG_CONFIG_HOME": str(config_home(settings, user)),
        **({"AWARDCYCLE_DATABASE_URL": settings.database_url} if settings.database_url else {}),
    }


@pytest.fixture
async def spawned() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """Processes a test starts; whatever still runs when it ends, pass or fail, is killed."""
    processes: list[asyncio.subprocess.Process] = []
    yield processes
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture(scope="module")
async def dev_client(stack_settings: Settings) -> AsyncIterator[Client]:
    async with start_dev_server(stack_settings), start_mail_sink(stack_settings):
        yield await connect(stack_settings)


def delivered(settings: Settings) -> list[str]:
    """The outbox id of every message the sink kept."""
    parser = BytesHeaderParser(policy=policy.default)
    return [
        str(parser.parsebytes(f.read_bytes())["Message-ID"]).strip().strip("<>").removesuffix("@awardcycle")
        for f in settings.mail_dir.glob("*.eml")
    ]


async def cli(settings: Settings, *args: str, user: str = COORDINATOR, stdin: str = "") -> tuple[int, str, str]:
    """A command as `user` (logged in or not), with `stdin` as its input."""
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        env=cli_env(settings, user),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def spawn(settings: Settings, *args: str) -> asyncio.subprocess.Process:
    """A long-running command, as the coordinator, whose output goes to a log file under the state directory."""
    log = settings.home / f"{args[0]}-{uuid.uuid4().hex[:4]}.log"
    with log.open("wb") as output:
        return await asyncio.create_subprocess_exec(
            *CLI, *args, env=cli_env(settings, COORDINATOR), stdout=output, stderr=output
        )


async def until_serving(settings: Settings) -> None:
    """Until `awardcycle web` answers, which it does once Temporal and the store do."""
    async with httpx.AsyncClient(base_url=api_url(settings)) as client, asyncio.timeout(60):
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.2)


async def add_users_and_log_in(settings: Settings) -> None:
    """The operator adds each user on the store; each user logs in with their own configuration directory."""
    for username, (name, *grants) in USERS.items():
        options = [option for grant in grants for option in ("--grant", grant)]
        code, out, err = await cli(
            settings, "users", "add", username, "--name", name, "--email", f"{username}@example.cn", *options,
            "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert code == 0, err
        code, out, err = await cli(settings, "login", username, "--password-stdin", user=username, stdin=PASSWORD)
        assert code == 0 and f"as {username}" in out, err
        token_file = config_home(settings, username) / "awardcycle" / "token.json"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert list(json.loads(token_file.read_text())) == [api_url(settings)]


async def bearer(api: httpx.AsyncClient, username: str) -> dict[str, str]:
    form = {"username": username, "password": PASSWORD}
    response = await api.post("/api/v1/login/access-token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def wait_for_stage(api: httpx.AsyncClient, cycle_id: str, stage: StageKind, seconds: float = 120) -> None:
    async with asyncio.timeout(seconds):
        while (await api.get(f"/api/v1/cycles/{cycle_id}")).json()["stage"] != stage.value:
            await asyncio.sleep(0.2)


async def timeline_actors(settings: Settings, workflow_id: str) -> list[dict[str, Any]]:
    """Who acted on a workflow, as the auditor's `audit timeline` shows it."""
    code, out, err = await cli(settings, "audit", "timeline", workflow_id, "--json", user=AUDITOR)
    assert code == 0, err
    return [e["actor"] for e in json.loads(out)["entries"] if e["actor"]]


async def audit(settings: Settings, api: httpx.AsyncClient, cycle_id: str, status: dict[str, Any]) -> None:
    """The auditors' commands on the finished rehearsal: replay, timeline, reconciliation, archive."""
    code, out, err = await cli(settings, "audit", "replay", "--cycle", cycle_id, "--json")
    report = json.loads(out)
    workflows = 1 + status["application_count"] + len(status["consultations"]) + 1
    assert code == 0 and report["failed"] == 0 and report["replayed"] == workflows, err
    code, out, err = await cli(settings, "audit", "timeline", status["consultations"][0], "--json", user=AUDITOR)
    assert code == 0 and json.loads(out)["workflow_id"] == status["consultations"][0], err
    # The logged-in coordinator: acting itself through the CLI (extend, apply, the simulator's approval) ...
    actors = await timeline_actors(settings, cycle_id)
    assert {"role": "coordinator", "identity": COORDINATOR, "channel": "cli", "principal": None} in actors
    assert {"role": "secretariat", "identity": COORDINATOR, "channel": "cli", "principal": None} in actors
    # ... and behind every person the simulator played.
    simulated = [
        a for a in await timeline_actors(settings, status["applications"][0]["application_id"])
        if a["channel"] == "simulation"
    ]  # fmt: skip
    assert {a["role"] for a in simulated} >= {"secretariat", "expert"}, simulated
    assert all(a["principal"] == COORDINATOR for a in simulated), simulated
    for consultation in status["consultations"]:
        # A department answers through its channel, or the overdue policy answers when the outage outlasted it.
        timeline = (await api.get(f"/api/v1/audit/{consultation}")).json()
        channels = {e["actor"]["channel"] for e in timeline["entries"] if e["actor"]}
        assert channels & {"simulation", "policy"}, timeline["entries"]
    code, out, err = await cli(settings, "audit", "verify", "--cycle", cycle_id)
    assert code == 0 and "agrees" in out, out + err
    async with asyncio.timeout(60):
        while True:
            code, out, err = await cli(settings, "audit", "replay", "--archive", "--cycle", cycle_id, "--json")
            if code == 0 and json.loads(out)["replayed"] == workflows:
                break
            await asyncio.sleep(1)  # the archive is written soon after the cycle closes


async def test_rehearsal_through_cli_and_api_survives_a_worker_crash(
    stack_settings: Settings,
    dev_client: Client,
    tmp_path: Path,
    spawned: list[asyncio.subprocess.Process],
) -> None:
    programme = get_programme(PROGRAMME)
    engine = make_engine(stack_settings)  # no tables yet: the worker and the web app migrate it as they start
    worker = await spawn(stack_settings, "worker")
    spawned.append(worker)
    spawned.append(await spawn(stack_settings, "web"))  # the web app on its own, as in a split deployment
    await until_serving(stack_settings)
    await add_users_and_log_in(stack_settings)
    transport = httpx.ASGITransport(app=create_app(stack_settings, dev_client, engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://awardcycle") as api:
        api.headers.update(await bearer(api, COORDINATOR))
        cycle_id = f"{PROGRAMME}-2026-{uuid.uuid4().hex[:6]}"
        code, out, err = await cli(
            stack_settings, "cycle", "start", PROGRAMME, "--year", "2026", "--day-seconds", str(DAY_SECONDS),
            "--cycle-id", cycle_id, "--json",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out) == {"cycle_id": cycle_id}
        code, out, err = await cli(
            stack_settings, "cycle", "extend", cycle_id, "--days", "1", "--reason", "补报材料", "--json"
        )
        assert code == 0 and f"{COORDINATOR}: +1" in json.loads(out)["extensions"][0], err
        code, out, err = await cli(
            stack_settings, "cycle", "start", PROGRAMME, "--year", "2026", "--day-seconds", "1", user=AUDITOR
        )
        assert code != 0 and f"needs coordinator@{PROGRAMME}" in err and out == ""

        forms = samples.applications(programme, 6, seed=7)
        for index, form in enumerate(forms[:4]):
            path = tmp_path / f"application-{index}.json"
            path.write_text(form.model_dump_json(), encoding="utf-8")
            code, out, err = await cli(stack_settings, "apply", cycle_id, "--file", str(path), "--json")
            assert code == 0, err
            assert json.loads(out)["application_id"].startswith(cycle_id)
        for form in forms[4:]:
            response = await api.post(f"/api/v1/cycles/{cycle_id}/applications", json=form.model_dump(mode="json"))
            assert response.status_code == 201, response.text

        duplicate = tmp_path / "duplicate.json"
        duplicate.write_text(forms[0].model_copy(update={"name": "另一家"}).model_dump_json(), encoding="utf-8")
        code, out, err = await cli(stack_settings, "apply", cycle_id, "--file", str(duplicate))
        assert code != 0 and "重复申报" in err and out == ""
        malformed = tmp_path / "malformed.json"
        malformed.write_text('{"applicant_kind": "organisation", "name": ', encoding="utf-8")
        code, out, err = await cli(stack_settings, "apply", cycle_id, "--file", str(malformed))
        assert code != 0 and "malformed.json" in err and len(err.strip().splitlines()) == 1

        simulation = await spawn(stack_settings, "simulate", cycle_id, "--departments", "--seed", "3")
        spawned.append(simulation)
        await wait_for_stage(api, cycle_id, StageKind.CONSULTATION)  # lasts to its deadline
        async with asyncio.timeout(60):  # kill the worker while it sends the departments' requests
            while not [i for i in delivered(stack_settings) if i.startswith(f"{cycle_id}.consultation-")]:
                await asyncio.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        await asyncio.sleep(10 * DAY_SECONDS)
        worker = await spawn(stack_settings, "worker")
        spawned.append(worker)
        try:
            assert await asyncio.wait_for(simulation.wait(), timeout=300) == 0
            code, out, err = await cli(stack_settings, "cycle", "status", cycle_id, "--json")
            await audit(stack_settings, api, cycle_id, json.loads(out))
        finally:
            worker.send_signal(signal.SIGTERM)
            await worker.wait()
        assert code == 0, err
        status = json.loads(out)
        assert status["completed"] and status["approval"]["document_number"]
        assert status["application_count"] == status["total"] == len(status["applications"]) == 6
        assert status["counts"]["concluded"] == 6 and all(a["outcome"] for a in status["applications"])
        winners = [a for a in status["awards"] if a["award"] == "winner"]
        assert 0 < len(winners) <= programme.quotas.winners
        for application in status["applications"]:  # finished with its outcome, not terminated by the cycle
            described = await dev_client.get_workflow_handle(application["application_id"]).describe()
            assert described.status is WorkflowExecutionStatus.COMPLETED, application["application_id"]
        assert status["undelivered"] == []
        sent = [i for i in delivered(stack_settings) if i.startswith(f"{cycle_id}.")]
        assert len(sent) == len(set(sent)), "no message twice, though the worker died while sending"
        requests = {i.split("/")[0] for i in sent if i.endswith("/request")}
        assert requests == set(status["consultations"])
        code, out, err = await cli(stack_settings, "cycle", "list", "--json")
        assert any(c["cycle_id"] == cycle_id and c["completed"] for c in json.loads(out))
