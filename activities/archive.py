"""The activity that exports each closed workflow's event history, with its hash, into the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from schemas import ids
from schemas.archive import ArchiveRequest, ArchiveResult, code_version, history_text, sha256_hex
from store import queries
from store.db import session
from store.tables import HistoryArchive
from workflows.archive import ArchiveWorkflow


class ArchiveActivities:
    def __init__(self, client: Client, engine: Engine) -> None:
        self._client = client
        self._engine = engine

    @activity.defn(name="start_archive")
    async def start_archive(self, request: ArchiveRequest) -> None:
        """Start the cycle's ArchiveWorkflow on this worker's task queue; once only, however often retried."""
        try:
            await self._client.start_workflow(
                ArchiveWorkflow.run,
                request,
                id=ids.archive_id(request.cycle_id),
                task_queue=activity.info().task_queue,
            )
        except WorkflowAlreadyStartedError:
            activity.logger.info("archive of %s already started", request.cycle_id)

    @activity.defn(name="archive_histories")
    async def archive_histories(self, request: ArchiveRequest) -> ArchiveResult:
        """Store every listed workflow's history once it has closed; raise StillRunning (retried) until then."""
        result = ArchiveResult(cycle_id=request.cycle_id, archived=[], already_archived=[], missing=[])
        for workflow_id in request.workflow_ids:
            activity.heartbeat(workflow_id)
            try:
                description = await self._client.get_workflow_handle(workflow_id).describe()
            except RPCError as err:
                if err.status is RPCStatusCode.NOT_FOUND:
                    result.missing.append(workflow_id)
                    continue
                raise
            if description.status is WorkflowExecutionStatus.RUNNING or description.close_time is None:
                raise ApplicationError(f"{workflow_id} is still running", type="StillRunning")
            stored = await asyncio.to_thread(self._stored, workflow_id)
            if stored is not None and stored.run_id == description.run_id:
                result.already_archived.append(workflow_id)
                continue
            history = await self._client.get_workflow_handle(workflow_id, run_id=description.run_id).fetch_history()
            text = history_text(history.to_json_dict())
            await asyncio.to_thread(
                self._store,
                workflow_id=workflow_id,
                run_id=description.run_id,
                workflow_type=description.workflow_type,
                cycle_id=request.cycle_id,
                closed_at=description.close_time,
                history_json=text,
            )
            result.archived.append(workflow_id)
        return result

    def _stored(self, workflow_id: str) -> HistoryArchive | None:
        with session(self._engine) as db:
            return queries.get_archived(db, workflow_id=workflow_id)

    def _store(
        self,
        *,
        workflow_id: str,
        run_id: str,
        workflow_type: str,
        cycle_id: str,
        closed_at: datetime,
        history_json: str,
    ) -> None:
        with session(self._engine) as db:
            queries.archive_history(
                db,
                workflow_id=workflow_id,
                run_id=run_id,
                workflow_type=workflow_type,
                cycle_id=cycle_id,
                closed_at=closed_at,
                sha256=sha256_hex(history_json),
                code_version=code_version(),
                history_json=history_json,
                archived_at=datetime.now(UTC),
            )
