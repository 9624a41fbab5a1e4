"""Session-scoped Temporal test server, SMTP sink and store; a fresh task queue and worker per test.

Store and web tests run on both backends: a test that asks for `database_url` (a fresh database of its
own), the in-process web app (`api`, `anonymous`) or the shared store without a worker runs once on SQLite
and once on PostgreSQL, a server the session starts (tests/postgres.py). Workflow tests (a worker on the
time-skipping server) share the SQLite store.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from awardcycle.temporal_client import test_server_path
from config.settings import Settings
from schemas.identity import Grant
from store import accounts
from store.db import make_engine, session, upgrade
from tests.postgres import PostgresServer
from web.main import create_app
from worker import build_worker

BACKENDS = ("sqlite", "postgresql")
# Requesting one of these makes a test a store or web test, run on each backend.
ON_EACH_BACKEND = frozenset({"database_url", "api", "anonymous"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps every delivered message in memory."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@contextmanager
def smtp_server(port: int) -> Iterator[Inbox]:
    """A real SMTP server on loopback for as long as the block runs."""
    inbox = Inbox(port)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def inbox() -> Iterator[Inbox]:
    with smtp_server(free_port()) as inbox:
        yield inbox


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, inbox: Inbox) -> Settings:
    home = tmp_path_factory.mktemp("home")
    return Settings(
        home=home,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        _env_file=None,
    )


PASSWORD = "correct-horse-battery"
# The accounts every test's store holds, each with its grants.
USERS = {
    "staff": ["coordinator@*", "secretariat@*", "onsite@*"],
    "qd-coord": ["coordinator@qingdao-mayor-quality-award"],
    "qd-secretariat": ["secretariat@qingdao-mayor-quality-award"],
    "qd-onsite": ["onsite@qingdao-mayor-quality-award"],
    "jn-coord": ["coordinator@jinan-mayor-quality-award"],
    "auditor": ["auditor@*"],
    "admin": ["admin@*"],
}


def add_users(engine: Engine) -> None:
    with session(engine) as s:
        for username, grants in USERS.items():
            accounts.add_account(
                s,
                username,
                name_zh=f"测试{username}",
                email=f"{username}@quality.example.cn",
                password=PASSWORD,
                grants=[Grant.parse(g) for g in grants],
                by=accounts.OPERATOR,
                address="local",
            )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = set(metafunc.fixturenames)
    # The shared store without a worker is a store or web test too; with one, a workflow test.
    if "backend" in names and (names & ON_EACH_BACKEND or ("engine" in names and "task_queue" not in names)):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend's name, "sqlite" or "postgresql"; SQLite for a test that is not a store or web test."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One server for the session, started on first use and removed with its data at the end."""
    server = PostgresServer(port=free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on the test's backend."""
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.create_database()
    return f"sqlite:///{tmp_path / 'state' / 'awardcycle.db'}"


def migrated_store(settings: Settings) -> Engine:
    """The store of `settings` at the newest migration, with the test accounts."""
    engine = make_engine(settings)
    upgrade(engine)
    add_users(engine)
    return engine


@pytest.fixture(scope="session")
def sqlite_engine(settings: Settings) -> Iterator[Engine]:
    engine = migrated_store(settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_engine(settings: Settings, postgres: PostgresServer) -> Iterator[Engine]:
    engine = migrated_store(settings.model_copy(update={"database_url": postgres.create_database("shared")}))
    yield engine
    engine.dispose()


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> Engine:
    """The session's store on the test's backend, shared by the tests that use it (ids are unique)."""
    found: Engine = request.getfixturevalue(f"{backend}_engine")
    return found


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """The Authorization header of a fresh token for the user."""
    answer = await client.post("/api/v1/login/access-token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test: one test's leftover timers never skip another test's clock."""
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(test_server_path())
    ) as env:
        yield env


@pytest.fixture
async def task_queue(env: WorkflowEnvironment, settings: Settings, engine: Engine) -> AsyncIterator[str]:
    """A running worker on a fresh task queue."""
    queue = f"test-{uuid.uuid4()}"
    async with build_worker(env.client, settings, engine, task_queue=queue):
        yield queue


@pytest.fixture
async def api(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The web app on the test's server and worker, reached in process, logged in as `staff`."""
    app = create_app(settings, env.client, engine, task_queue=task_queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        client.headers.update(await login(client, "staff"))
        yield client


@pytest.fixture
async def anonymous(api: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The same app with no credential."""
    async with httpx.AsyncClient(transport=api._transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"
