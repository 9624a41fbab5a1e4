"""One large cycle on an embedded dev server: a batch of the size the engine exists for, with its figures.

    .venv/bin/python bench/batch.py --programme quancheng-haopin --applicants 425
    .venv/bin/python bench/batch.py --programme haopin-shandong --applicants 1000 --day-seconds 4

It starts its own dev server and mail sink in a temporary state directory and `--workers` worker processes, posts
the applications (eight clerks at once) straight to Temporal, plays every person with the simulator, and
prints wall time, intake rate, events and MB per run of the cycle and per application, workflow-task
latency from the histories, messages sent and peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from measure import bench_settings, collect, peak_rss_mb
from sqlalchemy import func
from sqlmodel import select
from temporalio.client import Client

from awardcycle import samples, service
from awardcycle.embedded import start_dev_server, start_mail_sink
from awardcycle.simulation import Player, Simulator, TemporalDesk
from awardcycle.temporal_client import connect
from config.settings import Settings
from programmes import get_programme
from schemas import ids
from schemas.application import ApplicationForm
from schemas.common import Actor, Channel, Role
from schemas.cycle import EVENTS_PER_RUN, CycleOverview
from schemas.ids import TASK_QUEUE
from store.db import make_engine, session, upgrade
from store.tables import OutboxMessage

CLERKS = 8
APPLICANT = Actor(role=Role.APPLICANT, identity="bench@example.cn", channel=Channel.API)


async def run(programme_id: str, applicants: int, day_seconds: float, events_per_run: int, workers: int) -> None:
    programme = get_programme(programme_id)
    with tempfile.TemporaryDirectory(prefix="awardcycle-batch-") as home:
        settings = bench_settings(Path(home))
        async with start_dev_server(settings) as server, start_mail_sink(settings):
            client = await connect(settings)
            engine = make_engine(settings)
            upgrade(engine)
            cycle_id = ids.cycle_id(programme.id, 2026) + f"-{uuid.uuid4().hex[:6]}"
            started = time.monotonic()
            logs = Path(tempfile.mkdtemp(prefix="awardcycle-batch-logs-"))
            print(f"worker logs: {logs}", flush=True)
            async with worker_processes(settings, workers, logs) as pids:
                await service.start_cycle(
                    client,
                    programme,
                    2026,
                    task_queue=TASK_QUEUE,
                    day_seconds=day_seconds,
                    cycle_id=cycle_id,
                    events_per_run=events_per_run,
                )
                intake = await apply(client, cycle_id, programme_id, applicants)
                print(f"intake: {applicants} applications in {intake:.1f} s ({applicants / intake:.1f}/s)", flush=True)
                shown: list[str] = []

                def progress(current: CycleOverview) -> None:
                    stage = current.stage.value if current.stage else "between stages"
                    if not shown or shown[-1] != stage:
                        shown.append(stage)
                        elapsed = time.monotonic() - started
                        print(f"  {elapsed:6.0f} s  {current.cycle_time:%Y-%m-%d} {stage}", flush=True)

                async def pause(_: CycleOverview) -> None:
                    await asyncio.sleep(max(0.2, day_seconds / 4))

                player = Player(programme=programme, departments=True)
                simulator = Simulator(
                    TemporalDesk(client, engine), cycle_id, player, pause, on_status=progress, on_warning=print
                )
                final = await simulator.run()
                await client.get_workflow_handle(cycle_id).result()
                wall = time.monotonic() - started
                worker_rss = [peak_rss_mb(pid) for pid in pids]
            workflow_ids = [
                cycle_id,
                *(a.application_id for a in final.applications),
                *final.consultations,
                *([final.notice] if final.notice else []),
            ]
            figures = await collect(client, workflow_ids)
            with session(engine) as db:
                messages = db.exec(select(func.count()).select_from(OutboxMessage)).one()
            server_rss = peak_rss_mb(server.pid)
    print(
        f"{programme_id}, {applicants} applicants, {day_seconds} s per cycle day, "
        f"events_per_run {events_per_run}, {workers} worker process(es)"
    )
    print(f"wall: {wall:.0f} s to the announcement, {applicants / wall * 60:.0f} applications per minute")
    print(f"acts by the simulator: {simulator.acts}; messages in the outbox: {messages}")
    print(f"awards: {len(final.awards)}; concluded: {final.counts.get('concluded')} of {final.application_count}")
    for line in figures.report("histories", [cycle_id], applicants):
        print(line)
    workers_shown = ", ".join(f"{rss:.0f}" for rss in worker_rss)
    print(f"peak RSS: workers {workers_shown} MB, dev server {server_rss:.0f} MB, simulator {peak_rss_mb():.0f} MB")


def stack_env(settings: Settings) -> dict[str, str]:
    """The environment that points an `awardcycle` process at the bench's server, sink, store and catalogue."""
    env = {
        **os.environ,
        "AWARDCYCLE_HOME": str(settings.home),
        "AWARDCYCLE_TEMPORAL_PORT": str(settings.temporal_port),
        "AWARDCYCLE_SMTP_PORT": str(settings.smtp_port),
        "AWARDCYCLE_WEB_PORT": str(settings.web_port),
        "AWARDCYCLE_PUBLIC_BASE_URL": settings.public_base_url,
    }
    if settings.catalogue is not None:
        env["AWARDCYCLE_CATALOGUE"] = str(settings.catalogue)
    return env


