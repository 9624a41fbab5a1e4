"""A workflow id's chain of runs: each continue-as-new starts a run whose first event names the run before."""

from __future__ import annotations

from collections.abc import Callable, Container
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowHistory


def previous_run_id(history: WorkflowHistory) -> str:
    """The run this one continued (as new, or by retry or cron); empty for the first run of a chain."""
    return history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id


def workflow_type(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


def closed_at(history: WorkflowHistory) -> datetime:
    """When a closed run closed: the time of its last event, the one that closed it."""
    return history.events[-1].event_time.ToDatetime(tzinfo=UTC)


async def runs_before(
    client: Client,
    history: WorkflowHistory,
    *,
    known: Container[str] = (),
    fetching: Callable[[str], None] | None = None,
) -> list[WorkflowHistory]:
    """The histories of the runs before this one, first run first, walking back no further than a run in `known`.

    `fetching` hears each run id before its history is fetched (the archive activity heartbeats there).
    """
    # The links in the histories, not a visibility list query: the time-skipping test server barely has one.
    earlier: list[WorkflowHistory] = []
    run_id = previous_run_id(history)
    while run_id and run_id not in known:
        if fetching is not None:
            fetching(run_id)
        earlier.append(await client.get_workflow_handle(history.workflow_id, run_id=run_id).fetch_history())
        run_id = previous_run_id(earlier[-1])
    return earlier[::-1]


async def fetch_chain(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of the workflow id, first run first, the latest (perhaps still running) last."""
    latest = await client.get_workflow_handle(workflow_id).fetch_history()
    return [*await runs_before(client, latest), latest]
