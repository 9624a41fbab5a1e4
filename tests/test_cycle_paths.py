"""The other ways through a cycle: overdue departments under each policy, extensions, and refusals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from awardcycle import samples, service
from awardcycle.service import Refused
from awardcycle.simulation import Player, Simulator, TemporalDesk
from programmes import get_programme
from schemas.application import ApplicationState, Outcome
from schemas.common import Actor, Channel, Role
from schemas.consultation import (
    CandidateOpinion,
    ConsultationAnswer,
    ConsultationStatus,
    DeadlineExtension,
    Opinion,
    OverdueAction,
    OverdueResolution,
)
from schemas.cycle import CycleOverview, CycleStatus, StageRecord
from schemas.programme import StageKind
from tests.conftest import Inbox
from tests.scenario import (
    APPLICANT,
    COORDINATOR,
    StrongPlayer,
    apply_all,
    day_sleeper,
    overview_showing,
    play,
    small,
    start,
    terminate,
)


@dataclass
class EscalationPlayer(StrongPlayer):
    """The last two departments stay silent; the coordinator extends one and deems the other."""

    extended: set[str] = field(default_factory=set)

    def silent(self) -> list[str]:
        return [d.id for d in self.programme.departments][-2:]

    def department_answer(self, status: ConsultationStatus, candidates: list[str]) -> ConsultationAnswer | None:
        if status.department_id in self.silent() and status.department_id not in self.extended:
            return None
        return super().department_answer(status, candidates)

    def overdue(self, status: ConsultationStatus) -> OverdueResolution:
        if status.department_id == self.silent()[0]:
            self.extended.add(status.department_id)
            return OverdueResolution(
                actor=self.actor(Role.COORDINATOR, "coordinator"),
                action=OverdueAction.EXTEND,
                working_days=2,
                reason="该部门申请延期两个工作日",
            )
        return super().overdue(status)


async def test_jinan_overdue_departments_escalate(
    env: WorkflowEnvironment, task_queue: str, inbox: Inbox, engine: Engine
) -> None:
    programme = small(get_programme("jinan-mayor-quality-award"))
    cycle_id = await start(env.client, programme, task_queue, uuid.uuid4().hex[:6])
    forms = {f"app-{i}": samples.application(programme, i) for i in range(1, 5)}
    await apply_all(env.client, cycle_id, forms)
    player = EscalationPlayer(programme=programme, departments=True)

    status = await play(env, engine, cycle_id, player)

    assert len(status.applications) == 4
    assert {a.outcome for a in status.applications} <= {Outcome.WINNER, Outcome.NOMINATION}
    consultations = {
        c.department_id: c for c in [await service.consultation_status(env.client, w) for w in status.consultations]
    }
    extended, deemed = player.silent()
    late, deemed_by = consultations[extended].answered_by, consultations[deemed].answered_by
    assert late is not None and late.role is Role.DEPARTMENT
    consultation_stage = next(s for s in status.stages if s.stage is StageKind.CONSULTATION)
    assert consultation_stage.deadline is not None
    assert consultations[extended].deadline > consultation_stage.deadline
    assert deemed_by is not None and deemed_by.role is Role.COORDINATOR
    assert all(c.overdue is (d in player.silent()) for d, c in consultations.items())
    emails = {d.id: d.email for d in programme.departments}
    reminded = {
        d
        for d, email in emails.items()
        if any(
            "提醒" in str(m["Subject"]) or "reminder" in str(m["Message-ID"])
            for m in inbox.to(email)
            if cycle_id in str(m["Message-ID"])
        )
    }
    assert reminded == set(player.silent())


async def test_overdue_deemed_no_objection(env: WorkflowEnvironment, task_queue: str, engine: Engine) -> None:
    programme = small(get_programme("qingdao-mayor-quality-award"))
    cycle_id = await start(env.client, programme, task_queue, uuid.uuid4().hex[:6])
    await apply_all(
        env.client, cycle_id, {"a": samples.application(programme, 1), "b": samples.application(programme, 2)}
    )

    status = await play(env, engine, cycle_id, StrongPlayer(programme=programme, departments=False))

    for workflow_id in status.consultations:
        consultation = await service.consultation_status(env.client, workflow_id)
        assert consultation.overdue and consultation.answered_by is not None
        assert consultation.answered_by.channel is Channel.POLICY
        assert {a.opinion for a in consultation.answers} == {Opinion.NO_OBJECTION}
    assert len(status.awards) == 2


async def test_extension_lets_a_late_application_in(env: WorkflowEnvironment, task_queue: str) -> None:
    programme = small(get_programme("qingdao-mayor-quality-award"))
    extended_id = await start(env.client, programme, task_queue, uuid.uuid4().hex[:6])
    closed_id = await start(env.client, programme, task_queue, uuid.uuid4().hex[:6])
    before = await service.cycle_status(env.client, extended_id)
    extension = DeadlineExtension(actor=COORDINATOR, working_days=5, reason="部分区市推荐材料延迟报送")
    with pytest.raises(Refused, match="wrong actor"):
        await service.perform(
            env.client, extended_id, "extend_deadline", extension.model_copy(update={"actor": APPLICANT})
        )
    record = await service.perform(env.client, extended_id, "extend_deadline", extension)
    assert before.stage_deadline is not None
    assert isinstance(record, StageRecord) and record.deadline is not None
    assert record.deadline > before.stage_deadline
    await env.sleep(before.stage_deadline - before.cycle_time + timedelta(hours=1))

    late = samples.application(programme, 1)
    accepted = await service.submit_application(env.client, extended_id, late, APPLICANT)
    assert accepted.application_id.endswith("app-0001")
    with pytest.raises(Refused, match="申报已截止"):
        await service.submit_application(env.client, closed_id, late, APPLICANT)
    after = await service.cycle_status(env.client, extended_id)
    assert after.stage is StageKind.APPLICATION and "部分区市推荐材料延迟报送" in after.stages[0].extensions[0]


async def test_bad_applications_are_refused_and_change_nothing(
    env: WorkflowEnvironment, task_queue: str, engine: Engine
) -> None:
    programme = small(get_programme("qingdao-mayor-quality-award"))
    cycle_id = await start(env.client, programme, task_queue, uuid.uuid4().hex[:6])
    good = samples.application(programme, 1)
    await service.submit_application(env.client, cycle_id, good, APPLICANT)

    code = good.credit_code or ""
    wrong_digit = code[:-1] + ("0" if code[-1] != "0" else "1")
    cases = {
        "校验码": good.model_copy(update={"credit_code": wrong_digit, "name": "other"}),
        "重复申报": samples.application(programme, 2).model_copy(update={"credit_code": code}),
        "基本条件": samples.application(programme, 3).model_copy(update={"conditions": good.conditions[1:]}),
        "类别": samples.application(programme, 4).model_copy(update={"category": "不存在的类别"}),
        "统一社会信用代码": samples.application(programme, 5).model_copy(update={"credit_code": None}),
    }
    for reason, form in cases.items():
        with pytest.raises(Refused, match=reason):
            await service.submit_application(env.client, cycle_id, form, APPLICANT)
    assert (await service.cycle_status(env.client, cycle_id)).application_count == 1
    listed = await overview_showing(env.client, engine, cycle_id, lambda o: o.total > 0)
    assert [a.name for a in listed.applications] == [good.name]
    await terminate(env.client, cycle_id)


@dataclass
class Probe:
    """Bad acts tried at the stage where they could do harm; each must be refused."""

    env: WorkflowEnvironment
    refusals: list[str] = field(default_factory=list)
    done: set[StageKind] = field(default_factory=set)

    async def refused(self, workflow_id: str, act: str, payload: object) -> None:
        with pytest.raises(Refused) as caught:
            await service.perform(self.env.client, workflow_id, act, payload)  # type: ignore[arg-type]
        self.refusals.append(str(caught.value))

    async def check(self, status: CycleOverview, player: Player) -> None:
        stage = status.stage
        reviewed = [a for a in status.applications if a.state is ApplicationState.EXPERT_REVIEW]
        if stage is StageKind.EXPERT_REVIEW and stage not in self.done and reviewed:
            # The experts from the workflow itself: the read model may not show the draw yet.
            app = await service.application_status(self.env.client, reviewed[0].application_id)
            if not app.experts:
                return
            self.done.add(stage)
            good = player.score(app.application_id, app.experts[0])
            too_high = dict(good.scores)
            first = next(iter(too_high))
            too_high[first] = 10_000
            await self.refused(app.application_id, "submit_score", good.model_copy(update={"scores": too_high}))
            outsider = next(e.id for e in player.programme.expert_review.pool if e.id not in app.experts)
            await self.refused(app.application_id, "submit_score", player.score(app.application_id, outsider))
            await service.perform(self.env.client, app.application_id, "submit_score", good)
            stale = good.model_copy(update={"expected_revision": 0})
            await self.refused(app.application_id, "submit_score", stale)
        if stage is StageKind.PUBLIC_NOTICE:
            await self.late_answer(status, player)

    async def late_answer(self, status: CycleStatus, player: Player) -> None:
        """A department's answer once the consultation has closed."""
        if StageKind.PUBLIC_NOTICE not in self.done:
            self.done.add(StageKind.PUBLIC_NOTICE)
            consultation = status.consultations[0]
            answer = ConsultationAnswer(
                actor=Actor(role=Role.DEPARTMENT, identity=player.programme.departments[0].id, channel=Channel.LINK),
                answers=[
                    CandidateOpinion(application_id=c.application_id, opinion=Opinion.NO_OBJECTION)
                    for c in status.shortlist
                ],
            )
            await self.refused(consultation, "answer", answer)