@contextlib.asynccontextmanager
async def awardcycle_processes(settings: Settings, command: str, count: int, logs: Path) -> AsyncIterator[list[int]]:
    """`count` processes of `awardcycle COMMAND` on the bench's stack, each logging to a file in `logs`; their pids."""
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    with contextlib.ExitStack() as files:
        outputs = [files.enter_context((logs / f"{command}-{n}.log").open("wb")) for n in range(1, count + 1)]
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "awardcycle", command, env=stack_env(settings), stdout=out, stderr=out
            )
            for out in outputs
        ]
        try:
            yield [p.pid for p in processes]
        finally:
            for process in processes:
                process.terminate()
                await process.wait()


def worker_processes(settings: Settings, count: int, logs: Path) -> contextlib.AbstractAsyncContextManager[list[int]]:
    """`awardcycle worker` processes on the bench's server and store, as an office scales out."""
    return awardcycle_processes(settings, "worker", count, logs)


async def apply(client: Client, cycle_id: str, programme_id: str, count: int) -> float:
    forms = samples.applications(get_programme(programme_id), count, seed=7)
    return await submit(client, cycle_id, forms, asyncio.Semaphore(CLERKS))


async def submit(client: Client, cycle_id: str, forms: list[ApplicationForm], clerks: asyncio.Semaphore) -> float:
    """The forms posted by the clerks, as many at once as the semaphore lets; the seconds it took."""
    began = time.monotonic()

    async def one(form: ApplicationForm) -> None:
        async with clerks:
            try:
                await service.submit_application(client, cycle_id, form, APPLICANT)
            except service.Refused as refusal:  # one refused form is a finding to report, not the end of the bench
                print(f"  refused in {cycle_id}: {form.name}: {refusal}", flush=True)

    await asyncio.gather(*(one(form) for form in forms))
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programme", default="quancheng-haopin")
    parser.add_argument("--applicants", type=int, default=425)
    parser.add_argument("--day-seconds", type=float, default=3.0)
    parser.add_argument("--events-per-run", type=int, default=EVENTS_PER_RUN)
    parser.add_argument("--workers", type=int, default=1, help="`awardcycle worker` processes")
    options = parser.parse_args()
    figures = (options.programme, options.applicants, options.day_seconds, options.events_per_run, options.workers)
    asyncio.run(run(*figures))


if __name__ == "__main__":
    main()
