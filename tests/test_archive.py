"""The history archive: a closed cycle's histories are stored, every run of each chain with its hash, and replay
from the store alone; the archive activity walks each chain back from its latest run on a real server."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.archive import ArchiveActivities
from activities.chain import fetch_chain
from awardcycle.archive import (
    ArchiveChainBroken,
    ArchiveTampered,
    HistoryFileError,
    chains,
    load_archived,
    verify_file,
)
from awardcycle.audit import replay_all
from programmes import get_programme
from schemas import ids
from schemas.archive import ArchiveRequest, ArchiveResult, code_version, history_text, sha256_hex
from store import queries
from store.db import session
from tests.replay import (
    RelayWorkflow,
    by_workflow,
    load,
    noting_fetches,
    recorded_cycle_id,
    recorded_json,
    relay,
    relay_worker,
    replay,
    workflow_ids,
)
from tests.scenario import StrongPlayer, apply_all, forms, play, small, start
from worker import WORKFLOWS

CYCLE = recorded_cycle_id()


async def test_closed_cycle_is_archived_and_replays_from_the_store(
    env: WorkflowEnvironment, task_queue: str, engine: Engine
) -> None:
    programme = small(get_programme("qingdao-mayor-quality-award"))
    # At the default events_per_run: at MIN_EVENTS_PER_RUN the time-skipping test server can wedge when an
    # application's signal lands during the cycle's hand-over to its next run (its history of the closed run ends
    # in a started workflow task, no ContinuedAsNew, and env.sleep never returns). The archive of a chain of several
    # runs is checked on a real relay below, and the recorded chain of the cycle in the store tests.
    cycle_id = await start(env.client, programme, task_queue, uuid.uuid4().hex[:6])
    applications = dict(list(forms(programme).items())[:4])
    await apply_all(env.client, cycle_id, applications)
    status = await play(env, engine, cycle_id, StrongPlayer(programme=programme, departments=True))
    expected = workflow_ids(status, engine)
    assert status.consultations and status.notice  # the archive covers every kind of workflow

    # The cycle started the archive just before it returned; it waits until every workflow has closed.
    result = await env.client.get_workflow_handle(ids.archive_id(cycle_id), result_type=ArchiveResult).result()
    assert sorted(result.archived) == sorted(expected)
    assert result.missing == []

    with session(engine) as db:
        rows = queries.list_archived(db, cycle_id=cycle_id)
    assert sorted({r.workflow_id for r in rows}) == sorted(expected)
    # Every run of each chain, in order; a workflow that never continued as new has one.
    live = {i: await fetch_chain(env.client, i) for i in expected}
    assert [(r.workflow_id, r.run_index) for r in rows] == [
        (i, n) for i in sorted(expected) for n in range(len(live[i]))
    ]
    for row in rows:
        run = live[row.workflow_id][row.run_index]
        assert row.sha256 == sha256_hex(row.history_json)
        assert row.history_json == history_text(run.to_json_dict())  # the whole, closed history of that run
        assert row.code_version == code_version()
        assert row.run_id == run.run_id
    assert {r.workflow_type for r in rows} == {
        "AwardCycleWorkflow",
        "ApplicationWorkflow",
        "ConsultationWorkflow",
        "PublicNoticeWorkflow",
    }

    # The Temporal test server's database cannot be deleted, so replay only what the store holds.
    archived = load_archived(engine, cycle_id=cycle_id)
    assert list(chains(archived)) == sorted(expected)
    outcomes, _ = await replay_all([a.history for a in archived], WORKFLOWS)  # each run replays on its own
    assert [o.error for o in outcomes] == [None] * len(archived)
    assert [o.run_index for o in outcomes if o.workflow_id == cycle_id] == list(range(len(live[cycle_id])))

    cycle_runs = [a.history for a in chains(archived)[cycle_id]]
    assert [a.history.events[-1].event_type for a in chains(archived)[cycle_id]] == [
        *[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW] * (len(cycle_runs) - 1),
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    ]
    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in cycle_runs[-1].events
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
        tampered = queries.list_archived(db, workflow_id=victim)[0]
        assert '"identity": "' in tampered.history_json
        tampered.history_json = tampered.history_json.replace('"identity": "', '"identity": "mallory-', 1)
        db.add(tampered)
    with pytest.raises(ArchiveTampered) as raised:
        load_archived(engine, cycle_id=cycle_id)
    victim_row = next(r for r in rows if r.workflow_id == victim)
    assert (raised.value.workflow_id, raised.value.run_id) == (victim, victim_row.run_id)
    assert raised.value.expected == victim_row.sha256
    assert load_archived(engine, workflow_id=cycle_id)[0].workflow_id == cycle_id  # the others still load


def test_code_version_names_the_package_and_the_workflow_code() -> None:
    version = code_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*\+[0-9a-f]{12}", version), version
    assert code_version() is version  # cached


def _archive(
    engine: Engine,
    workflow_id: str,
    run_id: str,
    run_index: int,
    text: str,
    version: str,
    workflow_type: str = "AwardCycleWorkflow",
) -> None:
    with session(engine) as db:
        queries.archive_history(
            db,
            workflow_id=workflow_id,
            run_id=run_id,
            run_index=run_index,
            workflow_type=workflow_type,
            cycle_id=workflow_id,
            closed_at=datetime(2026, 1, 1, tzinfo=UTC),
            sha256=sha256_hex(text),
            code_version=version,
            history_json=text,
            archived_at=datetime.now(UTC),
        )


def test_archive_history_upserts_by_run(engine: Engine) -> None:
    workflow_id = f"upsert-{uuid.uuid4().hex[:6]}"
    _archive(engine, workflow_id, "run-1", 0, "{}", "0.0.0+first")
    _archive(engine, workflow_id, "run-2", 1, "{}", "0.0.0+first")
    _archive(engine, workflow_id, "run-1", 0, "{}", "0.0.0+retried")  # a retried activity: the same run again
    with session(engine) as db:
        rows = queries.list_archived(db, workflow_id=workflow_id)
        stored = queries.get_archived(db, workflow_id=workflow_id, run_id="run-1")
        assert queries.get_archived(db, workflow_id=workflow_id, run_id="run-3") is None
    assert [(r.run_id, r.run_index) for r in rows] == [("run-1", 0), ("run-2", 1)]
    assert stored is not None and stored.code_version == "0.0.0+retried"


RecordedChain = tuple[str, list[dict[str, Any]], list[str]]


@pytest.fixture
def recorded_chain(engine: Engine) -> RecordedChain:
    """The recorded cycle's runs archived under a fresh workflow id, last run first: the id, each run's JSON
    as recorded, and each run's id."""
    runs = by_workflow(load())[CYCLE]
    assert len(runs) > 2, "the recorded cycle continued as new more than once"
    workflow_id = f"chain-{uuid.uuid4().hex[:6]}"
    recorded = [recorded_json(CYCLE, n) for n in range(len(runs))]
    run_ids = [run.run_id for run in runs]
    for n in reversed(range(len(runs))):
        _archive(engine, workflow_id, run_ids[n], n, history_text(recorded[n]), "0.0.0+recorded")
    return workflow_id, recorded, run_ids


