"""A scripted cycle: named applicants that take each way out, played through the simulator."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from awardcycle import samples, service
from awardcycle.simulation import Pause, Player, Simulator, TemporalDesk
from schemas import ids
from schemas.application import (
    ApplicationForm,
    ApplicationState,
    ConditionClaim,
    MaterialDecision,
    OnsiteFinding,
    SupplementSubmission,
)
from schemas.common import Actor, Channel, Role
from schemas.consultation import (
    CandidateOpinion,
    ConsultationAnswer,
    ConsultationStatus,
    ObjectionDecision,
    Opinion,
)
from schemas.cycle import EVENTS_PER_RUN, CycleOverview
from schemas.notice import NoticeObjection, NoticeStatus, ObjectionResolution, PublicObjection
from schemas.programme import OnsiteReview, Programme, Quotas, StageKind
from tests.conftest import Inbox

LINK = re.compile(r"/t/([A-Za-z0-9_-]+)")
APPLICANT = Actor(role=Role.APPLICANT, identity="applicant@example.cn", channel=Channel.CLI)
COORDINATOR = Actor(role=Role.COORDINATOR, identity="coordinator", channel=Channel.CLI)

# Quality of each scripted applicant, in the order they apply.
QUALITY = {
    "winner-1": 0.95,
    "winner-2": 0.92,
    "gate-fails": 0.9,
    "no-supplement": 0.9,
    "supplemented": 0.85,
    "low-score": 0.3,
    "department-objects": 0.88,
    "public-objects": 0.87,
    "onsite-fails": 0.8,
    "outside-quota": 0.7,
}


def small(programme: Programme) -> Programme:
    """The programme with quotas a ten-applicant test can fill and exceed."""
    return programme.model_copy(
        update={
            "quotas": Quotas(winners=3, nominations=2),
            "onsite_review": OnsiteReview(candidates=7, pass_mark=500) if programme.onsite_review else None,
        }
    )


def forms(programme: Programme) -> dict[str, ApplicationForm]:
    result = {}
    for index, label in enumerate(QUALITY, start=1):
        form = samples.application(programme, index)
        if label == "gate-fails":
            claims = [ConditionClaim(id=c.id, met=c.id != programme.conditions[0].id) for c in programme.conditions]
            form = form.model_copy(update={"conditions": claims})
        result[label] = form.model_copy(update={"name": f"{label}有限公司"})
    return result


@dataclass
class StrongPlayer(Player):
    """Every applicant scores well, so a test's outcomes never hinge on the random cycle id."""

    def quality(self, application_id: str) -> float:
        return 0.9


@dataclass
class ScriptedPlayer(Player):
    labels: dict[str, str] = field(default_factory=dict)  # application id -> label
    silent_departments: int = 2
    reviewed: set[str] = field(default_factory=set)

    def label(self, application_id: str) -> str:
        return self.labels.get(application_id, "")

    def quality(self, application_id: str) -> float:
        return QUALITY.get(self.label(application_id), 0.75)

    def materials(self, application_id: str, form: ApplicationForm) -> MaterialDecision:
        first = application_id not in self.reviewed
        self.reviewed.add(application_id)
        if first and self.label(application_id) in ("no-supplement", "supplemented"):
            return MaterialDecision(
                actor=self.actor(Role.SECRETARIAT, "secretariat"),
                conforming=False,
                missing=["近三年审计报告"],
            )
        return super().materials(application_id, form)

    def supplement(self, application_id: str, form: ApplicationForm) -> SupplementSubmission | None:
        if self.label(application_id) != "supplemented":
            return None
        actor = Actor(role=Role.APPLICANT, identity=form.contact_email, channel=Channel.API)
        return SupplementSubmission(actor=actor, documents=samples.documents(form.name))

    def onsite(self, application_id: str) -> OnsiteFinding:
        finding = super().onsite(application_id)
        if self.label(application_id) == "onsite-fails":
            return finding.model_copy(update={"passed": False, "findings": "现场核查发现质量管理体系未有效运行"})
        return finding

    def department_answer(self, status: ConsultationStatus, candidates: list[str]) -> ConsultationAnswer | None:
        roster = [d.id for d in self.programme.departments]
        if status.department_id in roster[len(roster) - self.silent_departments :]:
            return None
        answers = [
            CandidateOpinion(application_id=a, opinion=Opinion.NO_OBJECTION)
            if self.label(a) != "department-objects" or status.department_id != roster[0]
            else CandidateOpinion(application_id=a, opinion=Opinion.OBJECTION, reason="该企业近三年存在严重失信记录")
            for a in candidates
        ]
        return ConsultationAnswer(actor=self.actor(Role.DEPARTMENT, status.department_id), answers=answers)

    def objection_decision(self, status: ConsultationStatus, application_id: str) -> ObjectionDecision:
        return ObjectionDecision(
            actor=self.actor(Role.COORDINATOR, "coordinator"),
            application_id=application_id,
            keep=False,
            reason="失信记录属实，取消候选资格",
        )

    def public_objections(self, status: NoticeStatus) -> list[PublicObjection]:
        return [
            PublicObjection(
                actor=self.actor(Role.PUBLIC, "张三"),
                contact="13800000000",
                application_id=c.application_id,
                reason="该企业产品曾被抽检不合格",
            )
            for c in status.candidates
            if self.label(c.application_id) == "public-objects"
        ]

    def resolution(self, objection: NoticeObjection) -> ObjectionResolution:
        return ObjectionResolution(
            actor=self.actor(Role.COORDINATOR, "coordinator"),
            objection_id=objection.objection_id,
            upheld=True,
            reason="经核实，抽检不合格情况属实",
        )


