"""The web app: `create_app(settings)` for a server, or with a client and engine the caller owns."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

from cachetools import LRUCache
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from temporalio.client import Client

from awardcycle.temporal_client import connect
from config.settings import Settings
from schemas.ids import TASK_QUEUE
from store.db import make_engine, upgrade
from store.documents import LocalDocumentStore
from web.auth import CYCLE_FACTS_CACHE
from web.bodylimit import BodyLimit
from web.errors import install_error_handlers
from web.ratelimit import RateLimits
from web.rehearsal import Rehearsals
from web.routes import (
    acts,
    applicant,
    application_page,
    applications,
    audit,
    calls,
    console,
    consultations,
    cycle_acts,
    cycle_page,
    cycles,
    devmail,
    documents,
    exports,
    health,
    holidays,
    ladder,
    links,
    login,
    notices,
    paper,
    programmes,
    public_notice,
    tasks,
    users,
)

API_PREFIX = "/api/v1"
STATIC = Path(__file__).parent / "static"
TASKS_PATH = f"{API_PREFIX}/tasks/"
# A link's path carries its token: /t/{token} and /a/{token} for pages, /api/v1/tasks/{token} for JSON.
_TOKEN_IN_PATH = re.compile(r"(/t/|/a/|/api/v1/tasks/)[^/?#\s]+")


class RedactTokens(logging.Filter):
    """Uvicorn's access log prints each path; print a task link's without its token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_PATH.sub(r"\1…", arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (
        login,
        users,
        programmes,
        holidays,
        cycles,
        applications,
        consultations,
        notices,
        acts,
        tasks,
        ladder,
    ):
        router.include_router(module.router)
    return router


async def _private_task_links(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    if request.url.path.startswith(TASKS_PATH):
        # Neither a cache nor the next site's Referer header may keep the token.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


def create_app(
    settings: Settings,
    client: Client | None = None,
    engine: Engine | None = None,
    *,
    task_queue: str = TASK_QUEUE,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = app.state.engine is None
        if app.state.client is None:
            app.state.client = await connect(settings)
        if owned:
            app.state.engine = make_engine(settings)
            upgrade(app.state.engine)
        yield
        await app.state.rehearsals.close()  # a rehearsal's simulator must not outlive its web app
        if owned:
            app.state.engine.dispose()

    app = FastAPI(title="awardcycle", version=version("awardcycle"), lifespan=lifespan)
    app.state.settings = settings
    app.state.client = client
    app.state.engine = engine
    app.state.task_queue = task_queue
    app.state.rate_limits = RateLimits(settings)
    app.state.cycle_facts = LRUCache(maxsize=CYCLE_FACTS_CACHE)
    app.state.rehearsals = Rehearsals()
    app.state.documents = LocalDocumentStore(settings.documents_dir)
    # Random per process and kept only in memory: a restart invalidates forms open in a browser, which
    # then reload and submit again.
    app.state.csrf_key = secrets.token_bytes(32)
    install_error_handlers(app)
    app.middleware("http")(_private_task_links)
    app.include_router(health.router)
    app.include_router(api_router())
    app.include_router(audit.router)
    app.include_router(console.router)
    app.include_router(cycle_page.router)
    app.include_router(cycle_acts.router)
    app.include_router(application_page.router)
    app.include_router(exports.router)
    if settings.embedded_smtp:  # the sink's mail exists only in embedded mode
        app.include_router(devmail.router)
    links.install(app)
    app.include_router(public_notice.router)
    app.include_router(documents.router)
    app.add_middleware(BodyLimit, settings=settings)  # 413 before any form parser spools an oversized body
    calls.install(app)
    applicant.install(app)
    app.include_router(paper.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access_log.filters):
        access_log.addFilter(RedactTokens())
    return app