def test_a_chain_of_runs_reads_back_in_order_with_each_hash_checked(
    engine: Engine, recorded_chain: RecordedChain
) -> None:
    workflow_id, runs, run_ids = recorded_chain
    archived = load_archived(engine, workflow_id=workflow_id)
    assert [(a.run_id, a.run_index) for a in archived] == [(i, n) for n, i in enumerate(run_ids)]
    assert [a.sha256 for a in archived] == [sha256_hex(history_text(run)) for run in runs]
    assert [history_text(a.history.to_json_dict()) for a in archived] == [history_text(run) for run in runs]
    assert [a.history.events[-1].WhichOneof("attributes") for a in archived] == [
        *["workflow_execution_continued_as_new_event_attributes"] * (len(runs) - 1),
        "workflow_execution_completed_event_attributes",
    ]
    assert list(chains(load_archived(engine, cycle_id=workflow_id))) == [workflow_id]

    # Each run's hash is checked on its own: altering the second run names it.
    with session(engine) as db:
        row = queries.get_archived(db, workflow_id=workflow_id, run_id=run_ids[1])
        assert row is not None and '"identity": "' in row.history_json
        row.history_json = row.history_json.replace('"identity": "', '"identity": "mallory-', 1)
        db.add(row)
    with pytest.raises(ArchiveTampered) as raised:
        load_archived(engine, workflow_id=workflow_id)
    assert (raised.value.workflow_id, raised.value.run_id) == (workflow_id, run_ids[1])
    assert raised.value.expected == sha256_hex(history_text(runs[1]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("drop-last", "its last run {2} continued as new, into a missing run"),
        ("drop-first", "run indexes [1, 2, 3]"),
        ("drop-middle", "run indexes [0, 2, 3]"),
        ("drop-middle-renumbered", "run 1 continues {1}, not {0}"),
        ("swap", "run 0 continues {0}, not no run"),
    ],
)
def test_a_chain_with_a_run_removed_or_moved_is_refused(
    engine: Engine, recorded_chain: RecordedChain, change: str, message: str
) -> None:
    workflow_id, _, run_ids = recorded_chain
    assert len(run_ids) == 4  # the messages name runs of the recorded cycle's four
    with session(engine) as db:
        first, second, third, last = queries.list_archived(db, workflow_id=workflow_id)
        if change == "drop-last":
            db.delete(last)
        elif change == "drop-first":
            db.delete(first)
        elif change.startswith("drop-middle"):
            db.delete(second)
            if change.endswith("renumbered"):  # run_index is not under a hash; the links in the histories are
                db.flush()
                for row, index in ((third, 1), (last, 2)):
                    row.run_index = index
                    db.flush()
        else:  # the first two runs trade places, one update at a time under the unique (workflow, run index)
            for row, index in ((first, -1), (second, 0), (first, 1)):
                row.run_index = index
                db.flush()
    with pytest.raises(ArchiveChainBroken, match=re.escape(message.format(*run_ids))):
        load_archived(engine, workflow_id=workflow_id)


