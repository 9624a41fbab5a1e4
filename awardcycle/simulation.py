"""Plays the people of a cycle (secretariat, experts, on-site teams, coordinator, departments) through
the same Updates they use, so a rehearsal runs a whole year unattended."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError

from awardcycle import service
from awardcycle.acts import ACTS
from awardcycle.api_client import ApiClient
from awardcycle.service import PAGE_LIMIT, RefusalKind, Refused
from schemas.application import (
    EXTENSION_NEEDED,
    ApplicationForm,
    ApplicationState,
    ApplicationView,
    ConditionVerdict,
    DefenceScore,
    ExpertScore,
    MaterialDecision,
    OnsiteFinding,
    QualificationDecision,
    SupplementSubmission,
)
from schemas.common import Actor, Channel, Role
from schemas.consultation import (
    CandidateOpinion,
    ConsultationAnswer,
    ConsultationStatus,
    DeadlineExtension,
    ObjectionDecision,
    Opinion,
    OverdueAction,
    OverdueResolution,
)
from schemas.cycle import CycleOverview, CycleStatus, GovernmentApproval
from schemas.notice import NoticeObjection, NoticeStatus, ObjectionResolution, PublicObjection
from schemas.programme import Programme, StageKind


def _unit(*parts: object) -> float:
    """A reproducible number in [0, 1) from the parts."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class Player:
    """Default behaviour of every role; tests override single decisions to walk each way out."""

    programme: Programme
    seed: int = 0
    departments: bool = False
    channel: Channel = Channel.SIMULATION

    def actor(self, role: Role, identity: str) -> Actor:
        return Actor(role=role, identity=identity, channel=self.channel)

    def quality(self, application_id: str) -> float:
        """How good the simulated applicant is, between 0.55 and 0.95 of the full score."""
        return 0.55 + 0.4 * _unit(self.seed, application_id)

    def qualification(self, application_id: str, form: ApplicationForm) -> QualificationDecision:
        return QualificationDecision(
            actor=self.actor(Role.SECRETARIAT, "secretariat"),
            verdicts=[ConditionVerdict(id=c.id, met=c.met) for c in form.conditions],
        )

    def materials(self, application_id: str, form: ApplicationForm) -> MaterialDecision:
        return MaterialDecision(actor=self.actor(Role.SECRETARIAT, "secretariat"), conforming=True)

    def supplement(self, application_id: str, form: ApplicationForm) -> SupplementSubmission | None:
        return None  # applicants are people the simulator does not play

    def score(self, application_id: str, expert: str) -> ExpertScore:
        level = self.quality(application_id)
        scores = {}
        for indicator in self.programme.rubric.indicators:
            noise = (_unit(self.seed, application_id, expert, indicator.id) - 0.5) * 0.1
            scores[indicator.id] = round(max(0.0, min(1.0, level + noise)) * indicator.points, 1)
        return ExpertScore(actor=self.actor(Role.EXPERT, expert), scores=scores)

    def onsite(self, application_id: str) -> OnsiteFinding:
        total = self.programme.rubric.total_points
        level = self.quality(application_id)
        return OnsiteFinding(
            actor=self.actor(Role.ONSITE_TEAM, "onsite-team-1"),
            score=round(level * total, 1),
            passed=True,
            findings="现场核实材料属实，管理体系运行有效。",
        )

    def defence(self, application_id: str) -> DefenceScore:
        level = self.quality(application_id)
        return DefenceScore(
            actor=self.actor(Role.EXPERT, "defence-panel"),
            score=round(level * self.programme.rubric.total_points, 1),
        )

    def department_answer(self, status: ConsultationStatus, candidates: list[str]) -> ConsultationAnswer | None:
        if not self.departments:
            return None
        return ConsultationAnswer(
            actor=self.actor(Role.DEPARTMENT, status.department_id),
            answers=[CandidateOpinion(application_id=a, opinion=Opinion.NO_OBJECTION) for a in candidates],
        )

    def objection_decision(self, status: ConsultationStatus, application_id: str) -> ObjectionDecision:
        return ObjectionDecision(
            actor=self.actor(Role.COORDINATOR, "coordinator"),
            application_id=application_id,
            keep=True,
            reason="经核查，所反映问题不影响评选资格。",
        )

    def overdue(self, status: ConsultationStatus) -> OverdueResolution:
        return OverdueResolution(
            actor=self.actor(Role.COORDINATOR, "coordinator"),
            action=OverdueAction.DEEM_NO_OBJECTION,
            reason="逾期未反馈，视为无异议。",
        )

    def public_objections(self, status: NoticeStatus) -> list[PublicObjection]:
        return []

    def resolution(self, objection: NoticeObjection) -> ObjectionResolution:
        return ObjectionResolution(
            actor=self.actor(Role.COORDINATOR, "coordinator"),
            objection_id=objection.objection_id,
            upheld=False,
            reason="经核实，异议不成立。",
        )

    def extension(self) -> DeadlineExtension:
        return DeadlineExtension(
            actor=self.actor(Role.COORDINATOR, "coordinator"), working_days=5, reason="专家未按期评分，延期五个工作日"
        )

    def approval(self, status: CycleStatus) -> GovernmentApproval:
        return GovernmentApproval(
            actor=self.actor(Role.COORDINATOR, "coordinator"),
            document_number=f"政字〔{status.year}〕{10 + int(_unit(status.cycle_id) * 90)}号",
            approved_on=status.cycle_time.date(),
        )


