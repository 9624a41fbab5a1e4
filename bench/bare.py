"""Bare Temporal doing the same count of workflows, activities, signals, updates and timers as a bench of the
engine, so that bench can print the engine's cost as a multiple of Temporal's own on the same work.

    .venv/bin/python bench/bare.py --workflows 1000 --activities 5000 --local-activities 1000 --timers 2000 \
        --signals 3000 --updates 7000 [--workers 2] [--concurrency 16]

From another bench (bench/ is on sys.path when one runs as `.venv/bin/python bench/x.py`):

    from bare import BareWork, run_bare
    figures = await run_bare(BareWork(workflows=1000, activities=5000, ...), workers=2)

It starts its own dev server (the engine's command, on a SQLite file in a temporary state directory) and one
worker in this process, or `--workers` worker processes of this script. Each workflow runs its share of no-op
activities one after another, then its local activities, then its timers (10 ms sleeps), and waits until the
client's signals and updates for it (sent round robin) have all arrived. It prints wall time from the first
start to the last result, workflows per second, history events, and CPU seconds and peak memory per process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

# The sandbox re-runs this file for each workflow run (the SDK loads a script's workflows as
# `__temporal_main__`); the engine's modules the client side needs are passed through, as its workflows do.
with workflow.unsafe.imports_passed_through():
    from measure import bench_settings, cpu_seconds, peak_rss_mb

    from awardcycle.embedded import start_dev_server
    from awardcycle.temporal_client import connect
    from config.settings import Settings
    from worker import CACHED_WORKFLOWS, STICKY_WAIT  # the engine's worker settings: the two differ in workflows only

TIMER_SECONDS = 0.01
ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
READY = b"ready\n"
READY_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class BareWork:
    workflows: int  # workflow runs to start (each completes)
    activities: int  # activity executions, spread evenly over the workflows
    local_activities: int
    timers: int  # timers (each a 10 ms workflow.sleep), spread evenly
    signals: int  # signals sent by the client, spread evenly (round robin)
    updates: int  # updates sent by the client, spread evenly


@dataclass
class BareFigures:
    wall_seconds: float
    # "server" (the dev server process) and "worker and client": this process's CPU while the work ran (the
    # client, and the worker with workers=1) plus the worker processes' whole lives; RSS is this process's
    # peak with workers=1, else the worker processes' peaks summed.
    cpu_seconds: dict[str, float]
    peak_rss_mb: dict[str, float]
    events: int  # total history events of all bare workflows
    # Each process on its own: name -> (CPU seconds, peak RSS MB); "client" is this process.
    processes: dict[str, tuple[float, float]] = field(default_factory=dict)


class BareInput(BaseModel):
    activities: int
    local_activities: int
    timers: int
    signals: int
    updates: int


class Poke(BaseModel):
    index: int


@activity.defn
async def noop() -> None:
    return None


# Sandboxed, as the engine's workflows are, so the sandbox's cost is on both sides of the ratio.
@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self._signals = 0
        self._updates = 0

    @workflow.run
    async def run(self, input: BareInput) -> int:
        for _ in range(input.activities):
            await workflow.execute_activity(noop, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
        for _ in range(input.local_activities):
            await workflow.execute_local_activity(noop, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
        for _ in range(input.timers):
            await workflow.sleep(TIMER_SECONDS)
        await workflow.wait_condition(
            lambda: (
                self._signals >= input.signals and self._updates >= input.updates and workflow.all_handlers_finished()
            )
        )
        return self._signals + self._updates

    @workflow.signal
    def poke(self, poke: Poke) -> None:
        self._signals += 1

    @workflow.update
    def bump(self, poke: Poke) -> int:
        self._updates += 1
        return self._updates

    @bump.validator
    def _validate_bump(self, poke: Poke) -> None:
        if poke.index < 0:
            raise ApplicationError("a poke's index is not negative")


def share(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` spread evenly over `parts`, as round robin spreads it."""
    return total // parts + (1 if index < total % parts else 0)


def build_worker(client: Client, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow],
        activities=[noop],
        max_concurrent_workflow_tasks=Settings.model_fields["workflow_task_slots"].default,
        max_cached_workflows=CACHED_WORKFLOWS,
        sticky_queue_schedule_to_start_timeout=STICKY_WAIT,
    )


