"""`awardcycle up`: the embedded Temporal dev server, mail sink, worker and web app in one process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import uvicorn
from sqlalchemy import Engine
from temporalio.client import Client

from awardcycle.embedded import start_dev_server, start_mail_sink
from awardcycle.temporal_client import connect
from config.settings import Settings
from schemas.identity import Grant
from store import accounts
from store.db import make_engine, session, upgrade
from web.main import create_app
from worker import build_worker


@dataclass(frozen=True)
class Urls:
    web: str
    api_docs: str
    temporal: str
    temporal_ui: str | None
    smtp: str
    mail: str | None


class _WebServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the stack owns SIGINT/SIGTERM and stops every part in order


@dataclass(frozen=True)
class RunningStack:
    client: Client
    urls: Urls
    web: asyncio.Task[None] = field(repr=False)
    admin_password: str | None = field(default=None, repr=False)  # generated for a fresh store, shown once


ADMIN = "admin"


def bootstrap_admin(engine: Engine, settings: Settings) -> str | None:
    """On a store without an administrator, create `admin` (admin@*); the password if generated here, as a
    one-time one."""
    configured = settings.admin_password.get_secret_value() if settings.admin_password else ""
    with session(engine) as s:
        if accounts.any_admin(s):
            return None
        password = configured or accounts.new_password()
        try:
            accounts.add_account(
                s,
                ADMIN,
                name_zh="管理员",
                email="admin@localhost.localdomain",
                password=password,
                grants=[Grant.parse("admin@*")],
                by=accounts.OPERATOR,
                address="local",
                one_time=not configured,  # a printed password is changed at the first login
            )
        except accounts.AccountError as error:
            source = " from AWARDCYCLE_ADMIN_PASSWORD" if configured else ""
            raise RuntimeError(
                f"cannot create the first administrator {ADMIN!r}{source}: {error}; "
                "or give an account admin@* with `awardcycle users grant USERNAME admin@*`"
            ) from error
    return None if configured else password


@contextlib.asynccontextmanager
async def embedded_stack(settings: Settings) -> AsyncIterator[RunningStack]:
    """Every part `awardcycle up` runs, started in order and stopped in reverse once the block ends."""
    async with AsyncExitStack() as stack:
        ui = None
        if settings.embedded_temporal:
            ui = (await stack.enter_async_context(start_dev_server(settings))).ui_url
        if settings.embedded_smtp:
            await stack.enter_async_context(start_mail_sink(settings))
        engine = make_engine(settings)
        stack.callback(engine.dispose)
        upgrade(engine)  # the schema at the newest migration before the worker and web app start
        admin_password = bootstrap_admin(engine, settings)
        client = await connect(settings)
        await stack.enter_async_context(build_worker(client, settings, engine))
        web = _WebServer(
            uvicorn.Config(
                create_app(settings, client, engine),
                host=settings.web_host,
                port=settings.web_port,
                log_level="warning",
                proxy_headers=settings.forwarded_allow_ips is not None,
                forwarded_allow_ips=settings.forwarded_allow_ips,
            )
        )
        serving = asyncio.create_task(web.serve())

        async def stop_web() -> None:
            web.should_exit = True
            await serving

        stack.push_async_callback(stop_web)
        while not web.started:
            if serving.done():
                serving.result()  # raises why uvicorn stopped
                raise RuntimeError(f"the web app did not start on {settings.web_host}:{settings.web_port}")
            await asyncio.sleep(0.05)
        base = f"http://{settings.web_host}:{settings.web_port}"
        urls = Urls(
            web=base,
            api_docs=f"{base}/docs",
            temporal=settings.temporal_target,
            temporal_ui=ui,
            smtp=f"{settings.smtp_target_host}:{settings.smtp_port}",
            mail=str(settings.mail_dir.resolve()) if settings.embedded_smtp else None,
        )
        yield RunningStack(client=client, urls=urls, web=serving, admin_password=admin_password)


async def run_stack(settings: Settings, on_ready: Callable[[Urls, str | None], None]) -> None:
    """Run until SIGINT or SIGTERM; a restart continues every cycle where it was."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with embedded_stack(settings) as running:
        on_ready(running.urls, running.admin_password)
        await asyncio.wait([running.web, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
