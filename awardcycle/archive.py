"""Archived workflow histories for the auditors: load each workflow's chain of runs with every hash checked,
or check a history file of one run."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from temporalio.client import WorkflowHistory

from activities.chain import previous_run_id
from schemas.archive import history_text, sha256_hex
from store import queries
from store.db import session
from store.tables import HistoryArchive
from worker import WORKFLOWS

_CONTINUED = "workflow_execution_continued_as_new_event_attributes"

# The events that end a workflow run; an archived or exported history of a closed run ends with one.
_CLOSING_EVENTS = frozenset(
    {
        "workflow_execution_completed_event_attributes",
        "workflow_execution_failed_event_attributes",
        "workflow_execution_timed_out_event_attributes",
        "workflow_execution_canceled_event_attributes",
        "workflow_execution_terminated_event_attributes",
        _CONTINUED,
    }
)


class ArchiveTampered(Exception):
    """The stored history text of a run no longer has the SHA-256 recorded when it was archived."""

    def __init__(self, workflow_id: str, expected: str, actual: str, run_id: str = "") -> None:
        run = f" (run {run_id})" if run_id else ""
        super().__init__(f"archived history of {workflow_id}{run} was altered: sha256 {actual}, archived as {expected}")
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.expected = expected
        self.actual = actual


class ArchiveChainBroken(Exception):
    """A workflow's archived runs do not link up: a run was removed, reordered or added."""

    def __init__(self, workflow_id: str, reason: str) -> None:
        super().__init__(f"archived runs of {workflow_id} do not form its chain: {reason}")
        self.workflow_id = workflow_id


class HistoryFileError(ValueError):
    """A history file that cannot be replayed as it is: not JSON, truncated, unknown or edited."""


@dataclass(frozen=True)
class ArchivedHistory:
    """One archived run; a workflow that continued as new has several, run_index 0 first."""

    workflow_id: str
    workflow_type: str
    cycle_id: str
    run_id: str
    run_index: int
    sha256: str
    code_version: str
    history: WorkflowHistory


def load_archived(
    engine: Engine, *, cycle_id: str | None = None, workflow_id: str | None = None
) -> list[ArchivedHistory]:
    """Archived runs of a cycle, or of one workflow, or all: each workflow's chain in order, first run first.

    Raises ArchiveTampered if any run's text was altered, ArchiveChainBroken if a chain's runs do not link up.
    """
    with session(engine) as db:
        rows = queries.list_archived(db, cycle_id=cycle_id, workflow_id=workflow_id)
    runs = [_checked(row) for row in rows]
    for chain in chains(runs).values():
        _check_links(chain)
    return runs


def chains(runs: Iterable[ArchivedHistory]) -> dict[str, list[ArchivedHistory]]:
    """Archived runs grouped by workflow id, keeping their order."""
    grouped: dict[str, list[ArchivedHistory]] = {}
    for run in runs:
        grouped.setdefault(run.workflow_id, []).append(run)
    return grouped


def _checked(row: HistoryArchive) -> ArchivedHistory:
    actual = sha256_hex(row.history_json)
    if actual != row.sha256:
        raise ArchiveTampered(row.workflow_id, row.sha256, actual, row.run_id)
    return ArchivedHistory(
        workflow_id=row.workflow_id,
        workflow_type=row.workflow_type,
        cycle_id=row.cycle_id,
        run_id=row.run_id,
        run_index=row.run_index,
        sha256=row.sha256,
        code_version=row.code_version,
        history=WorkflowHistory.from_json(row.workflow_id, row.history_json),
    )


def _check_links(chain: list[ArchivedHistory]) -> None:
    """Each run names the one before it in its (hashed) first event; run_index alone is not protected."""
    workflow_id = chain[0].workflow_id
    if [run.run_index for run in chain] != list(range(len(chain))):
        raise ArchiveChainBroken(workflow_id, f"run indexes {[run.run_index for run in chain]}")
    expected = ""
    for run in chain:
        if previous_run_id(run.history) != expected:
            named = previous_run_id(run.history) or "no run"
            raise ArchiveChainBroken(workflow_id, f"run {run.run_index} continues {named}, not {expected or 'no run'}")
        expected = run.run_id
    if chain[-1].history.events[-1].WhichOneof("attributes") == _CONTINUED:
        raise ArchiveChainBroken(workflow_id, f"its last run {chain[-1].run_id} continued as new, into a missing run")


def verify_file(path: Path | str, engine: Engine, *, workflow_id: str | None = None) -> WorkflowHistory:
    """A history file (named `<workflow id>.json` unless workflow_id is given), checked before it is replayed.

    Raises HistoryFileError if it is not JSON, is not a whole history of a closed run, is of a workflow type
    this code does not define, or differs from the archived history of the same run of the same workflow
    (the run that continued the one its first event names; the first run if it names none).
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
        runs = queries.list_archived(db, workflow_id=workflow_id)
    canonical = sha256_hex(history_text(history.to_json_dict()))
    previous = previous_run_id(history)
    archived = _run_after(runs, previous)
    if runs and archived is None:
        raise HistoryFileError(
            f"{path}: edited: no archived run of {workflow_id} continues {previous or 'no run'}, as it does "
            f"(sha256 {canonical})"
        )
    if archived is not None and archived.sha256 not in (sha256_hex(text), canonical):
        raise HistoryFileError(
            f"{path}: edited: its content differs from the archived history of {workflow_id} run "
            f"{archived.run_index} ({archived.run_id}) (sha256 {canonical}, archived {archived.sha256})"
        )
    return history


def _run_after(runs: list[HistoryArchive], previous: str) -> HistoryArchive | None:
    """The archived run that continued `previous`: the file's own run, found by its first event's link."""
    links = ["", *(run.run_id for run in runs)][: len(runs)]  # what each archived run continues
    return runs[links.index(previous)] if previous in links else None