Pause = Callable[[CycleOverview], Awaitable[None]]
Seen = tuple[str, int, str]  # application, view sequence, whom it awaited
BUSY_PAUSE_SECONDS = 1.0
# Acts in flight at once: enough to keep a 1,000-applicant stage moving, few enough not to flood the server.
CONCURRENT_ACTS = 16
# A clock that leaves less than this margin over the measured pace is reported as too fast.
CLOCK_MARGIN = 1.2
# Application views trail the cycle a little: once it completes, how long to wait for them to conclude.
SETTLE_SECONDS = 10.0
SETTLE_PAUSE_SECONDS = 0.1


class Desk(Protocol):
    """Where the simulator reads a cycle and acts on it; a refused act raises `Refused`."""

    async def cycle_overview(self, cycle_id: str, *, offset: int = 0, limit: int = PAGE_LIMIT) -> CycleOverview: ...
    async def application_form(self, application_id: str) -> ApplicationForm: ...
    async def consultation_status(self, workflow_id: str) -> ConsultationStatus: ...
    async def notice_status(self, workflow_id: str) -> NoticeStatus: ...
    async def perform(self, workflow_id: str, act: str, payload: BaseModel) -> None: ...


@dataclass(frozen=True)
class TemporalDesk:
    """Straight to the workflows and the read model, for tests of the workflows themselves: no account."""

    client: Client
    engine: Engine

    async def cycle_overview(self, cycle_id: str, *, offset: int = 0, limit: int = PAGE_LIMIT) -> CycleOverview:
        return await service.cycle_overview(self.client, self.engine, cycle_id, offset=offset, limit=limit)

    async def application_form(self, application_id: str) -> ApplicationForm:
        return await service.application_form(self.client, application_id)

    async def consultation_status(self, workflow_id: str) -> ConsultationStatus:
        return await service.consultation_status(self.client, workflow_id)

    async def notice_status(self, workflow_id: str) -> NoticeStatus:
        return await service.notice_status(self.client, workflow_id)

    async def perform(self, workflow_id: str, act: str, payload: BaseModel) -> None:
        await service.perform(self.client, workflow_id, act, payload)


@dataclass(frozen=True)
class ApiDesk:
    """Through the web API as the logged-in coordinator, each simulated person named in `?simulate=`."""

    api: ApiClient

    async def cycle_overview(self, cycle_id: str, *, offset: int = 0, limit: int = PAGE_LIMIT) -> CycleOverview:
        return await self.api.get(f"/cycles/{cycle_id}", CycleOverview, offset=offset, limit=limit)

    async def application_form(self, application_id: str) -> ApplicationForm:
        return await self.api.get(f"/applications/{application_id}/form", ApplicationForm)

    async def consultation_status(self, workflow_id: str) -> ConsultationStatus:
        return await self.api.get(f"/consultations/{workflow_id}", ConsultationStatus)

    async def notice_status(self, workflow_id: str) -> NoticeStatus:
        return await self.api.get(f"/notices/{workflow_id}", NoticeStatus)

    async def perform(self, workflow_id: str, act: str, payload: BaseModel) -> None:
        actor: Actor = getattr(payload, "actor")  # noqa: B009  (every act's input has one)
        body = payload.model_dump(mode="json", exclude={"actor", "client_address"})
        # The coordinator's own acts are recorded under the signed-in coordinator; everyone else is simulated.
        simulated = None if actor.role is Role.COORDINATOR else f"{actor.role.value}:{actor.identity}"
        await self.api.post(f"/{ACTS[act].workflow}s/{workflow_id}/acts/{act}", body, simulate=simulated)


