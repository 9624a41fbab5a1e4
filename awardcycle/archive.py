"""Archived workflow histories for the auditors: load them with their hash checked, or check a history file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from temporalio.client import WorkflowHistory

from schemas.archive import history_text, sha256_hex
from store import queries
from store.db import session
from store.tables import HistoryArchive
from worker import WORKFLOWS

# The events that end a workflow run; an archived or exported history of a closed run ends with one.
_CLOSING_EVENTS = frozenset(
    {
        "workflow_execution_completed_event_attributes",
        "workflow_execution_failed_event_attributes",
        "workflow_execution_timed_out_event_attributes",
        "workflow_execution_canceled_event_attributes",
        "workflow_execution_terminated_event_attributes",
        "workflow_execution_continued_as_new_event_attributes",
    }
)


class ArchiveTampered(Exception):
    """The stored history text no longer has the SHA-256 recorded when it was archived."""

    def __init__(self, workflow_id: str, expected: str, actual: str) -> None:
        super().__init__(f"archived history of {workflow_id} was altered: sha256 {actual}, archived as {expected}")
        self.workflow_id = workflow_id
        self.expected = expected
        self.actual = actual


class HistoryFileError(ValueError):
    """A history file that cannot be replayed as it is: not JSON, truncated, unknown or edited."""


@dataclass(frozen=True)
class ArchivedHistory:
    workflow_id: str
    workflow_type: str
    cycle_id: str
    run_id: str
    sha256: str
    code_version: str
    history: WorkflowHistory


def load_archived(
    engine: Engine, *, cycle_id: str | None = None, workflow_id: str | None = None
) -> list[ArchivedHistory]:
    """Archived histories of a cycle, or of one workflow, or all; ArchiveTampered if any text was altered."""
    with session(engine) as db:
        if workflow_id is not None:
            row = queries.get_archived(db, workflow_id=workflow_id)
            rows = [row] if row is not None and (cycle_id is None or row.cycle_id == cycle_id) else []
        else:
            rows = queries.list_archived(db, cycle_id=cycle_id)
    return [_checked(row) for row in rows]


def _checked(row: HistoryArchive) -> ArchivedHistory:
    actual = sha256_hex(row.history_json)
    if actual != row.sha256:
        raise ArchiveTampered(row.workflow_id, row.sha256, actual)
    return ArchivedHistory(
        workflow_id=row.workflow_id,
        workflow_type=row.workflow_type,
        cycle_id=row.cycle_id,
        run_id=row.run_id,
        sha256=row.sha256,
        code_version=row.code_version,
        history=WorkflowHistory.from_json(row.workflow_id, row.history_json),
    )


def verify_file(path: Path | str, engine: Engine, *, workflow_id: str | None = None) -> WorkflowHistory:
    """A history file (named `<workflow id>.json` unless workflow_id is given), checked before it is replayed.

    Raises HistoryFileError if it is not JSON, is not a whole history of a closed run, is of a workflow type
    this code does not define, or differs from the archived history of the same workflow.
    """
    path = Path(path)
    workflow_id = workflow_id or path.stem
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise HistoryFileError(f"{path}: cannot read the file ({err})") from err
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        raise HistoryFileError(f"{path}: not JSON ({err})") from err
    if not isinstance(parsed, dict) or not parsed.get("events"):
        raise HistoryFileError(f"{path}: not a workflow history (no events)")
    try:
        history = WorkflowHistory.from_json(workflow_id, parsed)
    except Exception as err:  # protobuf's ParseError and friends: the shape of the events is wrong
        raise HistoryFileError(f"{path}: invalid workflow history ({err})") from err
    events = history.events
    if not events[0].HasField("workflow_execution_started_event_attributes"):
        raise HistoryFileError(f"{path}: invalid workflow history (the first event is not the workflow's start)")
    if [e.event_id for e in events] != list(range(1, len(events) + 1)):
        raise HistoryFileError(f"{path}: truncated workflow history (event ids are not 1..{len(events)})")
    if events[-1].WhichOneof("attributes") not in _CLOSING_EVENTS:
        raise HistoryFileError(f"{path}: truncated workflow history (it does not end with the workflow closing)")
    workflow_type = events[0].workflow_execution_started_event_attributes.workflow_type.name
    known = sorted(defn.__name__ for defn in WORKFLOWS)
    if workflow_type not in known:
        raise HistoryFileError(f"{path}: unknown workflow type {workflow_type!r} (known: {', '.join(known)})")
    with session(engine) as db:
        archived = queries.get_archived(db, workflow_id=workflow_id)
    canonical = sha256_hex(history_text(history.to_json_dict()))
    if archived is not None and archived.sha256 not in (sha256_hex(text), canonical):
        raise HistoryFileError(
            f"{path}: edited: its content differs from the archived history of {workflow_id} "
            f"(sha256 {canonical}, archived {archived.sha256})"
        )
    return history
