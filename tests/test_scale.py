"""On the dev server: a cycle of 200 applicants runs to its announcement, continuing as new on the way,
and no run of any of its workflows comes near Temporal's history limits or has a failed workflow task.

The run's figures (events per run, the slowest workflow task) are printed by `bench/batch.py`; this test
asserts bounds on counts only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from activities.chain import fetch_chain
from awardcycle import samples, service
from awardcycle.embedded import start_dev_server
from awardcycle.simulation import Player, Simulator, TemporalDesk
from awardcycle.temporal_client import connect
from config.settings import Settings
from programmes import get_programme
from schemas import ids
from schemas.application import ApplicationState
from schemas.cycle import CycleOverview
from store.db import make_engine, upgrade
from tests.conftest import Inbox, free_port
from tests.replay import replay
from tests.scenario import APPLICANT
from worker import build_worker

PROGRAMME = "qingdao-mayor-quality-award"
APPLICANTS = 200
# Low, so this cycle continues as new several times, as a 1,000-applicant one does at the default.
EVENTS_PER_RUN = 1500
DAY_SECONDS = 2.0
CLERKS = 8
# Temporal warns past 10,240 events in one run's history.
HISTORY_WARNING = 10_240
# A stage adds at most a report signal and its workflow task per application to the run it falls in.
STAGE_EVENTS_PER_APPLICANT = 6
FAILED_TASKS = {EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT}


@pytest.fixture(scope="module")
def scale_settings(tmp_path_factory: pytest.TempPathFactory, inbox: Inbox) -> Settings:
    return Settings(
        home=tmp_path_factory.mktemp("scale"),
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        _env_file=None,
    )


@pytest.fixture(scope="module")
async def dev_client(scale_settings: Settings) -> AsyncIterator[Client]:
    async with start_dev_server(scale_settings):
        yield await connect(scale_settings)


@pytest.fixture(scope="module")
def scale_engine(scale_settings: Settings) -> Engine:
    engine = make_engine(scale_settings)
    upgrade(engine)
    return engine


async def apply(client: Client, cycle_id: str, count: int) -> list[str]:
    """Every application, CLERKS at a time, as a busy office would post them."""
    programme = get_programme(PROGRAMME)
    limit = asyncio.Semaphore(CLERKS)

    async def one(index: int) -> str:
        async with limit:
            form = samples.application(programme, index, seed=200)
            accepted = await service.submit_application(client, cycle_id, form, APPLICANT)
            return accepted.application_id

    return await asyncio.gather(*(one(i) for i in range(1, count + 1)))


def workflow_ids(overview: CycleOverview) -> list[str]:
    ids_ = [overview.cycle_id, *(a.application_id for a in overview.applications), *overview.consultations]
    return ids_ + ([overview.notice] if overview.notice else [])


def failed_tasks(history: WorkflowHistory) -> int:
    return sum(event.event_type in FAILED_TASKS for event in history.events)


async def test_a_cycle_of_200_keeps_every_run_of_every_workflow_short(
    dev_client: Client, scale_settings: Settings, scale_engine: Engine
) -> None:
    queue = f"scale-{uuid.uuid4()}"
    programme = get_programme(PROGRAMME)
    cycle_id = ids.cycle_id(PROGRAMME, 2026) + f"-scale-{uuid.uuid4().hex[:6]}"
    async with build_worker(dev_client, scale_settings, scale_engine, task_queue=queue):
        await service.start_cycle(
            dev_client,
            programme,
            2026,
            task_queue=queue,
            day_seconds=DAY_SECONDS,
            cycle_id=cycle_id,
            events_per_run=EVENTS_PER_RUN,
        )
        accepted = await apply(dev_client, cycle_id, APPLICANTS)
        assert len(set(accepted)) == APPLICANTS

        async def pause(_: CycleOverview) -> None:
            await asyncio.sleep(DAY_SECONDS / 4)

        player = Player(programme=programme, departments=True)
        overview = await Simulator(TemporalDesk(dev_client, scale_engine), cycle_id, player, pause).run()
        await dev_client.get_workflow_handle(cycle_id).result()

    assert overview.completed and overview.application_count == APPLICANTS
    assert overview.counts[ApplicationState.CONCLUDED.value] == APPLICANTS
    assert 0 < len(overview.awards) <= programme.quotas.winners + programme.quotas.nominations

    chains = {workflow_id: await fetch_chain(dev_client, workflow_id) for workflow_id in workflow_ids(overview)}
    cycle_runs = chains[cycle_id]
    assert len(cycle_runs) >= 3, "the cycle continued as new during intake and between stages"
    for run in cycle_runs:
        assert len(run.events) <= EVENTS_PER_RUN + STAGE_EVENTS_PER_APPLICANT * APPLICANTS
    runs = [run for chain in chains.values() for run in chain]
    assert max(len(run.events) for run in runs) < HISTORY_WARNING
    assert sum(failed_tasks(run) for run in runs) == 0
    # Every run replays alone with the current code, the cycle's runs across each continue-as-new.
    results = await replay(runs)
    assert not results.replay_failures, results.replay_failures
