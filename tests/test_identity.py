"""Who acts comes from a login: accounts, tokens, grants per programme, and what each role may see."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from awardcycle import samples
from config.settings import Settings
from programmes import get_programme
from schemas.application import ApplicationState, ApplicationStatus
from schemas.common import Channel
from schemas.identity import AccountRole, Grant, GrantError, Principal
from schemas.notice import NoticeObjection, NoticeStatus
from schemas.programme import StageKind
from store import accounts, queries
from store.db import session
from store.tables import AccessToken
from tests.conftest import PASSWORD, free_port, login
from web import visibility
from web.auth import SESSION_COOKIE, Access, CycleFacts, token_holder
from web.main import create_app
from web.routes.console import signed_in

QINGDAO = "qingdao-mayor-quality-award"
JINAN = "jinan-mayor-quality-award"
# Routes anyone may call, by endpoint: the catalogue, health, logging in and out, and what people reach
# by link or on public notices.
PUBLIC = {
    "healthz",
    "login_access_token",
    "list_programmes",
    "show_programme",
    "show_task",
    "answer_task",
    "show_page",
    "answer_page",
    "show_notice",
    "lodge_objection",
    "notices_feed",
    "login_page",
    "login_submit",
    "logout_submit",
    # Behind a token sent by email, as the task pages above: an expert's documents, an applicant's link.
    "expert_document",
    "show_call",
    "confirm_email",
    "applicant_page",
    "submit_application_form",
    "upload_supplement",
    "withdraw_application",
    "applicant_document",
}
PUBLIC_API = {"/healthz", "/api/v1/login/access-token", "/api/v1/programmes", "/api/v1/programmes/{programme_id}"}
PUBLIC_API |= {"/api/v1/tasks/{token}"}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"}  # /static: the pages' script


def _routes(routes: list[Any]) -> list[Any]:
    flat = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        flat.extend(_routes(inner.routes) if inner is not None else [route])
    return flat


def _calls(dependant: Any) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def test_every_private_or_state_changing_route_needs_a_login(settings: Settings) -> None:
    app = create_app(settings, client=None, engine=None)
    checked = 0
    for route in _routes(app.routes):
        if not isinstance(route, APIRoute):
            assert route.path in DOCS, route.path
            continue
        guarded = bool({token_holder, signed_in} & _calls(route.dependant))
        public = route.endpoint.__name__ in PUBLIC
        checked += 1
        assert guarded or public, f"{route.methods} {route.path} ({route.endpoint.__name__}) has no login"
        assert not (guarded and public), f"{route.path} is listed as public but needs a login"
    assert checked > 50


CYCLE = f"{QINGDAO}-2026"
# A well-shaped id for each kind of path, so the call gets as far as the credential check.
SAMPLE_IDS = {
    "/applications/": f"{CYCLE}.app-0001",
    "/consultations/": f"{CYCLE}.consultation-gaj",
    "/notices/": f"{CYCLE}.notice",
    "/titles/": f"{CYCLE}.title-0001",
    "/users/": "staff",
}


def _dummy(path: str) -> str:
    sample = next((value for prefix, value in SAMPLE_IDS.items() if prefix in path), CYCLE)
    return re.sub(r"\{[^}]+\}", sample, path)


async def test_anonymous_callers_get_401_or_the_login_page(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method in operations:
            if path in PUBLIC_API or not path.startswith("/api/v1/"):
                continue  # the pages redirect to the login page instead, checked below
            answer = await anonymous.request(method.upper(), _dummy(path), json={})
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "authentication required" in answer.json()["detail"]
    for page in ("/console", f"/audit/{QINGDAO}-2026"):
        answer = await anonymous.get(page)
        assert (answer.status_code, answer.headers.get("location")) == (303, f"/login?next={page}"), page


async def test_login_failures_say_nothing_about_the_name(anonymous: httpx.AsyncClient, engine: Engine) -> None:
    with session(engine) as s:
        accounts.add_account(
            s, "gone", name_zh="已停用", email="gone@quality.example.cn", password=PASSWORD,
            grants=[], by=accounts.OPERATOR, address="local",
        )  # fmt: skip
        accounts.disable(s, "gone", by=accounts.OPERATOR, address="local")
    form = "/api/v1/login/access-token"
    wrong = await anonymous.post(form, data={"username": "staff", "password": "not-the-password"})
    unknown = await anonymous.post(form, data={"username": "nobody-here", "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": accounts.WRONG_LOGIN}
    disabled = await anonymous.post(form, data={"username": "gone", "password": PASSWORD})
    assert disabled.status_code == 403 and "disabled" in disabled.json()["detail"]
    good = await anonymous.post(form, data={"username": "staff", "password": PASSWORD})
    assert good.status_code == 200
    assert good.json()["token_type"] == "bearer" and good.json()["expires_in"] == 480 * 60
    with session(engine) as s:
        stored = s.get(AccessToken, accounts.token_sha256(good.json()["access_token"]))
        assert stored is not None and stored.username == "staff", "only the token's hash is kept"


async def test_five_failures_lock_a_name_known_or_not(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, task_queue: str
) -> None:
    app = create_app(settings, env.client, engine, task_queue=task_queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        with session(engine) as s:
            accounts.add_account(
                s, "locked-out", name_zh="锁定", email="lock@quality.example.cn", password=PASSWORD,
                grants=[], by=accounts.OPERATOR, address="local",
            )  # fmt: skip
        answers = []
        for name in ("locked-out", "no-such-user"):
            for _ in range(settings.lockout_failures):
                bad = {"username": name, "password": "wrong-wrong-wrong"}
                answers.append((await client.post("/api/v1/login/access-token", data=bad)).status_code)
            right = await client.post("/api/v1/login/access-token", data={"username": name, "password": PASSWORD})
            assert right.status_code == 429 and "15 分钟" in right.json()["detail"], name
        assert answers == [401] * 10
        with session(engine) as s:
            kinds = [e.kind for e in accounts.list_events(s, offset=0, limit=20, username="locked-out")]
        assert "locked" in kinds and kinds.count("login_failed") >= settings.lockout_failures


async def test_tokens_expire_are_revoked_and_cannot_be_forged(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient, engine: Engine
) -> None:
    headers = await login(anonymous, "auditor")
    assert (await anonymous.get("/api/v1/users/me", headers=headers)).json()["username"] == "auditor"
    assert (await anonymous.post("/api/v1/logout", headers=headers)).status_code == 204
    revoked = await anonymous.get("/api/v1/users/me", headers=headers)
    assert revoked.status_code == 401 and "expired, revoked" in revoked.json()["detail"]

    expiring = await login(anonymous, "auditor")
    with session(engine) as s:
        row = s.get(AccessToken, accounts.token_sha256(expiring["Authorization"].removeprefix("Bearer ")))
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        s.add(row)
    assert (await anonymous.get("/api/v1/users/me", headers=expiring)).status_code == 401
    anonymous.cookies.set(SESSION_COOKIE, "forged-session-value-0123456789")
    assert (await anonymous.get("/api/v1/users/me")).status_code == 401
    anonymous.cookies.clear()
    with session(engine) as s:
        kinds = {e.kind for e in accounts.list_events(s, offset=0, limit=50, username="auditor")}
    assert {"login", "logout"} <= kinds


async def test_console_session_needs_csrf_on_every_form(anonymous: httpx.AsyncClient) -> None:
    page = await anonymous.get("/login?next=/console")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf
    no_csrf = await anonymous.post("/login", data={"username": "staff", "password": PASSWORD, "next": "/console"})
    assert no_csrf.status_code == 403 and "表单已失效" in no_csrf.text
    twice = await anonymous.post(
        "/login", content=f"username=staff&username=admin&password={PASSWORD}&csrf={csrf[1]}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert twice.status_code == 400
    page = await anonymous.get("/login?next=//evil.example.com/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    fields = {"username": "staff", "password": PASSWORD, "csrf": csrf[1], "next": "//evil.example.com/"}
    signed = await anonymous.post("/login", data=fields)
    assert (signed.status_code, signed.headers["location"]) == (303, "/console"), "never off-site"
    cookie = signed.headers["set-cookie"]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    console = await anonymous.get("/console")
    assert console.status_code == 200 and "测试staff" in console.text and "coordinator@*" in console.text
    session_csrf = re.search(r'name="csrf" value="([^"]+)"', console.text)
    assert session_csrf
    body = {"programme": QINGDAO, "year": 2026, "day_seconds": 86400}
    assert (await anonymous.post("/api/v1/cycles", json=body)).status_code == 403, "a cookie POST needs the CSRF"
    assert (await anonymous.post("/logout")).status_code == 403
    out = await anonymous.post("/logout", data={"csrf": session_csrf[1]})
    assert out.status_code == 303
    anonymous.cookies.clear()


async def _start(api: httpx.AsyncClient, programme: str, headers: dict[str, str] | None = None) -> str:
    cycle_id = f"{programme}-2026-id-{uuid.uuid4().hex[:6]}"
    body = {"programme": programme, "year": 2026, "day_seconds": 86400, "cycle_id": cycle_id}
    started = await api.post("/api/v1/cycles", json=body, headers=headers)
    assert started.status_code == 201, started.text
    return cycle_id


async def test_grants_hold_per_programme(api: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    qingdao = await login(anonymous, "qd-coord")
    jinan_cycle = await _start(api, JINAN)
    qingdao_cycle = await _start(anonymous, QINGDAO, qingdao)
    extend = {"working_days": 2, "reason": "材料延迟"}

    start_jinan = {"programme": JINAN, "year": 2026, "day_seconds": 86400, "cycle_id": f"{JINAN}-2026-x"}
    for method, path, body in (
        ("POST", "/api/v1/cycles", start_jinan),
        ("GET", f"/api/v1/cycles/{jinan_cycle}", None),
        ("POST", f"/api/v1/cycles/{jinan_cycle}/acts/extend_deadline", extend),
        ("GET", f"/api/v1/audit/{jinan_cycle}", None),
    ):
        refused = await anonymous.request(method, path, json=body, headers=qingdao)
        assert refused.status_code == 403, (path, refused.text)
        assert re.match(r"[\u4e00-\u9fff]+", refused.json()["detail"]), "a reason in Chinese, then English"
    listed = (await anonymous.get("/api/v1/cycles", headers=qingdao)).json()["data"]
    assert jinan_cycle not in {c["cycle_id"] for c in listed}

    extended = await anonymous.post(
        f"/api/v1/cycles/{qingdao_cycle}/acts/extend_deadline", json=extend, headers=qingdao
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["extensions"] == ["qd-coord: +2 工作日, 材料延迟"]
    secretariat = await login(anonymous, "qd-secretariat")
    denied = await anonymous.post(
        f"/api/v1/cycles/{qingdao_cycle}/acts/extend_deadline", json=extend, headers=secretariat
    )
    assert denied.status_code == 403 and "coordinator@qingdao-mayor-quality-award" in denied.json()["detail"]
    claimed = {**extend, "actor": {"role": "coordinator", "identity": "mallory-invented", "channel": "api"}}
    forged = await anonymous.post(f"/api/v1/cycles/{qingdao_cycle}/acts/extend_deadline", json=claimed, headers=qingdao)
    assert forged.status_code == 422
    timeline = (await anonymous.get(f"/api/v1/audit/{qingdao_cycle}", headers=await login(anonymous, "auditor"))).json()
    actors = [e["actor"] for e in timeline["entries"] if e["actor"]]
    assert {"role": "coordinator", "identity": "qd-coord", "channel": "api", "principal": None} in actors
    assert not any(a["identity"] == "mallory-invented" for a in actors)


async def test_departments_and_experts_act_only_through_their_links(api: httpx.AsyncClient, engine: Engine) -> None:
    cycle_id = await _start(api, QINGDAO)
    programme = get_programme(QINGDAO)
    accepted = await api.post(
        f"/api/v1/cycles/{cycle_id}/applications", json=samples.application(programme, 1).model_dump(mode="json")
    )
    assert accepted.status_code == 201, accepted.text
    application_id = accepted.json()["application_id"]
    score = await api.post(f"/api/v1/applications/{application_id}/acts/submit_score", json={"scores": {}})
    assert score.status_code == 403 and "a task link" in score.json()["detail"]
    live = f"{QINGDAO}-2026-live-{uuid.uuid4().hex[:6]}"  # a real-time cycle, as the read model knows it
    now = datetime.now(UTC)
    with session(engine) as s:
        queries.upsert_cycle(
            s, cycle_id=live, programme_id=QINGDAO, year=2026, started_at=now, day_seconds=None,
            stage="application", completed=False, updated_at=now,
        )  # fmt: skip
    simulated = await api.post(
        f"/api/v1/applications/{live}.app-0001/acts/submit_score",
        params={"simulate": "expert:qdm-01"},
        json={"scores": {}},
    )
    assert simulated.status_code == 403 and "rehearsal" in simulated.json()["detail"]
    body = {"answers": [], "client_address": "203.0.113.9"}
    spoofed = await api.post(f"/api/v1/consultations/{cycle_id}.consultation-gaj/acts/answer", json=body)
    assert spoofed.status_code == 422, "a client address is never taken from a body"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"day_seconds": 1.7e37}, "less than or equal to 86400"),
        ({"day_seconds": 0.01}, "greater than or equal to 0.1"),
        ({"year": 85177033701076355776512}, "less than or equal to 2100"),
        ({"cycle_id": f"{JINAN}-2026-squat"}, "starts with 'qingdao-mayor-quality-award-'"),
    ],
)
async def test_start_refuses_insane_values(api: httpx.AsyncClient, change: dict[str, Any], reason: str) -> None:
    body = {"programme": QINGDAO, "year": 2026, "day_seconds": 60, **change}
    refused = await api.post("/api/v1/cycles", json=body)
    assert refused.status_code == 422 and reason in str(refused.json()["detail"]), refused.text


async def test_administrators_manage_accounts(anonymous: httpx.AsyncClient, engine: Engine) -> None:
    admin = await login(anonymous, "admin")
    name = f"u{uuid.uuid4().hex[:8]}"
    body = {
        "username": name,
        "name_zh": "王协调",
        "email": f"{name}@quality.example.cn",
        "grants": [f"coordinator@{QINGDAO}"],
    }
    created = await anonymous.post("/api/v1/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["account"]["grants"] == [f"coordinator@{QINGDAO}"]
    assert (await anonymous.post("/api/v1/users", json=body, headers=admin)).status_code == 409
    for grant, reason in (
        ("chief@*", "unknown role"),
        ("coordinator@no-such", "unknown programme"),
        ("admin@x", "admin@*"),
    ):
        refused = await anonymous.post(f"/api/v1/users/{name}/grant", json={"grant": grant}, headers=admin)
        assert refused.status_code == 422 and reason in refused.json()["detail"], grant
    coordinator = await login(anonymous, "qd-coord")
    assert (
        await anonymous.post("/api/v1/users", json={**body, "username": "x" + name}, headers=coordinator)
    ).status_code == 403
    assert (await anonymous.get("/api/v1/auth/events", headers=coordinator)).status_code == 403
    events = (
        await anonymous.get("/api/v1/auth/events", params={"username": name}, headers=await login(anonymous, "auditor"))
    ).json()
    assert {e["kind"] for e in events["data"]} == {"user_added", "granted"}
    assert all(e["by"] == "admin" for e in events["data"])
    one_time = created.json()["password"]
    first = await login(anonymous, name, one_time)
    held = await anonymous.get("/api/v1/cycles", headers=first)
    assert held.status_code == 403 and "one-time password" in held.json()["detail"]
    change = {"current_password": one_time, "new_password": "a-password-of-my-own"}
    wrong = await anonymous.post(
        "/api/v1/users/me/password", json={**change, "current_password": "x" * 12}, headers=first
    )
    assert wrong.status_code == 422 and "current password is wrong" in wrong.json()["detail"]
    assert (await anonymous.post("/api/v1/users/me/password", json=change, headers=first)).status_code == 204
    assert (await anonymous.get("/api/v1/users/me", headers=first)).status_code == 401, "log in again"
    own = await login(anonymous, name, "a-password-of-my-own")
    assert (await anonymous.get("/api/v1/cycles", headers=own)).status_code == 200
    assert (await anonymous.post(f"/api/v1/users/{name}/disable", headers=admin)).status_code == 200
    assert (await anonymous.get("/api/v1/users/me", headers=own)).status_code == 401, "disabling ends its tokens"


def test_grants_parse_strictly() -> None:
    assert str(Grant.parse("auditor@*")) == "auditor@*"
    for text in ("coordinator", "coordinator@", "@qingdao", "root@*", "admin@qingdao-mayor-quality-award"):
        with pytest.raises(GrantError):
            Grant.parse(text)


def _reader(*roles: AccountRole) -> Access:
    principal = Principal(
        username="reader", name_zh="读者", email="r@quality.example.cn", grants=[], channel=Channel.API
    )
    return Access(principal, CycleFacts(CYCLE, QINGDAO, rehearsal=False), frozenset(roles))


def test_personal_data_and_open_scores_show_only_to_those_who_may_see_them() -> None:
    now = datetime.now(UTC)
    scoring = ApplicationStatus(
        application_id=f"{CYCLE}.app-0001", name="甲公司", state=ApplicationState.EXPERT_REVIEW,
        stage=StageKind.EXPERT_REVIEW, deadline=now, waiting_for=[], experts=["qdm-01"],
        scores={"qdm-01": 88.5}, expert_score=88.5, onsite_score=None, defence_score=None, final_score=None,
        outcome=None, reason="",
    )  # fmt: skip
    objection = NoticeObjection(
        objection_id="GS2026-0001", application_id=f"{CYCLE}.app-0001", objector="李四", received_at=now, reason="…"
    )
    notice = NoticeStatus(
        workflow_id=f"{CYCLE}.notice", starts_at=now, ends_at=now, open=True, candidates=[],
        objections=[objection], waiting_for=[],
    )  # fmt: skip
    onsite, secretariat = _reader(AccountRole.ONSITE), _reader(AccountRole.SECRETARIAT)
    auditor, coordinator = _reader(AccountRole.AUDITOR), _reader(AccountRole.COORDINATOR)
    assert visibility.application_status(onsite, scoring).scores == {}
    assert visibility.application_status(onsite, scoring).expert_score is None
    concluded = scoring.model_copy(update={"state": ApplicationState.CONCLUDED})
    assert visibility.application_status(onsite, concluded).scores == {"qdm-01": 88.5}, "after the review closes"
    for reader in (secretariat, auditor, coordinator):
        assert visibility.application_status(reader, scoring).scores == {"qdm-01": 88.5}
    assert visibility.notice_status(secretariat, notice).objections[0].objector == visibility.HIDDEN
    assert visibility.notice_status(auditor, notice).objections[0].objector == "李四"
    assert visibility.notice_status(coordinator, notice).objections[0].objector == "李四"


async def _console_login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    fields = {"username": username, "password": password, "csrf": csrf[1], "next": "/console"}
    return await client.post("/login", data=fields)


async def test_a_one_time_password_is_changed_in_the_console(anonymous: httpx.AsyncClient, engine: Engine) -> None:
    name, one_time = f"c{uuid.uuid4().hex[:8]}", accounts.new_password()
    with session(engine) as s:
        accounts.add_account(
            s, name, name_zh="新同事", email=f"{name}@quality.example.cn", password=one_time,
            grants=[Grant.parse(f"secretariat@{QINGDAO}")], by=accounts.OPERATOR, address="local", one_time=True,
        )  # fmt: skip
    assert (await _console_login(anonymous, name, one_time)).status_code == 303
    held = await anonymous.get("/console")
    assert (held.status_code, held.headers["location"]) == (303, "/console/password")
    form = await anonymous.get("/console/password")
    assert form.status_code == 200 and "一次性初始密码" in form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf
    fields = {"csrf": csrf[1], "current": one_time, "new": "my-own-secret-phrase", "again": "my-own-secret-phrase"}
    differ = await anonymous.post("/console/password", data={**fields, "again": "something-else-entirely"})
    assert differ.status_code == 422 and "不一致" in differ.text
    changed = await anonymous.post("/console/password", data=fields)
    assert (changed.status_code, changed.headers["location"]) == (303, "/login?next=/console")
    anonymous.cookies.clear()
    assert (await _console_login(anonymous, name, "my-own-secret-phrase")).status_code == 303
    assert (await anonymous.get("/console")).status_code == 200
    anonymous.cookies.clear()


async def _wrong_links_from_rotating_addresses(
    settings: Settings, env: WorkflowEnvironment, engine: Engine
) -> list[int]:
    """Four wrong links, each claiming another X-Forwarded-For, through a real uvicorn on loopback."""
    app = create_app(settings, env.client, engine)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning",
            proxy_headers=settings.forwarded_allow_ips is not None, forwarded_allow_ips=settings.forwarded_allow_ips,
        )
    )  # fmt: skip
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            return [
                (
                    await client.get(f"/t/{secrets.token_urlsafe(32)}", headers={"X-Forwarded-For": f"198.51.100.{n}"})
                ).status_code
                for n in range(4)
            ]
    finally:
        server.should_exit = True
        await serving


async def test_forwarded_addresses_are_believed_only_from_named_proxies(
    settings: Settings, env: WorkflowEnvironment, engine: Engine
) -> None:
    tight = settings.model_copy(update={"wrong_link_limit": "3/minute"})
    assert await _wrong_links_from_rotating_addresses(tight, env, engine) == [404, 404, 404, 429]
    behind = tight.model_copy(update={"trusted_proxies": "127.0.0.1"})
    assert await _wrong_links_from_rotating_addresses(behind, env, engine) == [404] * 4, "each visitor its own"
