"""The command's refusals that need no server (one line on stderr, a non-zero exit, nothing printed),
the operator's account commands on a local store, and logging in to a running `awardcycle web`."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from awardcycle.stack import bootstrap_admin
from awardcycle.temporal_client import test_server_path
from config.settings import Settings
from store import accounts
from store.db import make_engine, session, upgrade
from tests.conftest import free_port

PROGRAMME = "qingdao-mayor-quality-award"
PASSWORD = "correct horse battery"


def awardcycle(
    *args: str, home: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        "AWARDCYCLE_HOME": str(home),
        "AWARDCYCLE_TEMPORAL_PORT": str(free_port()),
        "XDG_CONFIG_HOME": str(home / "config"),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "awardcycle", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**base, **(env or {})},
        timeout=60,
        check=False,
    )


def refused(result: subprocess.CompletedProcess[str], reason: str) -> bool:
    """Exited non-zero with the reason as its only line, and printed nothing."""
    lines = result.stderr.strip().splitlines()
    return result.returncode != 0 and result.stdout == "" and len(lines) == 1 and reason in lines[0]


def test_programmes_as_json(tmp_path: Path) -> None:
    listed = awardcycle("programmes", "list", "--json", home=tmp_path)
    assert listed.returncode == 0
    assert "quancheng-haopin" in {p["id"] for p in json.loads(listed.stdout)}
    shown = json.loads(awardcycle("programmes", "show", "quancheng-haopin", "--json", home=tmp_path).stdout)
    assert len(shown["conditions"]) == 7 and set(shown["conditions"][0]) == {"id", "text"}


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("cycle", "start", "no-such-award", "--year", "2026"), "unknown programme 'no-such-award'"),
        (("cycle", "start", "qingdao-mayor-quality-award", "--year", "2027"), "--holidays FILE"),
        (("cycle", "start", "china-quality-award", "--year", "2026"), "holds no edition in 2026"),
        (("cycle", "start", "qingdao-mayor-quality-award", "--year", "2026", "--day-seconds", "-1"), "positive"),
        (("cycle", "start", PROGRAMME, "--year", "2027", "--holidays", "a.toml", "--holidays", "b.toml"), "once"),
        (("programmes", "show", "no-such-award"), "unknown programme"),
        (("cycle", "status", "no-such-cycle"), "run `awardcycle login USERNAME`"),
        (("cycle", "start", PROGRAMME, "--year", "2026", "--day-seconds", "1"), "run `awardcycle login USERNAME`"),
        (("act", "some-cycle", "no_such_act"), "unknown act 'no_such_act'"),
    ],
)
def test_refusals(tmp_path: Path, args: tuple[str, ...], reason: str) -> None:
    result = awardcycle(*args, home=tmp_path)
    assert refused(result, reason), result.stderr


def test_an_unreachable_api_is_named(tmp_path: Path) -> None:
    away = {"AWARDCYCLE_TOKEN": "some-token", "AWARDCYCLE_API_URL": f"http://127.0.0.1:{free_port()}"}
    result = awardcycle("cycle", "list", home=tmp_path, env=away)  # after the client's retries with backoff
    assert refused(result, "无法连接"), result.stderr


def test_act_data_without_the_fields_the_server_sets(tmp_path: Path) -> None:
    data = tmp_path / "approval.json"
    data.write_text(json.dumps({"actor": {"role": "coordinator", "identity": "wang"}, "document_number": "1"}))
    result = awardcycle("act", "some-cycle", "record_approval", "--data", str(data), home=tmp_path)
    assert refused(result, "remove actor"), result.stderr


def test_malformed_and_incomplete_application_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "半个文件', encoding="utf-8")
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text('{"applicant_kind": "organisation", "name": "某公司"}', encoding="utf-8")
    for path, reason in ((broken, "broken.json: "), (incomplete, "incomplete.json: ")):
        result = awardcycle("apply", "some-cycle", "--file", str(path), home=tmp_path)
        assert result.returncode != 0 and reason in result.stderr


def test_bad_history_files_are_refused(tmp_path: Path) -> None:
    recorded = next((Path(__file__).parent / "histories").glob("*.notice~0.json"))
    truncated = tmp_path / recorded.name
    truncated.write_text(recorded.read_text(encoding="utf-8")[:-2000], encoding="utf-8")
    not_json = tmp_path / "not-json.json"
    not_json.write_text("这不是 JSON", encoding="utf-8")
    for path in (not_json, truncated):
        result = awardcycle("audit", "replay", "--file", str(path), home=tmp_path)
        assert result.returncode != 0 and path.name in result.stderr, result.stderr
    replayed = awardcycle("audit", "replay", "--file", str(recorded), "--json", home=tmp_path)
    assert replayed.returncode == 0 and json.loads(replayed.stdout)["failed"] == 0, replayed.stderr


def add_user(home: Path, username: str, *grants: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    options = [option for grant in grants for option in ("--grant", grant)]
    return awardcycle(
        "users", "add", username, "--name", "王芳", "--email", f"{username}@example.cn", *options, "--password-stdin",
        home=home, stdin=password + "\n",
    )  # fmt: skip


def listed(home: Path) -> dict[str, dict[str, object]]:
    result = awardcycle("users", "list", "--json", home=home)
    assert result.returncode == 0, result.stderr
    return {account["username"]: account for account in json.loads(result.stdout)}


def test_users_add_grant_revoke_disable_and_reset(tmp_path: Path) -> None:
    assert add_user(tmp_path, "wang", f"coordinator@{PROGRAMME}").returncode == 0
    generated = awardcycle("users", "add", "li", "--name", "李伟", "--email", "li@example.cn", home=tmp_path)
    assert generated.returncode == 0 and "one-time password (shown once): " in generated.stdout
    assert awardcycle("users", "grant", "wang", f"secretariat@{PROGRAMME}", home=tmp_path).returncode == 0
    assert awardcycle("users", "grant", "li", "auditor@*", home=tmp_path).returncode == 0
    assert awardcycle("users", "revoke", "wang", f"coordinator@{PROGRAMME}", home=tmp_path).returncode == 0
    assert awardcycle("users", "disable", "li", home=tmp_path).returncode == 0
    reset = awardcycle("users", "reset-password", "wang", home=tmp_path)
    assert reset.returncode == 0 and "one-time password (shown once): " in reset.stdout
    accounts_now = listed(tmp_path)
    assert accounts_now["wang"]["grants"] == [f"secretariat@{PROGRAMME}"] and not accounts_now["wang"]["disabled"]
    assert accounts_now["li"] == {
        "username": "li", "name_zh": "李伟", "email": "li@example.cn", "disabled": True,
        "one_time_password": True, "grants": ["auditor@*"],
    }  # fmt: skip
    assert accounts_now["wang"]["one_time_password"], "a printed reset is one-time too"
    engine = make_engine(Settings(home=tmp_path, _env_file=None))
    with session(engine) as s:
        events = accounts.list_events(s, offset=0, limit=50)
    assert {(e.by, e.client_address) for e in events} == {(accounts.OPERATOR, "local")}


USER_REFUSALS = [
    (("users", "add", "x1", "--name", "某", "--email", "x@example.cn", "--grant", "boss@*"), None, "unknown role"),
    (("users", "add", "x1", "--name", "某", "--email", "x@example.cn", "--grant", "onsite@nope"), None, "'nope'"),
    (("users", "add", "x1", "--name", "某", "--email", "x@example.cn", "--grant", "admin@x"), None, "admin@*"),
    (("users", "add", "x1", "--name", "某", "--email", "x@example.cn", "--password-stdin"), "short\n", "10 to"),
    (("users", "add", "X!", "--name", "某", "--email", "x@example.cn"), None, "username 'X!'"),
    (("users", "add", "wang", "--name", "某", "--email", "x@example.cn"), None, "already exists"),
    (("users", "grant", "nobody", "auditor@*"), None, "no user 'nobody'"),
    (("users", "revoke", "wang", "auditor@*"), None, "does not hold auditor@*"),
    (("users", "reset-password", "wang", "--password-stdin"), "\n", "10 to"),
    (("users", "disable", "nobody"), None, "no user 'nobody'"),
]


def test_users_refusals_change_nothing(tmp_path: Path) -> None:
    assert add_user(tmp_path, "wang", f"coordinator@{PROGRAMME}").returncode == 0
    before = listed(tmp_path)
    for args, stdin, reason in USER_REFUSALS:  # one store for all: each CLI run costs a second or two
        result = awardcycle(*args, home=tmp_path, stdin=stdin)
        assert refused(result, reason), (args, result.stderr)
    assert listed(tmp_path) == before


def test_the_first_start_creates_one_administrator(tmp_path: Path) -> None:
    engine = make_engine(Settings(home=tmp_path, _env_file=None))
    upgrade(engine)
    short = Settings(home=tmp_path, admin_password="short", _env_file=None)
    with pytest.raises(RuntimeError, match="AWARDCYCLE_ADMIN_PASSWORD"):
        bootstrap_admin(engine, short)
    password = bootstrap_admin(engine, Settings(home=tmp_path, _env_file=None))
    assert password is not None
    assert bootstrap_admin(engine, Settings(home=tmp_path, _env_file=None)) is None  # a second start
    with session(engine) as s:
        assert [(a.username, [str(g) for g in a.grants]) for a in accounts.list_accounts(s)] == [("admin", ["admin@*"])]
        admin = accounts.authenticate(s, "admin", password, address="test", lock_after=5, lock_for=timedelta(minutes=1))
        assert admin.must_change_password  # it was printed


def test_a_configured_admin_password_is_not_shown(tmp_path: Path) -> None:
    engine = make_engine(Settings(home=tmp_path, _env_file=None))
    upgrade(engine)
    assert bootstrap_admin(engine, Settings(home=tmp_path, admin_password=PASSWORD, _env_file=None)) is None
    with session(engine) as s:
        admin = accounts.authenticate(s, "admin", PASSWORD, address="test", lock_after=5, lock_for=timedelta(minutes=1))
        assert not admin.must_change_password


@pytest.fixture(scope="module")
async def web_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Path, str]]:
    """`awardcycle web` on a time-skipping Temporal server: a state directory and the API's URL."""
    home = tmp_path_factory.mktemp("web")
    port = free_port()
    async with await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(test_server_path())) as env:
        with serving(home, env.client.service_client.config.target_host, port):
            url = f"http://127.0.0.1:{port}"
            await until_healthy(url)
            yield home, url