async def test_bad_acts_are_refused(env: WorkflowEnvironment, task_queue: str, engine: Engine) -> None:
    programme = small(get_programme("qingdao-mayor-quality-award"))
    cycle_id = await start(env.client, programme, task_queue, uuid.uuid4().hex[:6])
    await apply_all(
        env.client, cycle_id, {"a": samples.application(programme, 1), "b": samples.application(programme, 2)}
    )
    # Strong applicants: a random cycle id must not score both below the pass mark and leave no consultation.
    player = StrongPlayer(programme=programme, departments=True)
    probe = Probe(env)
    sleep = day_sleeper(env)

    async def pause(status: CycleOverview) -> None:
        await probe.check(status, player)
        await sleep(status)

    final = await Simulator(TemporalDesk(env.client, engine), cycle_id, player, pause).run()
    await probe.late_answer(final, player)  # if a loaded machine never paused the simulator during the notice

    assert len(probe.refusals) == 4, probe.refusals
    assert "超出范围" in probe.refusals[0]
    assert "not assigned" in probe.refusals[1]
    assert "stale revision" in probe.refusals[2]
    assert "closed" in probe.refusals[3]


async def test_year_without_holiday_data_fails_closed(
    env: WorkflowEnvironment, task_queue: str, data_dir: Path
) -> None:
    from schemas.calendar import CalendarSpec
    from schemas.holiday_file import load_holiday_file

    programme = get_programme("qingdao-mayor-quality-award")
    with pytest.raises(Refused, match=r"2027.*--holidays"):
        await service.start_cycle(env.client, programme, 2027, task_queue=task_queue, day_seconds=86400)
    calendar = CalendarSpec(supplied=[load_holiday_file(data_dir / "holidays-2027.toml")])
    cycle_id = await service.start_cycle(
        env.client,
        programme,
        2027,
        task_queue=task_queue,
        day_seconds=86400,
        calendar=calendar,
        cycle_id=f"{programme.id}-2027-{uuid.uuid4().hex[:6]}",
    )
    status = await service.cycle_status(env.client, cycle_id)
    assert status.stage is StageKind.APPLICATION and status.stage_deadline is not None
    assert status.stage_deadline.year == 2027
    await terminate(env.client, cycle_id)
