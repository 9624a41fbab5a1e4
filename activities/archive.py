"""The activity that exports each closed workflow's event histories, every run with its hash, into the store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.chain import closed_at, previous_run_id, runs_before, workflow_type
from schemas.archive import ArchiveRequest, ArchiveResult, code_version, history_text, sha256_hex
from store import queries
from store.db import session


@dataclass(frozen=True)
class _Run:
    run_id: str
    run_index: int
    history: WorkflowHistory


class ArchiveActivities:
    def __init__(self, client: Client, engine: Engine) -> None:
        self._client = client
        self._engine = engine

    @activity.defn(name="archive_histories")
    async def archive_histories(self, request: ArchiveRequest) -> ArchiveResult:
        """Store every run of each listed workflow once its latest run has closed; StillRunning (retried) until then."""
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
            if description.run_id in stored:
                result.already_archived.append(workflow_id)  # a chain is stored whole, so its earlier runs are too
                continue
            runs = await self._unstored_runs(workflow_id, description.run_id, stored)
            await asyncio.to_thread(self._store, cycle_id=request.cycle_id, runs=runs)
            result.archived.append(workflow_id)
        return result

    async def _unstored_runs(self, workflow_id: str, run_id: str, stored: dict[str, int]) -> list[_Run]:
        """The closed chain's runs after the last one stored, each with its run id and index, oldest first."""
        latest = await self._client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        earlier = await runs_before(
            self._client, latest, known=stored, fetching=lambda previous: activity.heartbeat(workflow_id, previous)
        )
        histories = [*earlier, latest]
        # Each run's first event names the run before it, so the run ids come from the next run's link.
        run_ids = [previous_run_id(h) for h in histories[1:]] + [run_id]
        after = previous_run_id(histories[0])
        first_index = stored[after] + 1 if after else 0
        return [
            _Run(run_id=i, run_index=first_index + n, history=h)
            for n, (i, h) in enumerate(zip(run_ids, histories, strict=True))
        ]

    def _stored(self, workflow_id: str) -> dict[str, int]:
        """The run ids of the workflow already archived, with their run index."""
        with session(self._engine) as db:
            return {r.run_id: r.run_index for r in queries.list_archived(db, workflow_id=workflow_id)}

    def _store(self, *, cycle_id: str, runs: list[_Run]) -> None:
        # One transaction: a stored run always has the runs before it stored, which the walk back relies on.
        with session(self._engine) as db:
            for run in runs:
                history_json = history_text(run.history.to_json_dict())
                queries.archive_history(
                    db,
                    workflow_id=run.history.workflow_id,
                    run_id=run.run_id,
                    run_index=run.run_index,
                    workflow_type=workflow_type(run.history),
                    cycle_id=cycle_id,
                    closed_at=closed_at(run.history),
                    sha256=sha256_hex(history_json),
                    code_version=code_version(),
                    history_json=history_json,
                    archived_at=datetime.now(UTC),
                )