def test_verify_file_finds_the_archived_run_the_file_holds(
    tmp_path: Path, engine: Engine, recorded_chain: RecordedChain
) -> None:
    workflow_id, runs, run_ids = recorded_chain
    for n, run in enumerate(runs):
        path = tmp_path / f"run-{n}" / f"{workflow_id}.json"
        path.parent.mkdir()
        path.write_text(json.dumps(run, indent=2))
        assert len(verify_file(path, engine).events) == len(run["events"])
    edited = tmp_path / f"{workflow_id}.json"
    edited.write_text(json.dumps(_edited(runs[1]), ensure_ascii=False))
    with pytest.raises(HistoryFileError, match=re.escape("differs from the archived history of") + ".* run 1 "):
        verify_file(edited, engine)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(runs[1]).replace(f'"{run_ids[0]}"', '"run-z"'))
    with pytest.raises(HistoryFileError, match=r"no archived run of .* continues run-z"):
        verify_file(foreign, engine, workflow_id=workflow_id)


async def test_archive_histories_walks_each_chain_back_from_its_latest_run(
    env: WorkflowEnvironment, engine: Engine
) -> None:
    cycle_id = f"walk-{uuid.uuid4().hex[:6]}"
    chain, single, held, missing = cycle_id, f"{cycle_id}.single", f"{cycle_id}.held", f"{cycle_id}.app-0042"
    async with relay_worker(env.client) as queue:
        await relay(env.client, queue, chain, runs=3)
        await relay(env.client, queue, single)
        live = {i: await fetch_chain(env.client, i) for i in (chain, single)}
        run_ids = {i: [run.run_id for run in runs] for i, runs in live.items()}
        client, fetched = noting_fetches(env.client)
        archive = ArchiveActivities(client, engine)
        request = ArchiveRequest(cycle_id=cycle_id, workflow_ids=[chain, single, missing])

        result = await ActivityEnvironment().run(archive.archive_histories, request)
        assert (result.archived, result.missing) == ([chain, single], [missing])
        # The latest run (the one the description names), then back along the links.
        assert fetched == [(chain, run_ids[chain][n]) for n in (2, 1, 0)] + [(single, run_ids[single][0])]
        with session(engine) as db:
            rows = queries.list_archived(db, cycle_id=cycle_id)
        assert [(r.workflow_id, r.run_id, r.run_index, r.workflow_type) for r in rows] == [
            (i, r, n, "RelayWorkflow") for i in (chain, single) for n, r in enumerate(run_ids[i])
        ]
        assert [r.history_json for r in rows] == [history_text(h.to_json_dict()) for i in live for h in live[i]]
        first = live[chain][0].to_json_dict()["events"][-1]
        assert first["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
        assert rows[0].closed_at == datetime.fromisoformat(first["eventTime"])  # when it continued as new
        archived = load_archived(engine, cycle_id=cycle_id)
        assert [a.run_id for a in archived] == [r.run_id for r in rows]
        replayed = await replay([a.history for a in archived], [RelayWorkflow])  # each run replays on its own
        assert not replayed.replay_failures, replayed.replay_failures

        # Again: the latest runs are stored, so nothing is fetched or written.
        fetched.clear()
        again = await ActivityEnvironment().run(archive.archive_histories, request)
        assert again.archived == [] and again.already_archived == [chain, single]
        assert fetched == []

        # While a latest run is running, the chain is not complete: StillRunning, retried by the workflow.
        handle = await relay(env.client, queue, held, runs=2, hold=True)
        request = ArchiveRequest(cycle_id=cycle_id, workflow_ids=[held])
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(archive.archive_histories, request)
        assert raised.value.type == "StillRunning"
        with session(engine) as db:
            assert queries.list_archived(db, workflow_id=held) == []
        await handle.signal(RelayWorkflow.finish)
        assert await handle.result() == 1
        closed = await ActivityEnvironment().run(archive.archive_histories, request)
        assert closed.archived == [held]
        assert [a.run_index for a in load_archived(engine, workflow_id=held)] == [0, 1]


async def test_archive_histories_stops_walking_at_a_stored_run(env: WorkflowEnvironment, engine: Engine) -> None:
    workflow_id = f"resume-{uuid.uuid4().hex[:6]}"
    async with relay_worker(env.client) as queue:
        await relay(env.client, queue, workflow_id, runs=3)
    runs = await fetch_chain(env.client, workflow_id)
    run_ids = [run.run_id for run in runs]
    _archive(engine, workflow_id, run_ids[0], 0, history_text(runs[0].to_json_dict()), "0.0.0+earlier", "RelayWorkflow")
    client, fetched = noting_fetches(env.client)
    archive = ArchiveActivities(client, engine)
    result = await ActivityEnvironment().run(
        archive.archive_histories, ArchiveRequest(cycle_id=workflow_id, workflow_ids=[workflow_id])
    )
    assert result.archived == [workflow_id]
    assert fetched == [(workflow_id, run_ids[2]), (workflow_id, run_ids[1])]  # not the stored first run
    assert [(a.run_id, a.run_index, a.code_version) for a in load_archived(engine, workflow_id=workflow_id)] == [
        (run_ids[0], 0, "0.0.0+earlier"),
        (run_ids[1], 1, code_version()),
        (run_ids[2], 2, code_version()),
    ]


@pytest.fixture
def archived_notice(engine: Engine) -> tuple[str, dict[str, Any]]:
    """The recorded notice history, archived under a fresh workflow id."""
    workflow_id = f"verify-{uuid.uuid4().hex[:6]}.notice"
    recorded = recorded_json(f"{CYCLE}.notice")
    text = history_text(recorded)
    with session(engine) as db:
        queries.archive_history(
            db,
            workflow_id=workflow_id,
            run_id="recorded",
            run_index=0,
            workflow_type="PublicNoticeWorkflow",
            cycle_id=CYCLE,
            closed_at=datetime(2026, 1, 1, tzinfo=UTC),
            sha256=sha256_hex(text),
            code_version="0.0.0+recorded",
            history_json=text,
            archived_at=datetime.now(UTC),
        )
    return workflow_id, recorded


def test_verify_file_accepts_the_archived_history_in_any_formatting(
    tmp_path: Path, engine: Engine, archived_notice: tuple[str, dict[str, Any]]
) -> None:
    workflow_id, recorded = archived_notice
    exact = tmp_path / f"{workflow_id}.json"
    exact.write_text(history_text(recorded))
    assert verify_file(exact, engine).workflow_id == workflow_id
    pretty = tmp_path / "exported.json"
    pretty.write_text(json.dumps(recorded, indent=2))
    assert len(verify_file(pretty, engine, workflow_id=workflow_id).events) == len(recorded["events"])
    unarchived = tmp_path / "never-archived.json"
    unarchived.write_text(json.dumps(recorded))
    assert verify_file(unarchived, engine).workflow_id == "never-archived"


def _truncated(recorded: dict[str, Any]) -> object:
    events = recorded["events"]
    assert isinstance(events, list)
    return {"events": events[: len(events) // 2]}


def _unknown_type(recorded: dict[str, Any]) -> object:
    text = json.dumps(recorded).replace('"PublicNoticeWorkflow"', '"RetiredWorkflow"')
    return json.loads(text)


def _edited(recorded: dict[str, Any]) -> object:
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
    archived_notice: tuple[str, dict[str, Any]],
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
