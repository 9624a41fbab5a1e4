"""Every human act of `ACTS` as `POST /{kind}s/{workflow_id}/acts/{act}`, typed by its own models."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from awardcycle import service
from awardcycle.acts import ACTS, Act
from schemas.common import Actor, Channel, Role
from web.deps import ClientDep, of_kind
from web.schemas import Detail

router = APIRouter()


def api_actor(actor: Actor) -> Actor:
    """An API call is recorded as one, except a coordinator recording an answer received on paper."""
    on_paper = actor.role is Role.COORDINATOR and actor.channel is Channel.PAPER
    return actor.model_copy(update={"channel": Channel.PAPER if on_paper else Channel.API})


def _endpoint(act: Act) -> Callable[..., Awaitable[BaseModel]]:
    async def perform_act(workflow_id: str, payload: Any, client: ClientDep) -> BaseModel:
        payload = payload.model_copy(update={"actor": api_actor(payload.actor)})
        return await service.perform(client, workflow_id, act.name, payload)

    # FastAPI reads the body's model from the signature, so each route documents its own input.
    perform_act.__annotations__["payload"] = act.input
    return perform_act


for _act in ACTS.values():
    router.add_api_route(
        f"/{_act.workflow}s/{{workflow_id}}/acts/{_act.name}",
        _endpoint(_act),
        methods=["POST"],
        response_model=_act.output,
        summary=_act.summary,
        operation_id=f"{_act.workflow}_{_act.name}",
        tags=[f"{_act.workflow}s"],
        dependencies=[Depends(of_kind(_act.workflow))],
        responses={404: {"model": Detail}, 409: {"model": Detail}},
    )