async def whole_cycle(desk: Desk, cycle_id: str) -> CycleOverview:
    """The overview with every application, read page by page: the simulator acts on all that await someone."""
    first = await desk.cycle_overview(cycle_id)
    applications = list(first.applications)
    while len(applications) < first.total:
        page = await desk.cycle_overview(cycle_id, offset=len(applications))
        if not page.applications:
            break  # fewer than counted a moment ago
        applications += page.applications
    # One page holding them all, so `limit` says how many it lists.
    return first.model_copy(update={"applications": applications, "limit": len(applications)})


def settled(status: CycleOverview) -> bool:
    """Every application the cycle took in shows as concluded in the read model."""
    return status.counts.get(ApplicationState.CONCLUDED.value, 0) >= status.application_count


def busy(error: Exception) -> bool:
    """A refusal that asking again later answers: a busy Temporal or a web app briefly unavailable."""
    if isinstance(error, RPCError):
        return service.transient(error)
    return isinstance(error, Refused) and error.kind is RefusalKind.BUSY


@dataclass
class Simulator:
    desk: Desk
    cycle_id: str
    player: Player
    pause: Pause
    on_status: Callable[[CycleOverview], None] | None = None
    on_warning: Callable[[str], None] | None = None
    concurrency: int = CONCURRENT_ACTS
    acts: int = 0
    _forms: dict[str, ApplicationForm] = field(default_factory=dict)
    _objected: set[str] = field(default_factory=set)
    _extended: datetime | None = None
    _warned: set[StageKind] = field(default_factory=set)
    _acted: set[Seen] = field(default_factory=set)
    _limit: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._limit = asyncio.Semaphore(self.concurrency)

    async def run(self) -> CycleOverview:
        """Play until the cycle completes; its last overview, every application listed."""
        while True:
            try:
                status = await self.overview()
                if self.on_status:
                    self.on_status(status)
                if status.completed:
                    return await self._settled(status)
                acted = await self.step(status)
            except (RPCError, Refused) as error:
                if not busy(error):
                    raise
                await asyncio.sleep(BUSY_PAUSE_SECONDS)  # a busy server: look again, the acts are idempotent
                continue
            if not acted:
                await self.pause(status)

    async def overview(self) -> CycleOverview:
        return await whole_cycle(self.desk, self.cycle_id)

    async def _settled(self, status: CycleOverview) -> CycleOverview:
        """The completed cycle's overview once every application's view has concluded, or after SETTLE_SECONDS."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + SETTLE_SECONDS
        while not settled(status) and loop.time() < give_up:
            await asyncio.sleep(SETTLE_PAUSE_SECONDS)
            status = await self.overview()
        return status

    async def step(self, status: CycleOverview) -> bool:
        """Perform every act the cycle is waiting for; True if anything was done."""
        acts = [
            self._application_act(view, awaited, status)
            for view in status.applications
            if view.outcome is None
            for awaited in view.waiting_for
            if (view.application_id, view.sequence, awaited) not in self._acted
        ]
        loop = asyncio.get_running_loop()
        began, before = loop.time(), self.acts
        acted = any(await asyncio.gather(*acts))
        self._check_clock(status, len(acts), self.acts - before, loop.time() - began)
        if status.stage is StageKind.CONSULTATION:
            for workflow_id in status.consultations:
                acted |= await self._consultation_acts(workflow_id, status)
        if status.notice:
            acted |= await self._notice_acts(status.notice)
        if status.stage is StageKind.APPROVAL and status.approval is None:
            acted |= await self._act(status.cycle_id, "record_approval", self.player.approval(status))
        return acted

    def _check_clock(self, status: CycleOverview, awaited: int, done: int, seconds: float) -> None:
        """Say once per stage when the acts it awaits take longer, at the pace measured, than the whole stage lasts."""
        stage, deadline, day = status.stage, status.stage_deadline, status.day_seconds
        if not (done and stage and deadline and day and status.stages) or stage in self._warned or not self.on_warning:
            return
        lasts = (deadline - status.stages[-1].started_at).total_seconds() / 86400 * day
        needed = awaited * seconds / done
        if lasts > 0 and needed * CLOCK_MARGIN > lasts:
            self._warned.add(stage)
            fit = day * needed * CLOCK_MARGIN / lasts
            self.on_warning(
                f"演练时钟对本批申报过快 (the clock is too fast for this batch: {awaited} acts at "
                f"{done / seconds:.1f}/s need {needed:.0f} s, {stage.value} lasts {lasts:.0f} s; "
                f"--day-seconds {fit:.1f} would fit)"
            )

    async def _act(self, workflow_id: str, act: str, payload: BaseModel | None, seen: Seen | None = None) -> bool:
        if payload is None:
            return False
        try:
            async with self._limit:
                await self.desk.perform(workflow_id, act, payload)
        except (Refused, RPCError) as error:
            if isinstance(error, Refused) and error.kind in (RefusalKind.UNAUTHORIZED, RefusalKind.FORBIDDEN):
                raise  # not a stale view: the simulator may not act
            if busy(error):
                self._acted.discard(seen)  # perhaps never taken: acted on again once the server answers
                return False
            if isinstance(error, RPCError):
                raise
            return False  # the view was stale: the step was already taken or the stage moved on
        self.acts += 1
        return True

    async def _form(self, application_id: str) -> ApplicationForm:
        if application_id not in self._forms:
            self._forms[application_id] = await self.desk.application_form(application_id)
        return self._forms[application_id]

    async def _application_act(self, view: ApplicationView, awaited: str, cycle: CycleStatus) -> bool:
        # Once per version of the view: until the act shows there, a second score would be a revision, not news.
        seen = (view.application_id, view.sequence, awaited)
        self._acted.add(seen)
        app, player, state = view.application_id, self.player, view.state
        if awaited == "secretariat" and state is ApplicationState.QUALIFICATION:
            return await self._act(app, "decide_qualification", player.qualification(app, await self._form(app)), seen)
        if awaited == "secretariat" and state is ApplicationState.MATERIAL_REVIEW:
            return await self._act(app, "decide_materials", player.materials(app, await self._form(app)), seen)
        if awaited == "applicant":
            return await self._act(app, "submit_supplement", player.supplement(app, await self._form(app)), seen)
        if awaited.startswith("expert:"):
            return await self._act(app, "submit_score", player.score(app, awaited.removeprefix("expert:")), seen)
        if awaited == "onsite_team":
            return await self._act(app, "record_onsite", player.onsite(app), seen)
        if awaited == "defence_panel":
            return await self._act(app, "record_defence", player.defence(app), seen)
        if awaited == EXTENSION_NEEDED and self._extended != cycle.stage_deadline:
            self._extended = cycle.stage_deadline  # once per lapsed deadline, however many applications wait
            return await self._act(self.cycle_id, "extend_deadline", player.extension())
        return False

    async def _consultation_acts(self, workflow_id: str, cycle: CycleStatus) -> bool:
        try:
            status = await self.desk.consultation_status(workflow_id)
        except Refused:
            return False  # not started yet
        acted = False
        candidates = [c.application_id for c in cycle.shortlist]
        for awaited in status.waiting_for:
            if awaited == "department":
                acted |= await self._act(workflow_id, "answer", self.player.department_answer(status, candidates))
            elif awaited == "coordinator":
                acted |= await self._act(workflow_id, "resolve_overdue", self.player.overdue(status))
            elif awaited.startswith("coordinator:"):
                decision = self.player.objection_decision(status, awaited.removeprefix("coordinator:"))
                acted |= await self._act(workflow_id, "decide_objection", decision)
        return acted

    async def _notice_acts(self, workflow_id: str) -> bool:
        try:
            status = await self.desk.notice_status(workflow_id)
        except Refused:
            return False
        acted = False
        if status.open and workflow_id not in self._objected:
            self._objected.add(workflow_id)
            for objection in self.player.public_objections(status):
                acted |= await self._act(workflow_id, "lodge_objection", objection)
        for lodged in status.objections:
            if not lodged.resolved:
                acted |= await self._act(workflow_id, "resolve_objection", self.player.resolution(lodged))
        return acted
