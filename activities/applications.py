"""Activities that start a cycle's applications and carry its signals to them in batches.

The cycle sends one activity per batch instead of one signal per application, so its own history
does not grow with the number of applicants.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from schemas.application import (
    ApplicationInput,
    ApplicationView,
    Conclusions,
    DeadlineChanges,
    StageOpenings,
)
from store import queries
from store.db import session
from workflows.application import ApplicationWorkflow

Send = Callable[[WorkflowHandle[ApplicationWorkflow, Any], str], Awaitable[None]]
# Signals in flight at once from one batch: enough to keep the server busy, few enough not to flood it.
CONCURRENT_SIGNALS = 32


class ApplicationActivities:
    def __init__(self, client: Client, engine: Engine) -> None:
        self._client = client
        self._engine = engine

    @activity.defn(name="start_application")
    async def start_application(self, input: ApplicationInput) -> None:
        """Show the application in the read model, then start its workflow; both idempotent, so retries are safe."""
        await asyncio.to_thread(self._record_received, input)
        try:
            await self._client.start_workflow(
                ApplicationWorkflow.run,
                input,
                id=input.application_id,
                task_queue=activity.info().task_queue,
            )
        except WorkflowAlreadyStartedError:
            activity.logger.info("%s already started", input.application_id)

    @activity.defn(name="open_stages")
    async def open_stages(self, batch: StageOpenings) -> None:
        openings = batch.openings
        await self._each(openings, lambda handle, a: handle.signal(ApplicationWorkflow.open_stage, openings[a]))

    @activity.defn(name="conclude_applications")
    async def conclude_applications(self, batch: Conclusions) -> None:
        await self._each(
            batch.application_ids, lambda handle, _: handle.signal(ApplicationWorkflow.conclude, batch.conclusion)
        )

    @activity.defn(name="change_deadlines")
    async def change_deadlines(self, batch: DeadlineChanges) -> None:
        await self._each(
            batch.application_ids, lambda handle, _: handle.signal(ApplicationWorkflow.change_deadline, batch.change)
        )

    async def _each(self, application_ids: Iterable[str], send: Send) -> None:
        """Signal every application; one that has already closed needs nothing more. Each handler is idempotent."""
        limit = asyncio.Semaphore(CONCURRENT_SIGNALS)

        async def one(application_id: str) -> None:
            async with limit:
                try:
                    handle = self._client.get_workflow_handle_for(ApplicationWorkflow.run, application_id)
                    await send(handle, application_id)
                except RPCError as error:
                    if error.status is not RPCStatusCode.NOT_FOUND:
                        raise
                    activity.logger.info("%s has closed: %s", application_id, error.message)

        await asyncio.gather(*(one(a) for a in application_ids))

    def _record_received(self, input: ApplicationInput) -> None:
        with session(self._engine) as db:
            queries.upsert_application_view(db, ApplicationView.received(input))
