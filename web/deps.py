"""Request dependencies as `Annotated` aliases; the app keeps its client, engine and settings in state."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from config.settings import Settings
from web.ratelimit import RateLimits

# Workflow kinds by the shape of their ids (schemas/ids.py builds them).
_KINDS = (
    ("consultation", re.compile(r"^[^.]+\.consultation-[^.]+$")),
    ("notice", re.compile(r"^[^.]+\.notice$")),
    ("application", re.compile(r"^[^.]+\.app-\d+$")),
    ("title", re.compile(r"^[^.]+\.title-\d+$")),
    ("cycle", re.compile(r"^[^.]+$")),
)


def workflow_kind(workflow_id: str) -> str | None:
    return next((kind for kind, shape in _KINDS if shape.fullmatch(workflow_id)), None)


def require_kind(workflow_id: str, kind: str) -> None:
    """A 404 for an id of another kind of workflow, before Temporal is asked anything."""
    if workflow_kind(workflow_id) != kind:
        raise HTTPException(status_code=404, detail=f"未找到 (no {kind} has the id {workflow_id!r})")


def of_kind(kind: str, parameter: str = "workflow_id") -> Any:
    """A route dependency: checked before the body and the credential, so a wrong id is a 404 whatever was sent."""

    def check(request: Request) -> None:
        require_kind(request.path_params[parameter], kind)

    return Depends(check)


def get_client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_task_queue(request: Request) -> str:
    task_queue: str = request.app.state.task_queue
    return task_queue


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def get_rate_limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


ClientDep = Annotated[Client, Depends(get_client)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TaskQueueDep = Annotated[str, Depends(get_task_queue)]
SessionDep = Annotated[Session, Depends(get_session)]
RateLimitsDep = Annotated[RateLimits, Depends(get_rate_limits)]
