"""Replaying recorded histories with the current workflow code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowReplayResults

from schemas.cycle import CycleStatus
from worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


def workflow_ids(status: CycleStatus) -> list[str]:
    """Every workflow one cycle ran: itself, its applications, consultations and notice."""
    ids = [status.cycle_id, *(a.application_id for a in status.applications), *status.consultations]
    return ids + ([status.notice] if status.notice else [])


async def fetch(client: Client, ids: Iterable[str]) -> list[WorkflowHistory]:
    return [await client.get_workflow_handle(i).fetch_history() for i in ids]


async def _iterate(histories: list[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


async def replay(histories: list[WorkflowHistory]) -> WorkflowReplayResults:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    return await replayer.replay_workflows(_iterate(histories), raise_on_replay_failure=False)


def save(histories: list[WorkflowHistory], directory: Path = HISTORIES) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for history in histories:
        name = history.workflow_id.replace("/", "_")
        (directory / f"{name}.json").write_text(json.dumps(history.to_json_dict(), ensure_ascii=False))


def load(directory: Path = HISTORIES) -> list[WorkflowHistory]:
    return [WorkflowHistory.from_json(path.stem, path.read_text()) for path in sorted(directory.glob("*.json"))]
