"""The JSON API against the time-skipping server: nothing mocked, one worker per test."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.notify import NotificationActivities, token_sha256
from awardcycle import samples
from awardcycle.acts import ACTS
from config.settings import Settings
from notifications.mailer import Mailer
from programmes import get_programme
from schemas import ids
from schemas.notification import MessageRequest
from schemas.programme import Programme, StageKind
from store import queries
from store.db import session
from tests.conftest import Inbox, free_port
from tests.scenario import StrongPlayer, apply_all, forms, link_token, small, start, until_stage
from web.main import RedactTokens, create_app
from web.routes.tasks import INVALID

QINGDAO = "qingdao-mayor-quality-award"


def actor(role: str, identity: str, channel: str = "api") -> dict[str, str]:
    return {"role": role, "identity": identity, "channel": channel}


def form(programme: Programme, index: int) -> dict[str, Any]:
    return samples.application(programme, index).model_dump(mode="json")


async def test_programmes(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/api/v1/programmes")).json()
    qingdao = next(p for p in listed["data"] if p["id"] == QINGDAO)
    assert listed["count"] == len(listed["data"])
    assert set(qingdao) == {"id", "name_zh", "name_en", "level", "every_years", "feeds"}
    assert qingdao["feeds"][0]["programme"] == "shandong-governor-quality-award"

    shown = (await api.get(f"/api/v1/programmes/{QINGDAO}")).json()
    assert shown["conditions"][0].keys() == {"id", "text"}

    unknown = await api.get("/api/v1/programmes/no-such-award")
    assert unknown.status_code == 404
    assert "unknown programme 'no-such-award'" in unknown.json()["detail"]


async def test_cycle_applications_and_acts(api: httpx.AsyncClient) -> None:
    programme = get_programme(QINGDAO)
    cycle_id = f"{QINGDAO}-2026-api-{uuid.uuid4().hex[:6]}"
    body = {"programme": QINGDAO, "year": 2026, "day_seconds": 86400, "cycle_id": cycle_id}
    started = await api.post("/api/v1/cycles", json=body)
    assert (started.status_code, started.json()) == (201, {"cycle_id": cycle_id})
    again = await api.post("/api/v1/cycles", json=body)
    assert again.status_code == 409 and "already exists" in again.json()["detail"]

    status = (await api.get(f"/api/v1/cycles/{cycle_id}")).json()
    assert (status["stage"], status["cycle_time"][:10]) == ("application", "2026-03-01")
    assert (status["application_count"], status["total"], status["applications"]) == (0, 0, [])

    apply = f"/api/v1/cycles/{cycle_id}/applications"
    accepted = await api.post(apply, json=form(programme, 1))
    assert accepted.status_code == 201
    application_id = accepted.json()["application_id"]
    assert accepted.json().keys() == {"application_id", "received_at"}

    wrong_check = form(programme, 2)
    code = wrong_check["credit_code"]
    wrong_check["credit_code"] = code[:-1] + ("1" if code[-1] != "1" else "2")
    refused = await api.post(apply, json=wrong_check)
    assert refused.status_code == 422 and "check digit" in refused.json()["detail"]

    duplicate = await api.post(apply, json=form(programme, 1))
    assert duplicate.status_code == 409 and "duplicate application" in duplicate.json()["detail"]

    missing = form(programme, 3)
    missing["conditions"] = missing["conditions"][:1]
    refused = await api.post(apply, json=missing)
    assert refused.status_code == 409 and "conditions must list each of" in refused.json()["detail"]

    assert (await api.post(apply, json={**form(programme, 4), "nickname": "x"})).status_code == 422

    shown = await api.get(f"/api/v1/applications/{application_id}")
    assert shown.status_code == 200 and shown.json()["application_id"] == application_id
    overview = await _eventually_shown(api, cycle_id)
    assert overview["application_count"] == sum(overview["counts"].values()) == 1
    [view] = overview["applications"]
    assert (view["application_id"], view["name"]) == (application_id, form(programme, 1)["name"])

    decide = f"/api/v1/applications/{application_id}/acts/decide_qualification"
    claimed = {"actor": actor("secretariat", "mallory"), "verdicts": []}
    assert (await api.post(decide, json=claimed)).status_code == 422, "an actor in the body is refused"
    incomplete = await api.post(decide, json={"verdicts": []})
    assert incomplete.status_code == 409 and "this act needs qualification" in incomplete.json()["detail"]
    wrong_kind = await api.post(f"/api/v1/consultations/{cycle_id}/acts/answer", json={"answers": []})
    assert wrong_kind.status_code == 404

    listed = await _eventually_listed(api, cycle_id)
    assert listed["programme_id"] == QINGDAO


def _cycle_row(cycle_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "cycle_id": cycle_id,
        "programme_id": QINGDAO,
        "year": 2026,
        "started_at": now,
        "day_seconds": None,
        "stage": "application",
        "completed": False,
        "updated_at": now,
    }


async def _eventually_shown(api: httpx.AsyncClient, cycle_id: str) -> dict[str, Any]:
    """The application writes its view to the read model just after it is accepted."""
    for _ in range(100):
        overview: dict[str, Any] = (await api.get(f"/api/v1/cycles/{cycle_id}", params={"limit": 10})).json()
        if overview["total"]:
            return overview
        await asyncio.sleep(0.05)
    raise AssertionError(f"no application of {cycle_id} reached the read model")


async def _eventually_listed(api: httpx.AsyncClient, cycle_id: str) -> dict[str, Any]:
    """The read model is written by an activity shortly after the cycle opens."""
    for _ in range(100):
        rows = (await api.get("/api/v1/cycles", params={"year": 2026})).json()["data"]
        if found := next((r for r in rows if r["cycle_id"] == cycle_id), None):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{cycle_id} never reached the read model")


async def test_openapi_and_health(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    assert document["info"]["title"] == "awardcycle"
    for act in ACTS.values():
        operation = document["paths"][f"/api/v1/{act.workflow}s/{{workflow_id}}/acts/{act.name}"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{act.input.__name__}Body"}
        fields = document["components"]["schemas"][f"{act.input.__name__}Body"]["properties"]
        assert not {"actor", "client_address"} & set(fields), act.name
    health = await api.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"temporal": "ok", "store": "ok"})


async def test_health_without_store(env: WorkflowEnvironment, settings: Settings, tmp_path: Path) -> None:
    unreachable = create_engine(f"sqlite:///{tmp_path / 'missing' / 'store.db'}")
    app = create_app(settings, env.client, unreachable)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        health = await client.get("/healthz")
    assert (health.status_code, health.json()) == (503, {"temporal": "ok", "store": "unavailable"})


def test_access_log_hides_tokens() -> None:
    args = ("127.0.0.1:5000", "POST", "/api/v1/tasks/Zm9vYmFyYmF6cXV1eGZvb2Jhcg?x=1", "1.1", 200)
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', args, None)
    assert RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "POST /api/v1/tasks/…?x=1 HTTP/1.1" 200'


async def test_task_link_end_to_end(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    task_queue: str,
    engine: Engine,
    inbox: Inbox,
) -> None:
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"api-{uuid.uuid4().hex[:6]}")
    await apply_all(env.client, cycle_id, forms(programme))
    status = await until_stage(
        env, engine, cycle_id, StrongPlayer(programme=programme), StageKind.CONSULTATION, opened="consultations"
    )
    candidates = [c.application_id for c in status.shortlist]
    assert candidates
    first, second = programme.departments[:2]
    consultation_id = ids.consultation_id(cycle_id, first.id)
    token = await link_token(inbox, f"{consultation_id}/request")

    shown = await api.get(f"/api/v1/tasks/{token}")
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store" and shown.headers["referrer-policy"] == "no-referrer"
    task = shown.json()
    assert (task["task_id"], task["kind"], task["department"]["id"]) == (
        consultation_id,
        "consultation",
        first.id,
    )
    assert [c["application_id"] for c in task["candidates"]] == candidates
    assert (task["answered"], task["revision"], task["answers"]) == (False, 0, [])
    digest = token_sha256(token)
    with session(engine) as s:
        link = queries.find_task_link(s, token_sha256=digest)
        assert link is not None and link.last_used_at is None, "GET changes nothing"

    answers = [
        {
            "application_id": a,
            "opinion": "objection" if a == candidates[0] else "no_objection",
            "reason": "存在失信记录",
        }
        for a in candidates
    ]
    answered = await api.post(f"/api/v1/tasks/{token}", json={"answers": answers, "expected_revision": 0})
    assert answered.status_code == 200
    assert (answered.json()["act"], answered.json()["revision"]) == ("answer", 1)
    stale = await api.post(f"/api/v1/tasks/{token}", json={"answers": answers, "expected_revision": 0})
    assert stale.status_code == 409 and "stale revision 0" in stale.json()["detail"]
    assert stale.headers["referrer-policy"] == "no-referrer"
    with session(engine) as s:
        link = queries.find_task_link(s, token_sha256=digest)
        assert link is not None and link.last_used_at is not None
    consultation = (await api.get(f"/api/v1/consultations/{consultation_id}")).json()
    assert consultation["answered_by"] == {**actor("department", first.id, "link"), "principal": None}

    # Through the act route, an account records a department's answer received on paper, under its own name.
    no_objection = [{"application_id": a, "opinion": "no_objection"} for a in candidates]
    workflow_id = ids.consultation_id(cycle_id, second.id)
    done = await api.post(f"/api/v1/consultations/{workflow_id}/acts/answer", json={"answers": no_objection})
    assert done.status_code == 200, done.text
    recorded = (await api.get(f"/api/v1/consultations/{workflow_id}")).json()["answered_by"]
    assert recorded == {**actor("coordinator", "staff", "paper"), "principal": None}

    for wrong in ("short", secrets.token_urlsafe(32)):
        refused = await api.get(f"/api/v1/tasks/{wrong}")
        assert (refused.status_code, refused.json()) == (404, {"detail": INVALID})
    with session(engine) as s:
        queries.revoke_task_links(s, task_id=consultation_id)
    revoked = await api.get(f"/api/v1/tasks/{token}")
    assert (revoked.status_code, revoked.json()) == (410, {"detail": INVALID})

    expired = await link_token(inbox, f"{ids.consultation_id(cycle_id, second.id)}/request")
    with session(engine) as s:
        link = queries.find_task_link(s, token_sha256=token_sha256(expired))
        assert link is not None
        link.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    for response in (
        await api.get(f"/api/v1/tasks/{expired}"),
        await api.post(f"/api/v1/tasks/{expired}", json={"answers": no_objection}),
    ):
        assert (response.status_code, response.json()) == (410, {"detail": INVALID})


async def test_undelivered_messages_are_listed_without_bodies(
    api: httpx.AsyncClient, settings: Settings, engine: Engine
) -> None:
    cycle_id = f"qingdao-mayor-quality-award-2026-down-{uuid.uuid4().hex[:6]}"
    for listed_id in (cycle_id, f"{cycle_id}-other"):
        with session(engine) as s:
            queries.upsert_cycle(s, **_cycle_row(listed_id))
    down = settings.model_copy(update={"smtp_port": free_port()})  # nothing listens there
    activities = NotificationActivities(down, engine, Mailer(down))
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=f"{cycle_id}.consultation-gaj")
    request = MessageRequest(
        message_id=f"{cycle_id}.consultation-gaj/reminder-1",
        recipient_email="quality@gaj.example.cn",
        template="objection_received",
        context={
            "programme": "青岛市市长质量奖",
            "objector": "李四",
            "objection_id": "GS2026-0001",
            "received_at": "2026-06-01T10:00:00+08:00",
            "candidate": "甲公司",
        },
    )
    with pytest.raises(ApplicationError, match="SMTP send"):
        await env.run(activities.send_message, request)

    listed = (await api.get(f"/api/v1/cycles/{cycle_id}/undelivered")).json()
    assert listed["count"] == 1
    [message] = listed["data"]
    assert (message["message_id"], message["status"], message["attempts"]) == (request.message_id, "failed", 1)
    assert message["last_error"] and "body_text" not in message and "body_html" not in message
    assert (await api.get(f"/api/v1/cycles/{cycle_id}-other/undelivered")).json()["count"] == 0
