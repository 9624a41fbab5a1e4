""" "Play the others" in a rehearsal from the console: the simulator `awardcycle simulate` runs
(awardcycle/simulation.py), as a background task of the web process, one per cycle.

It acts as the coordinator who pressed the button would through the API's `?simulate=ROLE:IDENTITY`: every
act goes through web/routes/acts.py `act_actor`, so each carries channel `simulation` and the coordinator
as its principal, and only a rehearsal's coordinator may start it. The coordinator's own decisions the
simulator takes (extensions, objection decisions, the approval) are recorded as `coordinator:USERNAME` via
simulation, so the timeline tells them from acts the coordinator typed. Progress lives in this process
only: a restart of the web app ends every run (its lifespan cancels them), and the button starts it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import HTTPException
from pydantic import BaseModel
from sqlalchemy import Engine
from temporalio.client import Client

from awardcycle import service
from awardcycle.acts import ACTS
from awardcycle.service import RefusalKind, Refused
from awardcycle.simulation import Pause, Player, Simulator, TemporalDesk
from notifications.render import zh_datetime
from programmes import get_programme
from schemas.common import Actor, Role
from schemas.cycle import CycleOverview
from schemas.identity import AccountRole
from web.auth import Access
from web.routes.acts import act_actor

log = logging.getLogger(__name__)

ERRORS_KEPT = 5  # refusals shown on the page; the count covers them all
STOP_WAIT = 5.0  # seconds the web app's shutdown waits for cancelled runs to end


class AlreadyRunning(RuntimeError):
    """This cycle's others are being played already."""


@dataclass
class Run:
    """One simulator run: what the cycle page shows of it."""

    cycle_id: str
    username: str
    departments: bool
    started_at: datetime
    acts: int = 0
    refused: int = 0
    last_act: str = ""
    last_at: datetime | None = None
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=ERRORS_KEPT))
    ended: str = ""  # why it ended: completed, stopped, or the error; empty while it runs
    task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


@dataclass(frozen=True)
class ConsoleDesk(TemporalDesk):
    """The workflows and the read model, acting with the actor the API would record for the coordinator."""

    reader: Access = field(kw_only=True)
    run: Run = field(kw_only=True)

    async def perform(self, workflow_id: str, act: str, payload: BaseModel) -> None:
        played: Actor = getattr(payload, "actor")  # noqa: B009  (every act's input has one)
        # The simulator's own name for the coordinator is replaced by the account that pressed the button.
        identity = self.reader.principal.username if played.role is Role.COORDINATOR else played.identity
        actor = act_actor(ACTS[act], self.reader, f"{played.role.value}:{identity}")
        try:
            await service.perform(self.client, workflow_id, act, payload.model_copy(update={"actor": actor}))
        except Refused as refused:
            self.run.refused += 1
            self.run.errors.append(f"{act} {workflow_id}: {' '.join(str(refused).split())[:300]}")
            raise
        self.run.acts += 1
        self.run.last_act = f"{ACTS[act].summary}（{workflow_id}）"
        self.run.last_at = datetime.now(UTC)


def _pause(day_seconds: float) -> Pause:
    # As `awardcycle simulate`: a look every quarter of a cycle day, so acts land in the stage they belong to.
    interval = max(0.2, min(2.0, day_seconds / 4))

    async def pause(_: CycleOverview) -> None:
        await asyncio.sleep(interval)

    return pause


class Rehearsals:
    """The runs of this web process, by cycle id; `close()` cancels those still running."""

    def __init__(self, pause: Callable[[float], Pause] = _pause) -> None:
        self._runs: dict[str, Run] = {}
        self._pause = pause

    def get(self, cycle_id: str) -> Run | None:
        return self._runs.get(cycle_id)

    async def start(self, client: Client, engine: Engine, reader: Access, *, departments: bool) -> Run:
        """Start playing the others of the reader's cycle; AlreadyRunning if that is under way."""
        cycle_id = reader.cycle.cycle_id
        if not reader.cycle.rehearsal:
            raise HTTPException(403, "只有演练周期可以代演其他角色 (only a rehearsal cycle may be simulated)")
        reader.require(AccountRole.COORDINATOR)
        current = self._runs.get(cycle_id)
        if current is not None and current.running:
            raise AlreadyRunning(
                f"本周期的代演已在运行（由 {current.username} 于 {zh_datetime(current.started_at)} 启动）"
            )
        status = await service.cycle_status(client, cycle_id)
        if status.completed or status.day_seconds is None:
            raise Refused("本周期已完成，无需代演 (the cycle has completed)", RefusalKind.REFUSED)
        run = Run(cycle_id, reader.principal.username, departments, datetime.now(UTC))
        player = Player(programme=get_programme(reader.cycle.programme_id), departments=departments)
        desk = ConsoleDesk(client, engine, reader=reader, run=run)

        simulator = Simulator(desk, cycle_id, player, self._pause(status.day_seconds), on_warning=run.errors.append)
        run.task = asyncio.create_task(self._play(run, simulator), name=f"rehearsal {cycle_id}")
        self._runs[cycle_id] = run
        return run

    async def _play(self, run: Run, simulator: Simulator) -> None:
        try:
            await simulator.run()
        except asyncio.CancelledError:
            run.ended = run.ended or "已停止"
            raise
        except Exception as error:
            log.exception("rehearsal of %s ended on an error", run.cycle_id)
            run.ended = f"出错停止：{' '.join(str(error).split())[:300] or type(error).__name__}"
        else:
            run.ended = "周期已完成"

    def stop(self, cycle_id: str, username: str) -> bool:
        """Cancel the cycle's run; False if none is running."""
        run = self._runs.get(cycle_id)
        if run is None or not run.running or run.task is None:
            return False
        run.ended = f"已由 {username} 停止"
        run.task.cancel()
        return True

    async def close(self) -> None:
        """Cancel every running run and wait for them a moment: the web app is shutting down."""
        tasks = [run.task for run in self._runs.values() if run.task is not None and not run.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_WAIT)


@dataclass(frozen=True)
class RehearsalPanel:
    """What the cycle page shows a rehearsal's coordinator: the run's state and the start or stop form."""

    running: bool
    state_zh: str
    started_zh: str
    username: str
    departments: bool
    acts: int
    refused: int
    last_act: str
    last_zh: str
    errors: list[str]
    message: str  # what the last press of a button did


def panel(rehearsals: Rehearsals, reader: Access, message: str = "") -> RehearsalPanel | None:
    """None unless the cycle is a rehearsal and the reader coordinates it."""
    if not reader.cycle.rehearsal or AccountRole.COORDINATOR not in reader.roles:
        return None
    run = rehearsals.get(reader.cycle.cycle_id)
    if run is None:
        return RehearsalPanel(False, "未运行", "", "", True, 0, 0, "", "", [], message)
    return RehearsalPanel(
        running=run.running,
        state_zh="运行中" if run.running else (run.ended or "已结束"),
        started_zh=zh_datetime(run.started_at),
        username=run.username,
        departments=run.departments,
        acts=run.acts,
        refused=run.refused,
        last_act=run.last_act,
        last_zh=zh_datetime(run.last_at) if run.last_at else "",
        errors=list(run.errors),
        message=message,
    )
