"""Replaying recorded histories with the current workflow code, and a small real workflow that continues as new."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from temporalio import workflow
from temporalio.client import (
    Client,
    FetchWorkflowHistoryEventsInput,
    Interceptor,
    OutboundInterceptor,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowHistoryEventAsyncIterator,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker, WorkflowReplayResults

from activities.chain import fetch_chain
from schemas.cycle import CycleStatus
from store import queries
from store.db import session
from worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
RUN_SEPARATOR = "~"


def workflow_ids(status: CycleStatus, engine: Engine) -> list[str]:
    """Every workflow one cycle ran: itself, its applications (paged from the read model), consultations, notice."""
    with session(engine) as s:
        applications = [v.application_id for v in queries.application_views(s, cycle_id=status.cycle_id)]
    assert len(applications) == status.application_count, f"the read model lists {len(applications)} applications"
    ids = [status.cycle_id, *applications, *status.consultations]
    return ids + ([status.notice] if status.notice else [])


async def fetch(client: Client, ids: Iterable[str]) -> list[WorkflowHistory]:
    """Every run of each workflow, first run first: a cycle that continued as new has several."""
    return [run for i in ids for run in await fetch_chain(client, i)]


async def _iterate(histories: list[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


async def replay(histories: list[WorkflowHistory], workflows: Sequence[type] = WORKFLOWS) -> WorkflowReplayResults:
    replayer = Replayer(workflows=workflows, data_converter=pydantic_data_converter)
    return await replayer.replay_workflows(_iterate(histories), raise_on_replay_failure=False)


def save(histories: list[WorkflowHistory], directory: Path = HISTORIES) -> None:
    """One file per run, `<workflow id>~<run index>.json`, each chain given first run first."""
    directory.mkdir(parents=True, exist_ok=True)
    runs: dict[str, int] = {}
    for history in histories:
        index = runs[history.workflow_id] = runs.get(history.workflow_id, -1) + 1
        name = history.workflow_id.replace("/", "_")
        (directory / f"{name}{RUN_SEPARATOR}{index}.json").write_text(
            json.dumps(history.to_json_dict(), ensure_ascii=False)
        )


def load(directory: Path = HISTORIES) -> list[WorkflowHistory]:
    """The recorded runs, each chain in order."""
    paths = sorted(directory.glob("*.json"), key=lambda p: (_workflow_id(p), _run_index(p)))
    return [WorkflowHistory.from_json(_workflow_id(p), p.read_text()) for p in paths]


def _workflow_id(path: Path) -> str:
    return path.stem.rpartition(RUN_SEPARATOR)[0]


def _run_index(path: Path) -> int:
    return int(path.stem.rpartition(RUN_SEPARATOR)[2])


def by_workflow(histories: Iterable[WorkflowHistory]) -> dict[str, list[WorkflowHistory]]:
    """Runs grouped by workflow id, each chain in the order given."""
    grouped: dict[str, list[WorkflowHistory]] = {}
    for history in histories:
        grouped.setdefault(history.workflow_id, []).append(history)
    return grouped


def recorded_cycle_id(directory: Path = HISTORIES) -> str:
    """The id of the recorded cycle: the one workflow with a second run (it continued as new), whose children
    are named after it."""
    (cycle_id,) = {_workflow_id(p) for p in directory.glob(f"*{RUN_SEPARATOR}1.json")}
    return cycle_id


def recorded_json(workflow_id: str, run_index: int = 0, directory: Path = HISTORIES) -> dict[str, Any]:
    """One recorded run as the JSON file holds it."""
    parsed: dict[str, Any] = json.loads((directory / f"{workflow_id}{RUN_SEPARATOR}{run_index}.json").read_text())
    return parsed


# --- a small real workflow that continues as new ---------------------------------------------------------


@dataclass(frozen=True)
class RelayInput:
    runs: int = 1  # the runs of the chain: each but the last continues as new
    children: int = 0  # children each run starts (and waits for), each a relay of child_runs runs
    child_runs: int = 1
    hold: bool = False  # the last run waits for the `finish` signal before it completes
    run: int = 0


@workflow.defn(sandboxed=False)  # a test's helper: no workflow code of the project to keep deterministic
class RelayWorkflow:
    """A chain of `runs` runs under one workflow id, as Temporal makes one when a workflow continues as new."""

    def __init__(self) -> None:
        self._finished = False

    @workflow.signal
    def finish(self) -> None:
        self._finished = True

    @workflow.run
    async def run(self, input: RelayInput) -> int:
        me = workflow.info().workflow_id
        for n in range(input.children):
            await workflow.execute_child_workflow(
                RelayWorkflow.run, RelayInput(runs=input.child_runs), id=f"{me}.child-{input.run}-{n}"
            )
        if input.run + 1 < input.runs:
            workflow.continue_as_new(replace(input, run=input.run + 1))
        if input.hold:
            await workflow.wait_condition(lambda: self._finished)
        return input.run


@asynccontextmanager
async def relay_worker(client: Client) -> AsyncIterator[str]:
    """A worker of RelayWorkflow on a fresh task queue, which it yields."""
    queue = f"relay-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[RelayWorkflow]):
        yield queue


async def relay(client: Client, task_queue: str, workflow_id: str, **given: Any) -> WorkflowHandle[RelayWorkflow, int]:
    """Start a relay and wait until its last run has completed, or, if it holds, has started (so `finish`
    reaches the run that waits for it). The handle follows the chain to its latest run."""
    input = RelayInput(**given)
    await client.start_workflow(RelayWorkflow.run, input, id=workflow_id, task_queue=task_queue)
    handle = client.get_workflow_handle_for(RelayWorkflow.run, workflow_id)
    if not input.hold:
        await handle.result()
        return handle
    for _ in range(200):
        if len(await fetch_chain(client, workflow_id)) == input.runs:
            return handle
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} never reached its last run")


# --- a client that notes the histories it fetches ---------------------------------------------------------


class _Noting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, fetched: list[tuple[str, str | None]]) -> None:
        super().__init__(next)
        self._fetched = fetched

    def fetch_workflow_history_events(
        self, input: FetchWorkflowHistoryEventsInput
    ) -> WorkflowHistoryEventAsyncIterator:
        self._fetched.append((input.id, input.run_id))
        return super().fetch_workflow_history_events(input)


class _NoteFetches(Interceptor):
    def __init__(self, fetched: list[tuple[str, str | None]]) -> None:
        self._fetched = fetched

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Noting(next, self._fetched)


def noting_fetches(client: Client) -> tuple[Client, list[tuple[str, str | None]]]:
    """The client on the same connection, and the list it notes each history fetch in: (workflow id, run id),
    the run id None where the latest run was asked for."""
    fetched: list[tuple[str, str | None]] = []
    config = client.config()
    config["interceptors"] = [*config.get("interceptors", []), _NoteFetches(fetched)]
    return Client(**config), fetched
