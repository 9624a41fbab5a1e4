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
from temporalio.client import Client
from temporalio.service import RPCError

from awardcycle import service
from awardcycle.acts import ACTS
from awardcycle.api_client import ApiClient
from awardcycle.service import Refused
from schemas.application import (
    ApplicationForm,
    ApplicationState,
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
from schemas.cycle import ApplicationSummary, CycleStatus, GovernmentApproval
from schemas.notice import NoticeObjection, NoticeStatus, ObjectionResolution, PublicObjection
from schemas.programme import Programme, StageKind
from workflows.application import EXTENSION_NEEDED


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


Pause = Callable[[CycleStatus], Awaitable[None]]
BUSY_PAUSE_SECONDS = 1.0


class Desk(Protocol):
    """Where the simulator reads a cycle and acts on it; a refused act raises `Refused`."""

    async def cycle_status(self, cycle_id: str) -> CycleStatus: ...
    async def application_form(self, application_id: str) -> ApplicationForm: ...
    async def consultation_status(self, workflow_id: str) -> ConsultationStatus: ...
    async def notice_status(self, workflow_id: str) -> NoticeStatus: ...
    async def perform(self, workflow_id: str, act: str, payload: BaseModel) -> None: ...


@dataclass(frozen=True)
class TemporalDesk:
    """Straight to the workflows, for tests of the workflows themselves: no account is involved."""

    client: Client

    async def cycle_status(self, cycle_id: str) -> CycleStatus:
        return await service.cycle_status(self.client, cycle_id)

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

    async def cycle_status(self, cycle_id: str) -> CycleStatus:
        return await self.api.get(f"/cycles/{cycle_id}", CycleStatus)

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


def busy(error: Exception) -> bool:
    """A refusal that asking again later answers: a busy Temporal or a web app briefly unavailable."""
    if isinstance(error, RPCError):
        return service.transient(error)
    return isinstance(error, Refused) and error.status == 503


@dataclass
class Simulator:
    desk: Desk
    cycle_id: str
    player: Player
    pause: Pause
    on_status: Callable[[CycleStatus], None] | None = None
    acts: int = 0
    _forms: dict[str, ApplicationForm] = field(default_factory=dict)
    _objected: set[str] = field(default_factory=set)
    _extended: datetime | None = None

    async def run(self) -> CycleStatus:
        while True:
            try:
                status = await self.desk.cycle_status(self.cycle_id)
                if self.on_status:
                    self.on_status(status)
                if status.completed:
                    return status
                acted = await self.step(status)
            except (RPCError, Refused) as error:
                if not busy(error):
                    raise
                await asyncio.sleep(BUSY_PAUSE_SECONDS)  # a busy server: look again, the acts are idempotent
                continue
            if not acted:
                await self.pause(status)

    async def step(self, status: CycleStatus) -> bool:
        """Perform every act the cycle is waiting for; True if anything was done."""
        acts = [
            self._application_act(summary, awaited, status)
            for summary in status.applications
            if summary.progress.outcome is None
            for awaited in summary.progress.waiting_for
        ]
        acted = any(await asyncio.gather(*acts))
        if status.stage is StageKind.CONSULTATION:
            for workflow_id in status.consultations:
                acted |= await self._consultation_acts(workflow_id, status)
        if status.notice:
            acted |= await self._notice_acts(status.notice)
        if status.stage is StageKind.APPROVAL and status.approval is None:
            acted |= await self._act(status.cycle_id, "record_approval", self.player.approval(status))
        return acted

    async def _act(self, workflow_id: str, act: str, payload: BaseModel | None) -> bool:
        if payload is None:
            return False
        try:
            await self.desk.perform(workflow_id, act, payload)
        except Refused as refused:
            if refused.status in (401, 403, 503):
                raise  # not a stale view: the simulator may not act, or the server is away
            return False  # the view was stale: the step was already taken or the stage moved on
        self.acts += 1
        return True

    async def _form(self, application_id: str) -> ApplicationForm:
        if application_id not in self._forms:
            self._forms[application_id] = await self.desk.application_form(application_id)
        return self._forms[application_id]

    async def _application_act(self, summary: ApplicationSummary, awaited: str, cycle: CycleStatus) -> bool:
        app, player, state = summary.application_id, self.player, summary.progress.state
        if awaited == "secretariat" and state is ApplicationState.QUALIFICATION:
            return await self._act(app, "decide_qualification", player.qualification(app, await self._form(app)))
        if awaited == "secretariat" and state is ApplicationState.MATERIAL_REVIEW:
            return await self._act(app, "decide_materials", player.materials(app, await self._form(app)))
        if awaited == "applicant":
            return await self._act(app, "submit_supplement", player.supplement(app, await self._form(app)))
        if awaited.startswith("expert:"):
            return await self._act(app, "submit_score", player.score(app, awaited.removeprefix("expert:")))
        if awaited == "onsite_team":
            return await self._act(app, "record_onsite", player.onsite(app))
        if awaited == "defence_panel":
            return await self._act(app, "record_defence", player.defence(app))
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
