"""Every human act of `ACTS` as `POST /{kind}s/{workflow_id}/acts/{act}`, typed by its own models.

The body is the act's input without `actor` and `client_address`: the server builds the actor from the
principal's grant on the cycle's programme, and takes the address from the connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ValidationError, create_model
from temporalio.client import Client

from awardcycle import service
from awardcycle.acts import ACTS, Act
from awardcycle.service import RefusalKind, Refused
from schemas.common import Actor, Channel, Model, Role
from schemas.identity import WORKFLOW_ROLE, AccountRole
from web.auth import Access, access, forbidden
from web.deps import ClientDep, of_kind
from web.ratelimit import client_address
from web.schemas import AUTH_ERRORS, Detail

router = APIRouter()

SERVER_FIELDS = frozenset({"actor", "client_address"})
SIMULATED = r"^[a-z_]+:[^\s:]{1,200}$"


def body_model(act: Act) -> type[BaseModel]:
    """The act's input as a request may send it: every field but those the server sets."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in act.input.model_fields.items() if name not in SERVER_FIELDS
    }
    return create_model(f"{act.input.__name__}Body", __base__=Model, __doc__=act.input.__doc__, **fields)


def act_actor(act: Act, reader: Access, simulated: str | None) -> Actor:
    """Who the Update records: the principal in its grant's role, or, in a rehearsal, a simulated person."""
    principal = reader.principal
    if simulated is not None:
        if not reader.cycle.rehearsal:
            raise forbidden("只有演练周期可以模拟他人 (only a rehearsal cycle may be simulated)")
        reader.require(AccountRole.COORDINATOR)
        role, _, identity = simulated.partition(":")
        if role not in {r.value for r in Role} - {Role.SYSTEM.value}:
            raise Refused(f"无法模拟的角色 (cannot simulate role {role!r})", RefusalKind.INVALID)
        return Actor(role=Role(role), identity=identity, channel=Channel.SIMULATION, principal=principal.username)
    held = reader.require(*act.grants)
    channel = Channel.PAPER if act.on_paper else principal.channel
    return Actor(role=WORKFLOW_ROLE[held], identity=principal.username, channel=channel)


async def perform_as(
    request: Request,
    client: Client,
    act: Act,
    reader: Access,
    workflow_id: str,
    body: dict[str, Any],
    simulated: str | None = None,
) -> BaseModel:
    """The act on the workflow as `reader` (the API's route and the console's forms): the server sets the
    actor and the client address, then the workflow's Update validator has the last word."""
    fields = {**body, "actor": act_actor(act, reader, simulated)}
    if "client_address" in act.input.model_fields:
        fields["client_address"] = client_address(request)
    try:
        payload = act.input.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        raise Refused(f"{'.'.join(map(str, first['loc']))}: {first['msg']}", RefusalKind.INVALID) from error
    return await service.perform(client, workflow_id, act.name, payload)


def _endpoint(act: Act) -> Callable[..., Awaitable[BaseModel]]:
    async def perform_act(
        workflow_id: str,
        body: Any,
        request: Request,
        client: ClientDep,
        reader: Annotated[Access, access("workflow_id")],
        simulate: Annotated[
            str | None,
            Query(
                pattern=SIMULATED, description="ROLE:IDENTITY; a rehearsal's coordinator acts for a simulated person"
            ),
        ] = None,
    ) -> BaseModel:
        return await perform_as(request, client, act, reader, workflow_id, body.model_dump(), simulate)

    # FastAPI reads the body's model from the signature, so each route documents its own input.
    perform_act.__annotations__["body"] = body_model(act)
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
        dependencies=[of_kind(_act.workflow)],
        responses={**AUTH_ERRORS, 409: {"model": Detail}, 422: {"model": Detail}},
    )