@contextlib.asynccontextmanager
async def worker_processes(address: str, task_queue: str, count: int) -> AsyncIterator[list[int]]:
    """`count` processes of this script in --worker mode, each polling once it has said so; their pids."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,  # absolute: the script, or bench/bare.py as imported from bench/
            "--worker",
            "--address",
            address,
            "--task-queue",
            task_queue,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT_SECONDS)
            if line != READY:
                raise RuntimeError(f"a bare worker process exited before it was ready (code {await process.wait()})")
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            await process.wait()


@contextlib.asynccontextmanager
async def in_process_worker(client: Client, task_queue: str) -> AsyncIterator[list[int]]:
    """One worker in this process; no pids."""
    async with build_worker(client, task_queue):
        yield []


async def drive(client: Client, work: BareWork, task_queue: str, concurrency: int) -> tuple[float, list[str]]:
    """Starts the workflows, sends the signals and updates, awaits every result; the seconds that took, the ids."""
    count = work.workflows
    prefix = f"bare-{uuid.uuid4().hex[:8]}"
    limit = asyncio.Semaphore(concurrency)
    began = time.monotonic()

    async def start(index: int) -> WorkflowHandle[BareWorkflow, int]:
        given = BareInput(
            activities=share(work.activities, count, index),
            local_activities=share(work.local_activities, count, index),
            timers=share(work.timers, count, index),
            signals=share(work.signals, count, index),
            updates=share(work.updates, count, index),
        )
        async with limit:
            return await client.start_workflow(BareWorkflow.run, given, id=f"{prefix}-{index}", task_queue=task_queue)

    handles = list(await asyncio.gather(*(start(i) for i in range(count))))

    async def signal(index: int) -> None:
        async with limit:
            await handles[index % count].signal(BareWorkflow.poke, Poke(index=index))

    async def update(index: int) -> None:
        handle = handles[index % count]
        async with limit:
            while True:
                try:
                    await handle.execute_update(BareWorkflow.bump, Poke(index=index), id=f"bump-{index}")
                    return
                except WorkflowUpdateRPCTimeoutOrCancelledError:
                    continue  # a busy server: asked again under the same id, the update is not applied twice

    # A result is a long poll of the history: thousands at once exceed the server's concurrent poller limit.
    async def result(handle: WorkflowHandle[BareWorkflow, int]) -> None:
        async with limit:
            await handle.result()

    await asyncio.gather(*(signal(i) for i in range(work.signals)), *(update(i) for i in range(work.updates)))
    await asyncio.gather(*(result(h) for h in handles))
    return time.monotonic() - began, [h.id for h in handles]


async def count_events(client: Client, workflow_ids: list[str], concurrency: int) -> int:
    limit = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str) -> int:
        async with limit:
            described = await client.get_workflow_handle(workflow_id).describe()
            return described.raw_description.workflow_execution_info.history_length

    return sum(await asyncio.gather(*(one(w) for w in workflow_ids)))


async def run_bare(work: BareWork, *, workers: int = 1, concurrency: int = 16) -> BareFigures:
    """The work on a dev server of its own, with one worker in this process or `workers` worker processes."""
    if work.workflows < 1:
        raise ValueError("at least one workflow")
    with tempfile.TemporaryDirectory(prefix="awardcycle-bare-") as home:
        settings = bench_settings(Path(home))
        async with start_dev_server(settings) as server:
            client = await connect(settings)
            task_queue = f"bare-{uuid.uuid4().hex[:8]}"
            if workers > 1:
                workers_at = worker_processes(settings.temporal_target, task_queue, workers)
            else:
                workers_at = in_process_worker(client, task_queue)
            async with workers_at as pids:
                own_before = cpu_seconds("self")
                wall, workflow_ids = await drive(client, work, task_queue, concurrency)
                own = cpu_seconds("self") - own_before
                processes = {f"worker {n}": (cpu_seconds(pid), peak_rss_mb(pid)) for n, pid in enumerate(pids, 1)}
                server_figures = (cpu_seconds(server.pid), peak_rss_mb(server.pid))
            processes["client" if pids else "worker and client"] = (own, peak_rss_mb())
            processes["server"] = server_figures
            events = await count_events(client, workflow_ids, concurrency)
    workers_rss = sum(rss for name, (_, rss) in processes.items() if name.startswith("worker"))
    return BareFigures(
        wall_seconds=wall,
        cpu_seconds={
            "server": server_figures[0],
            "worker and client": sum(cpu for name, (cpu, _) in processes.items() if name != "server"),
        },
        peak_rss_mb={"server": server_figures[1], "worker and client": workers_rss},
        events=events,
        processes=processes,
    )


async def serve(address: str, task_queue: str) -> None:
    """--worker mode: one worker on the task queue until terminated."""
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    worker = build_worker(client, task_queue)
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    await worker.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--activities", type=int, default=5000)
    parser.add_argument("--local-activities", type=int, default=1000)
    parser.add_argument("--timers", type=int, default=2000)
    parser.add_argument("--signals", type=int, default=3000)
    parser.add_argument("--updates", type=int, default=7000)
    parser.add_argument("--workers", type=int, default=1, help="1: a worker in this process; more: processes")
    parser.add_argument("--concurrency", type=int, default=16, help="client calls in flight at once")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--task-queue", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        asyncio.run(serve(options.address, options.task_queue))
        return
    work = BareWork(
        workflows=options.workflows,
        activities=options.activities,
        local_activities=options.local_activities,
        timers=options.timers,
        signals=options.signals,
        updates=options.updates,
    )
    figures = asyncio.run(run_bare(work, workers=options.workers, concurrency=options.concurrency))
    print(
        f"bare Temporal: {work.workflows} workflows, {work.activities} activities, {work.local_activities} local, "
        f"{work.timers} timers, {work.signals} signals, {work.updates} updates; "
        f"{options.workers} worker process(es), {options.concurrency} client calls at once"
    )
    print(f"wall: {figures.wall_seconds:.1f} s, {work.workflows / figures.wall_seconds:.1f} workflows/s")
    print(f"events: {figures.events}, {figures.events / work.workflows:.1f} per workflow")
    print("CPU: " + ", ".join(f"{name} {cpu:.1f} s" for name, (cpu, _) in figures.processes.items()))
    print("peak RSS: " + ", ".join(f"{name} {rss:.0f} MB" for name, (_, rss) in figures.processes.items()))


if __name__ == "__main__":
    main()