# The time-skipping server answers a day's sleep only once it has run that day's timers; on a loaded
# 2-core machine (a whole rehearsal in the web app beside the suite) that took past the call's timeout 3 times.
SLEEP_ATTEMPTS = 8


def day_sleeper(env: WorkflowEnvironment) -> Pause:
    async def pause(status: CycleOverview) -> None:
        for attempt in range(SLEEP_ATTEMPTS):
            try:
                await env.sleep(timedelta(days=1))
                return
            except RPCError as error:  # a loaded machine can time the test server's sleep call out
                if not service.transient(error) or attempt == SLEEP_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))

    return pause


async def start(
    client: Client, programme: Programme, task_queue: str, tag: str, *, events_per_run: int = EVENTS_PER_RUN
) -> str:
    return await service.start_cycle(
        client,
        programme,
        2026,
        task_queue=task_queue,
        day_seconds=86400,
        cycle_id=ids.cycle_id(programme.id, 2026) + f"-{tag}",
        events_per_run=events_per_run,
    )


async def apply_all(client: Client, cycle_id: str, applications: dict[str, ApplicationForm]) -> dict[str, str]:
    labels = {}
    for label, form in applications.items():
        accepted = await service.submit_application(client, cycle_id, form, APPLICANT)
        labels[accepted.application_id] = label
    return labels


async def play(env: WorkflowEnvironment, engine: Engine, cycle_id: str, player: Player) -> CycleOverview:
    """Play the whole cycle; its last overview lists every application, each concluded."""
    return await Simulator(TemporalDesk(env.client, engine), cycle_id, player, day_sleeper(env)).run()


async def until_stage(
    env: WorkflowEnvironment, engine: Engine, cycle_id: str, player: Player, stage: StageKind, *, opened: str = ""
) -> CycleOverview:
    """Play day by day until the cycle is in `stage` (and, if named, has opened its `opened` children);
    its overview then lists every application."""
    simulator = Simulator(TemporalDesk(env.client, engine), cycle_id, player, day_sleeper(env))
    for _ in range(366):
        status = await simulator.overview()
        children = {"consultations": bool(status.consultations), "notice": status.notice is not None}
        if status.stage is stage and children.get(opened, True):
            return status
        if not await simulator.step(status):
            await env.sleep(timedelta(days=1))
    raise AssertionError(f"the cycle never reached {stage.value}")


async def overview_showing(
    client: Client,
    engine: Engine,
    cycle_id: str,
    shown: Callable[[CycleOverview], bool],
    *,
    seconds: float = 10,
    **page: Any,
) -> CycleOverview:
    """The cycle's overview (one page, as `service.cycle_overview` takes it) once it shows what an act did:
    the applications write their views a little after the act."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + seconds
    while True:
        overview = await service.cycle_overview(client, engine, cycle_id, **page)
        if shown(overview):
            return overview
        if loop.time() > give_up:
            raise AssertionError(f"the overview of {cycle_id} never showed it: {overview.counts}")
        await asyncio.sleep(0.05)


def in_expert_review(overview: CycleOverview) -> bool:
    """Some application of the page shows the expert review open (the read model trails the stage)."""
    return any(a.state is ApplicationState.EXPERT_REVIEW for a in overview.applications)


def message_id(message: EmailMessage) -> str:
    """The outbox id in a Message-ID header (a long header arrives folded, with leading space)."""
    return str(message["Message-ID"]).strip().strip("<>").removesuffix("@awardcycle")


async def mail(inbox: Inbox, wanted: str) -> EmailMessage:
    """The message with this outbox id, once the activity that sends it has run."""
    for _ in range(200):
        for message in inbox.messages:
            if message_id(message) == wanted:
                return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message {wanted}")


def text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def link_token(inbox: Inbox, message_id: str) -> str:
    """The raw token, from the link in an email (sent by an activity)."""
    match = LINK.search(text_body(await mail(inbox, message_id)))
    assert match is not None, f"no link in {message_id}"
    return match.group(1)


async def terminate(client: Client, *cycle_ids: str) -> None:
    """End cycles a test leaves open, so the shared test server does not keep advancing them."""
    for cycle_id in cycle_ids:
        handle = client.get_workflow_handle(cycle_id)
        if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:  # a played cycle may have ended
            await handle.terminate(reason="test finished")
