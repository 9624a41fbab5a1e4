"""`GET /healthz`: 200 once Temporal and the store both answer, else 503."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client
from temporalio.service import RPCError

from web.deps import ClientDep, EngineDep
from web.schemas import Health

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)

TIMEOUT = timedelta(seconds=5)


async def _temporal(client: Client) -> str:
    try:
        healthy = await client.service_client.check_health(timeout=TIMEOUT)
    except (RPCError, RuntimeError) as error:
        log.warning("Temporal health check failed: %s", error)
        return "unavailable"
    return "ok" if healthy else "unavailable"


def _store(engine: Engine) -> str:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        log.warning("store health check failed: %s", error)
        return "unavailable"
    return "ok"


@router.get("/healthz", responses={503: {"model": Health}})
async def healthz(client: ClientDep, engine: EngineDep, response: Response) -> Health:
    health = Health(temporal=await _temporal(client), store=await run_in_threadpool(_store, engine))
    if "unavailable" in (health.temporal, health.store):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return health
