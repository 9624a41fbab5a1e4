"""Auditors' operations on recorded histories: which workflows a cycle ran, replay, and reconciliation."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from activities.chain import fetch_chain, workflow_type
from schemas import ids
from schemas.cycle import CycleResult
from store import queries
from store.db import session


@dataclass(frozen=True)
class ReplayOutcome:
    workflow_id: str
    workflow_type: str
    error: str | None
    run_index: int = 0  # which run of the workflow id's chain, when the histories come chain by chain


def children(history: WorkflowHistory) -> list[str]:
    """The workflows a history started, read from the history itself rather than from the read model."""
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]


async def cycle_histories(client: Client, cycle_id: str) -> list[WorkflowHistory]:
    """Every run of the cycle, its applications and its children, chain by chain, each chain first run first."""
    cycle = await fetch_chain(client, cycle_id)
    started = dict.fromkeys(i for run in cycle for i in children(run))  # children of every run, each id once
    return (
        cycle + await _applications(client, cycle_id) + [run for i in started for run in await fetch_chain(client, i)]
    )


async def _applications(client: Client, cycle_id: str) -> list[WorkflowHistory]:
    """The applications, started by an activity rather than as children: numbered from 1 without a gap."""
    runs: list[WorkflowHistory] = []
    for number in itertools.count(1):
        try:
            runs += await fetch_chain(client, ids.application_id(cycle_id, number))
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            return runs
    raise AssertionError("unreachable")


# A spawned process takes a second or two to start: below some 40 histories it costs more than it saves.
MIN_SHARE = 40


async def replay_all(
    histories: Iterable[WorkflowHistory],
    workflows: Sequence[type],
    advance: Callable[[], None] | None = None,
    processes: int = 1,
    min_share: int = MIN_SHARE,
) -> tuple[list[ReplayOutcome], float]:
    """Replay each history (one run) with the current code; the first divergence of each, and histories per second.

    Runs of one workflow id replay separately, each from its own history, and are numbered in the order given.
    With `processes` above 1 the histories are shared among that many processes; `advance` then moves on as
    each process's share comes back. Each process gets at least `min_share` histories, else fewer processes run.
    """
    given = list(histories)
    sharing = max(1, min(processes, len(given) // max(1, min_share)))
    started = time.monotonic()
    tick = advance or (lambda: None)
    errors = await (
        _replay_shared(given, workflows, tick, sharing) if sharing > 1 else _replay_here(given, workflows, tick)
    )
    elapsed = time.monotonic() - started
    return _outcomes(given, errors), len(given) / elapsed if elapsed else float("inf")


def _outcomes(histories: list[WorkflowHistory], errors: list[str | None]) -> list[ReplayOutcome]:
    runs: Counter[str] = Counter()
    outcomes: list[ReplayOutcome] = []
    for history, error in zip(histories, errors, strict=True):
        outcomes.append(ReplayOutcome(history.workflow_id, workflow_type(history), error, runs[history.workflow_id]))
        runs[history.workflow_id] += 1
    return outcomes


async def _replay_here(
    histories: list[WorkflowHistory], workflows: Sequence[type], advance: Callable[[], None]
) -> list[str | None]:
    """In this process, one replay worker for every history."""
    replayer = Replayer(workflows=workflows, data_converter=pydantic_data_converter)
    errors: list[str | None] = []
    async with replayer.workflow_replay_iterator(_each(histories)) as results:
        async for result in results:
            errors.append(str(result.replay_failure) if result.replay_failure else None)
            advance()
    return errors


async def _each(histories: list[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


async def _replay_shared(
    histories: list[WorkflowHistory], workflows: Sequence[type], advance: Callable[[], None], processes: int
) -> list[str | None]:
    """Each process replays its share with one replay worker; the errors come back in the order given."""
    loop = asyncio.get_running_loop()
    packed = [_pack(h) for h in histories]
    errors: list[str | None] = [None] * len(histories)
    # Spawned, not forked: a fork would inherit a Temporal runtime without the core threads that run it.
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:

        async def replay(share: list[int]) -> None:
            found = await loop.run_in_executor(pool, _replay_packed, list(workflows), [packed[i] for i in share])
            for i, error in zip(share, found, strict=True):
                errors[i] = error
                advance()

        await asyncio.gather(*(replay(share) for share in _shares([len(h.events) for h in histories], processes)))
    return errors


def _shares(sizes: list[int], processes: int) -> list[list[int]]:
    """Indices for each process, each in the order given: the longest histories first, each to the process with
    the fewest events so far, so the processes finish together (a cycle's runs are long, its notice short)."""
    shares: list[list[int]] = [[] for _ in range(processes)]
    events = [0] * processes
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        least = events.index(min(events))
        shares[least].append(i)
        events[least] += sizes[i]
    return [sorted(share) for share in shares]


def _pack(history: WorkflowHistory) -> tuple[str, bytes]:
    # Protobuf bytes, not JSON: under a millisecond a history each way where JSON takes some 20 ms.
    return history.workflow_id, History(events=history.events).SerializeToString()


def _replay_packed(workflows: list[type], packed: list[tuple[str, bytes]]) -> tuple[str | None, ...]:
    """In a pool's process: each packed history's first divergence, or None, in the order given."""
    histories = [WorkflowHistory(workflow_id, History.FromString(data).events) for workflow_id, data in packed]
    return tuple(asyncio.run(_replay_here(histories, workflows, lambda: None)))


def cycle_result(history: WorkflowHistory) -> CycleResult | None:
    """The result the cycle's history records, if it completed."""
    for event in reversed(history.events):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            payloads = event.workflow_execution_completed_event_attributes.result.payloads
            [result] = pydantic_data_converter.payload_converter.from_payloads(payloads, [CycleResult])
            return result
    return None


def differences(engine: Engine, cycle_id: str, result: CycleResult) -> list[str]:
    """Each way the SQL read model disagrees with what the cycle's history says."""
    found: list[str] = []
    with session(engine) as db:
        stored = {r.application_id: r for r in queries.list_results(db, cycle_id=cycle_id)}
        recommended = {
            (r.target_programme, r.application_id) for r in queries.list_recommendations(db, cycle_id=cycle_id)
        }
        cycle = queries.get_cycle(db, cycle_id=cycle_id)
    if cycle is None or not cycle.completed:
        found.append(f"cycle {cycle_id}: the read model does not show it completed")
    for award in result.awards:
        row = stored.pop(award.application_id, None)
        if row is None:
            found.append(f"{award.application_id}: {award.award.value} in the history, missing from the results table")
        elif (row.award, row.final_score, row.name) != (award.award.value, award.final_score, award.name):
            found.append(
                f"{award.application_id}: history says {award.award.value} {award.final_score} {award.name}, "
                f"table says {row.award} {row.final_score} {row.name}"
            )
    found += [f"{a}: in the results table ({r.award}) but not awarded in the history" for a, r in stored.items()]
    expected = {(r.programme, r.application_id) for r in result.recommendations}
    found += [f"recommendation {p} ← {a}: in the history, missing from the table" for p, a in expected - recommended]
    found += [f"recommendation {p} ← {a}: in the table, not in the history" for p, a in recommended - expected]
    return found