@contextmanager
def serving(home: Path, temporal: str, port: int) -> Iterator[None]:
    env = {"AWARDCYCLE_HOME": str(home), "AWARDCYCLE_TEMPORAL_ADDRESS": temporal, "AWARDCYCLE_WEB_PORT": str(port)}
    with (home / "web.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "awardcycle", "web"], env={**env, "PATH": "/usr/bin:/bin"}, stdout=log, stderr=log
        )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


async def until_healthy(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client, asyncio.timeout(60):
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


def test_login_keeps_a_private_token_and_logout_revokes_it(web_app: tuple[Path, str]) -> None:
    home, url = web_app
    at = {"AWARDCYCLE_API_URL": url}
    assert add_user(home, "zhao", f"coordinator@{PROGRAMME}").returncode == 0
    wrong = awardcycle("login", "zhao", "--password-stdin", home=home, stdin="not the password\n", env=at)
    assert refused(wrong, "wrong username or password") and "awardcycle login" not in wrong.stderr
    logged_in = awardcycle("login", "zhao", "--password-stdin", home=home, stdin=PASSWORD + "\n", env=at)
    assert logged_in.returncode == 0, logged_in.stderr
    token_file = home / "config" / "awardcycle" / "token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    assert set(json.loads(token_file.read_text())) == {url}
    listed_cycles = awardcycle("cycle", "list", "--json", home=home, env=at)
    assert listed_cycles.returncode == 0 and json.loads(listed_cycles.stdout) == [], listed_cycles.stderr
    overridden = awardcycle("cycle", "list", home=home, env={**at, "AWARDCYCLE_TOKEN": "not-a-token"})
    assert refused(overridden, "log in again")
    assert awardcycle("logout", home=home, env=at).returncode == 0
    assert json.loads(token_file.read_text()) == {}
    assert refused(awardcycle("cycle", "list", home=home, env=at), "run `awardcycle login USERNAME`")


def test_a_disabled_account_is_logged_out_at_once(web_app: tuple[Path, str]) -> None:
    home, url = web_app
    at = {"AWARDCYCLE_API_URL": url}
    assert add_user(home, "qian", f"auditor@{PROGRAMME}").returncode == 0
    assert awardcycle("login", "qian", "--password-stdin", home=home, stdin=PASSWORD + "\n", env=at).returncode == 0
    assert awardcycle("users", "disable", "qian", home=home).returncode == 0
    assert refused(awardcycle("ladder", "show", "--year", "2026", home=home, env=at), "log in again")
    assert awardcycle("logout", home=home, env=at).returncode == 0  # the server already forgot the token
    assert refused(
        awardcycle("login", "qian", "--password-stdin", home=home, stdin=PASSWORD + "\n", env=at), "disabled"
    )


def test_a_one_time_password_is_changed_before_anything_else(web_app: tuple[Path, str]) -> None:
    home, url = web_app
    at = {"AWARDCYCLE_API_URL": url}
    added = awardcycle(
        "users", "add", "sun", "--name", "孙", "--email", "sun@example.cn", "--grant", "auditor@*", home=home
    )
    assert added.returncode == 0, added.stderr
    one_time = next(line for line in added.stdout.splitlines() if "one-time password" in line).rsplit(" ", 1)[-1]
    assert awardcycle("login", "sun", "--password-stdin", home=home, stdin=one_time, env=at).returncode == 0
    assert refused(awardcycle("cycle", "list", home=home, env=at), "awardcycle passwd")
    wrong = awardcycle("passwd", "--password-stdin", home=home, stdin=f"not it\n{PASSWORD}\n", env=at)
    assert refused(wrong, "current password is wrong")
    changed = awardcycle("passwd", "--password-stdin", home=home, stdin=f"{one_time}\n{PASSWORD}\n", env=at)
    assert changed.returncode == 0 and "logged in again as sun" in changed.stdout, changed.stderr
    listed_cycles = awardcycle("cycle", "list", "--json", home=home, env=at)  # with the new login's token
    assert listed_cycles.returncode == 0 and json.loads(listed_cycles.stdout) == [], listed_cycles.stderr
    logins = awardcycle("audit", "logins", "--user", "sun", "--json", home=home, env=at)  # sun holds auditor@*
    assert logins.returncode == 0, logins.stderr
    kinds = [e["kind"] for e in json.loads(logins.stdout)["data"]]
    assert kinds[:3] == ["login", "password_reset", "login"] and "user_added" in kinds
