"""The history archive: a closed cycle's histories are stored with their hash, replay from the store alone,
and the archive is the "archive-histories" patch of AwardCycleWorkflow, so recorded older cycles still replay."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from awardcycle.archive import ArchiveTampered, HistoryFileError, load_archived, verify_file
from programmes import get_programme
from schemas import ids
from schemas.archive import ArchiveResult, code_version, history_text, sha256_hex
from store import queries
from store.db import session
from tests.replay import HISTORIES, fetch, load, replay, workflow_ids
from tests.scenario import StrongPlayer, apply_all, forms, play, small, start

PATCH_ID = "archive-histories"
OLD_CYCLE = "qingdao-mayor-quality-award-2026-56cd34"


def patch_markers(history: WorkflowHistory) -> list[str]:
    """The patch ids a history records: temporalio 1.35 (sdk-core) writes a MarkerRecorded event named
    "core_patch" whose "patch-data" detail is {"id": <patch id>, "deprecated": false}."""
    found = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            attributes = event.marker_recorded_event_attributes
            if attributes.marker_name == "core_patch":
                found.append(json.loads(attributes.details["patch-data"].payloads[0].data)["id"])
    return found


async def test_closed_cycle_is_archived_and_replays_from_the_store(
    env: WorkflowEnvironment, task_queue: str, engine: Engine
) -> None:
    programme = small(get_programme("qingdao-mayor-quality-award"))
    cycle_id = await start(env.client, programme, task_queue, uuid.uuid4().hex[:6])
    applications = dict(list(forms(programme).items())[:4])
    await apply_all(env.client, cycle_id, applications)
    status = await play(env, cycle_id, StrongPlayer(programme=programme, departments=True))
    expected = workflow_ids(status)
    assert status.consultations and status.notice  # the archive covers every kind of workflow

    # The cycle started the archive just before it returned; it waits until every workflow has closed.
    result = await env.client.get_workflow_handle(ids.archive_id(cycle_id), result_type=ArchiveResult).result()
    assert sorted(result.archived) == sorted(expected)
    assert result.missing == []

    with session(engine) as db:
        rows = queries.list_archived(db, cycle_id=cycle_id)
    assert sorted(r.workflow_id for r in rows) == sorted(expected)
    live = {h.workflow_id: h for h in await fetch(env.client, expected)}
    for row in rows:
        assert row.sha256 == sha256_hex(row.history_json)
        assert row.history_json == history_text(live[row.workflow_id].to_json_dict())  # the whole, closed history
        assert row.code_version == code_version()
        assert row.run_id == live[row.workflow_id].run_id
    assert {r.workflow_type for r in rows} == {
        "AwardCycleWorkflow",
        "ApplicationWorkflow",
        "ConsultationWorkflow",
        "PublicNoticeWorkflow",
    }

    # The Temporal test server's database cannot be deleted, so replay only what the store holds.
    archived = load_archived(engine, cycle_id=cycle_id)
    assert [a.workflow_id for a in archived] == sorted(expected)
    results = await replay([a.history for a in archived])
    assert not results.replay_failures, results.replay_failures

    # The new cycle ran the patched branch: its history records the patch marker, and replays (above).
    (cycle,) = [a.history for a in archived if a.workflow_id == cycle_id]
    assert PATCH_ID in patch_markers(cycle)
    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in cycle.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert activities[-1] == "start_archive"

    # A second archive run finds everything stored under the same run and writes nothing.
    again = await env.client.execute_workflow(
        "ArchiveWorkflow",
        {"cycle_id": cycle_id, "workflow_ids": expected},
        id=f"{ids.archive_id(cycle_id)}-again",
        task_queue=task_queue,
        result_type=ArchiveResult,
    )
    assert again.archived == [] and sorted(again.already_archived) == sorted(expected)

    # An archived history edited in the store no longer matches its hash.
    victim = expected[1]
    with session(engine) as db:
        tampered = queries.get_archived(db, workflow_id=victim)
        assert tampered is not None
        assert '"identity": "' in tampered.history_json
        tampered.history_json = tampered.history_json.replace('"identity": "', '"identity": "mallory-', 1)
        db.add(tampered)
    with pytest.raises(ArchiveTampered) as raised:
        load_archived(engine, cycle_id=cycle_id)
    assert raised.value.workflow_id == victim
    assert raised.value.expected == next(r.sha256 for r in rows if r.workflow_id == victim)
    assert load_archived(engine, workflow_id=cycle_id)[0].workflow_id == cycle_id  # the others still load


async def test_recorded_cycle_from_before_the_patch_replays() -> None:
    """The recorded cycle predates the archive: no marker, and the patched code takes the old path on replay."""
    histories = load()
    (cycle,) = [h for h in histories if h.workflow_id == OLD_CYCLE]
    assert patch_markers(cycle) == []
    assert "start_archive" not in cycle.to_json()
    results = await replay([cycle])
    assert not results.replay_failures, results.replay_failures


def test_code_version_names_the_package_and_the_workflow_code() -> None:
    version = code_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*\+[0-9a-f]{12}", version), version
    assert code_version() is version  # cached


def test_archive_history_upserts_by_workflow_id(engine: Engine) -> None:
    workflow_id = f"upsert-{uuid.uuid4().hex[:6]}"
    for run_id in ("run-1", "run-2"):
        with session(engine) as db:
            queries.archive_history(
                db,
                workflow_id=workflow_id,
                run_id=run_id,
                workflow_type="PublicNoticeWorkflow",
                cycle_id="upsert-cycle",
                closed_at=datetime(2026, 1, 1, tzinfo=UTC),
                sha256=sha256_hex("{}"),
                code_version=code_version(),
                history_json="{}",
                archived_at=datetime.now(UTC),
            )
    with session(engine) as db:
        rows = [r for r in queries.list_archived(db, cycle_id="upsert-cycle") if r.workflow_id == workflow_id]
        stored = queries.get_archived(db, workflow_id=workflow_id)
    assert len(rows) == 1 and stored is not None and stored.run_id == "run-2"


@pytest.fixture
def archived_notice(engine: Engine) -> tuple[str, dict[str, object]]:
    """The recorded notice history, archived under a fresh workflow id."""
    workflow_id = f"verify-{uuid.uuid4().hex[:6]}.notice"
    recorded = json.loads((HISTORIES / f"{OLD_CYCLE}.notice.json").read_text())
    text = history_text(recorded)
    with session(engine) as db:
        queries.archive_history(
            db,
            workflow_id=workflow_id,
            run_id="recorded",
            workflow_type="PublicNoticeWorkflow",
            cycle_id=OLD_CYCLE,
            closed_at=datetime(2026, 1, 1, tzinfo=UTC),
            sha256=sha256_hex(text),
            code_version="0.0.0+recorded",
            history_json=text,
            archived_at=datetime.now(UTC),
        )
    return workflow_id, recorded


def test_verify_file_accepts_the_archived_history_in_any_formatting(
    tmp_path: Path, engine: Engine, archived_notice: tuple[str, dict[str, object]]
) -> None:
    workflow_id, recorded = archived_notice
    exact = tmp_path / f"{workflow_id}.json"
    exact.write_text(history_text(recorded))
    assert verify_file(exact, engine).workflow_id == workflow_id
    pretty = tmp_path / "exported.json"
    pretty.write_text(json.dumps(recorded, indent=2))
    assert len(verify_file(pretty, engine, workflow_id=workflow_id).events) == len(recorded["events"])  # type: ignore[arg-type]
    unarchived = tmp_path / "never-archived.json"
    unarchived.write_text(json.dumps(recorded))
    assert verify_file(unarchived, engine).workflow_id == "never-archived"


def _truncated(recorded: dict[str, object]) -> object:
    events = recorded["events"]
    assert isinstance(events, list)
    return {"events": events[: len(events) // 2]}


def _unknown_type(recorded: dict[str, object]) -> object:
    text = json.dumps(recorded).replace('"PublicNoticeWorkflow"', '"RetiredWorkflow"')
    return json.loads(text)


def _edited(recorded: dict[str, object]) -> object:
    text = json.dumps(recorded, ensure_ascii=False)
    assert '"identity": "' in text
    return json.loads(text.replace('"identity": "', '"identity": "mallory-', 1))


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("not-json", lambda r: '{"events": [', "not JSON"),
        ("no-events", lambda r: {"events": []}, "no events"),
        ("not-a-history", lambda r: [1, 2, 3], "no events"),
        ("malformed", lambda r: {"events": [{"eventId": "x", "eventType": "NOPE"}]}, "invalid workflow history"),
        ("truncated", _truncated, "truncated"),
        ("unknown-type", _unknown_type, "unknown workflow type 'RetiredWorkflow'"),
        ("edited", _edited, "edited"),
    ],
)
def test_verify_file_refuses_bad_files(
    tmp_path: Path,
    engine: Engine,
    archived_notice: tuple[str, dict[str, object]],
    kind: str,
    content: object,
    message: str,
) -> None:
    workflow_id, recorded = archived_notice
    made = content(recorded)  # type: ignore[operator]
    path = tmp_path / f"{workflow_id}.json"
    path.write_text(made if isinstance(made, str) else json.dumps(made, ensure_ascii=False))
    with pytest.raises(HistoryFileError, match=re.escape(message)):
        verify_file(path, engine)
