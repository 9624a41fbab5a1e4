"""AwardCycleWorkflow: one edition of a programme, interpreting the programme's stage list."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from schemas import ids
    from schemas.application import (
        ApplicationForm,
        ApplicationInput,
        ApplicationProgress,
        ApplicationResult,
        ApplicationState,
        Conclusion,
        DeadlineChange,
        Outcome,
        StageOpening,
    )
    from schemas.archive import ArchiveRequest
    from schemas.common import RehearsalClock, Role
    from schemas.consultation import Candidate, ConsultationInput, ConsultationResult, DeadlineExtension
    from schemas.credit_code import credit_code_problem, normalise_credit_code
    from schemas.cycle import (
        ApplicationAccepted,
        ApplicationSubmission,
        ApplicationSummary,
        Award,
        CycleInput,
        CycleResult,
        CycleStatus,
        GovernmentApproval,
        RecommendedCandidate,
        StageRecord,
    )
    from schemas.ladder import (
        Delivery,
        DeliveryRequest,
        DeliveryResult,
        DeliveryState,
        EligibilityRequest,
        EligibilityResult,
        PendingRequest,
        PendingResult,
        ReceivedRecommendation,
        RecommendationBatch,
        RecommendationCheck,
        RecommendationProblems,
        RecommendationReceipt,
        RecommendedApplicant,
        SettledRecommendations,
        TargetedRecommendation,
        holder_key,
    )
    from schemas.notice import NoticeInput, NoticeResult
    from schemas.notification import MessageRequest
    from schemas.programme import APPLICATION_STAGES, ApplicantKind, Duration, Stage, StageKind
    from schemas.records import ApplicationOutcome, CycleProgress, CycleResults
    from schemas.title import TitleGrant, TitleHolder
    from workflows.application import PROGRESS_SIGNAL, ApplicationWorkflow
    from workflows.common import (
        SideEffects,
        cycle_now,
        deadline_after,
        in_batches,
        rejected,
        reminders_before,
        require_role,
        side_effect,
        wait_done_or_deadline,
    )
    from workflows.consultation import ConsultationWorkflow
    from workflows.ladder import batch_problem, lookup
    from workflows.notice import PublicNoticeWorkflow
    from workflows.rules import draw_experts, propose, rank, recommend


@workflow.defn
class AwardCycleWorkflow:
    @workflow.init
    def __init__(self, input: CycleInput) -> None:
        self._input = input
        self._programme = input.programme
        now = workflow.now()
        opening = now
        if input.day_seconds is not None:
            opening = self._programme.opens_at(input.year)
        self._clock = RehearsalClock(origin_real=now, origin_cycle=opening, day_seconds=input.day_seconds)
        self._stage: Stage | None = None
        self._stages: list[StageRecord] = []
        self._forms: dict[str, ApplicationForm] = {}
        self._applications: dict[str, ChildWorkflowHandle[ApplicationWorkflow, ApplicationResult]] = {}
        self._progress: dict[str, ApplicationProgress] = {}
        self._experts: dict[str, list[str]] = {}
        self._submitting = 0
        self._shortlist: list[Candidate] = []
        self._proposed: dict[str, Outcome] = {}
        self._consultations: list[str] = []
        self._notice: str | None = None
        self._approval: GovernmentApproval | None = None
        self._awards: list[Award] = []
        self._recommendations: list[RecommendedCandidate] = []
        self._completed = False
        self._recommended: dict[str, ReceivedRecommendation] = {}
        self._direct: set[str] = set()
        self._deliveries: list[Delivery] = []
        self._effects = SideEffects()

    @workflow.run
    async def run(self, input: CycleInput) -> CycleResult:
        for stage in self._programme.stages:
            await self._enter(stage)
            match stage.kind:
                case StageKind.APPLICATION:
                    await wait_done_or_deadline(self._clock, lambda: False, self._deadline)
                    await workflow.wait_condition(lambda: self._submitting == 0)
                case kind if kind in APPLICATION_STAGES:
                    await self._application_stage(kind)
                case StageKind.CONSULTATION:
                    await self._consult()
                case StageKind.PUBLIC_NOTICE:
                    await self._public_notice()
                case StageKind.APPROVAL:
                    await workflow.wait_condition(lambda: self._approval is not None)
                case StageKind.ANNOUNCEMENT:
                    await self._announce()
            self._stages[-1].ended_at = cycle_now(self._clock)
        self._stage = None
        await self._record_progress()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._effects.drain()
        assert self._approval is not None, "the programme has no approval stage"
        # Cycles recorded before the archive existed (tests/histories) replay without this step.
        if workflow.patched("archive-histories"):
            # Started by an activity: an abandoned child hangs the time-skipping server (temporalio/sdk-java#2392).
            archived = [input.cycle_id, *self._forms, *self._consultations, *([self._notice] if self._notice else [])]
            await side_effect("start_archive", ArchiveRequest(cycle_id=input.cycle_id, workflow_ids=archived))
        return CycleResult(
            cycle_id=input.cycle_id,
            awards=self._awards,
            recommendations=self._recommendations,
            approval=self._approval,
            deliveries=self._deliveries,
        )

    async def _enter(self, stage: Stage) -> None:
        if stage.kind in (StageKind.CONSULTATION, StageKind.PUBLIC_NOTICE, StageKind.APPROVAL):
            await self._shortlist_once()
        now = cycle_now(self._clock)
        duration = self._programme.duration_of(stage)
        deadline = await deadline_after(now, duration, self._input.calendar) if duration else None
        self._stage = stage
        # Taken in before the stage shows as open, so every applicant finds its recommendation there.
        # Cycles recorded before the ladder replay without this step.
        if stage.kind is StageKind.APPLICATION and deadline and workflow.patched("receive-recommendations"):
            await self._receive_pending(deadline)
        self._stages.append(StageRecord(stage=stage.kind, started_at=now, deadline=deadline))
        await self._record_progress()

    def _deadline(self) -> datetime:
        deadline = self._stages[-1].deadline
        assert deadline is not None
        return deadline

    def _active(self) -> list[str]:
        return [a for a, p in self._progress.items() if p.outcome is None]

    async def _application_stage(self, kind: StageKind) -> None:
        if kind is StageKind.ONSITE_REVIEW and self._programme.onsite_review is not None:
            ranked = self._ranked(by_expert_score=True)
            await self._conclude(
                ranked[self._programme.onsite_review.candidates :],
                Outcome.NOT_SHORTLISTED,
                "专家评审排名未进入现场评审范围 (not among the best-scored for on-site review)",
            )
        participants = self._active()
        deadline = self._deadline()

        async def open_stage(application_id: str) -> None:
            experts: list[str] = []
            if kind is StageKind.EXPERT_REVIEW and application_id not in self._direct:
                experts = draw_experts(
                    f"{self._input.cycle_id}/{application_id}",
                    self._programme.expert_review.pool,
                    self._forms[application_id],
                    self._programme.expert_review.experts_per_application,
                )
                self._experts[application_id] = experts
            opening = StageOpening(stage=kind, deadline=deadline, experts=experts)
            await workflow.get_external_workflow_handle(application_id).signal(ApplicationWorkflow.open_stage, opening)

        for application_id in participants:
            self._progress[application_id] = self._progress[application_id].model_copy(
                update={"stage": kind, "stage_passed": None}
            )
        await in_batches(participants, open_stage)
        await workflow.wait_condition(
            lambda: all(
                self._progress[a].outcome is not None
                or (self._progress[a].stage is kind and self._progress[a].stage_passed is not None)
                for a in participants
            )
        )

    def _ranked(self, *, by_expert_score: bool = False) -> list[str]:
        # The direct channel is not ranked: its entrants were judged by the programme they come from.
        ranked = (a for a in self._active() if a not in self._direct)
        return rank(self._progress, ranked, by_expert_score=by_expert_score)

    async def _conclude(self, application_ids: list[str], outcome: Outcome, reason: str) -> None:
        for application_id in application_ids:
            self._progress[application_id] = self._progress[application_id].model_copy(
                update={"outcome": outcome, "reason": reason}
            )

        async def send(application_id: str) -> None:
            await workflow.get_external_workflow_handle(application_id).signal(
                ApplicationWorkflow.conclude, Conclusion(outcome=outcome, reason=reason)
            )

        await in_batches(application_ids, send)

    async def _shortlist_once(self) -> None:
        """Rank the remaining candidates by final score and fill the quotas, once, before consultation."""
        if self._proposed:
            return
        ranked = self._ranked()
        quotas = self._programme.quotas
        self._proposed.update(propose(ranked, quotas))
        for application_id in self._active():
            if application_id in self._direct:
                self._proposed[application_id] = Outcome.WINNER  # beside the quota, as 省市直通 entrants
        await self._conclude(
            ranked[quotas.winners + quotas.nominations :],
            Outcome.NOT_SELECTED,
            "综合得分未进入名额 (outside the quota after ranking)",
        )
        self._shortlist = [self._candidate(a) for a in self._proposed]

    def _candidate(self, application_id: str) -> Candidate:
        form = self._forms[application_id]
        return Candidate(
            application_id=application_id,
            name=form.name,
            applicant_kind=form.applicant_kind.value,
            credit_code=form.credit_code,
            category=form.category,
            region=form.region,
            proposed_award=self._proposed[application_id].value,
        )

    async def _drop(self, application_ids: list[str], outcome: Outcome, reason: str) -> None:
        dropped = [a for a in application_ids if a in self._proposed]
        for application_id in dropped:
            del self._proposed[application_id]
        self._shortlist = [c for c in self._shortlist if c.application_id not in dropped]
        await self._conclude(dropped, outcome, reason)

    async def _consult(self) -> None:
        deadline = self._deadline()
        rules = self._programme.consultation
        reminders = await reminders_before(deadline, rules.reminders_before, self._input.calendar)
        self._consultations = [ids.consultation_id(self._input.cycle_id, d.id) for d in self._programme.departments]
        if not self._shortlist:
            self._consultations = []
            return

        results: list[ConsultationResult] = []

        async def consult(index: int) -> None:
            department = self._programme.departments[index]
            result = await workflow.execute_child_workflow(
                ConsultationWorkflow.run,
                ConsultationInput(
                    cycle_id=self._input.cycle_id,
                    cycle_name_zh=f"{self._input.year}年度",
                    programme_name_zh=self._programme.name_zh,
                    department=department,
                    candidates=self._shortlist,
                    deadline=deadline,
                    reminders=reminders,
                    overdue_policy=rules.overdue_policy,
                    clock=self._clock,
                    calendar=self._input.calendar,
                ),
                id=self._consultations[index],
                parent_close_policy=ParentClosePolicy.TERMINATE,
            )
            results.append(result)

        await in_batches(range(len(self._consultations)), consult)
        dropped = sorted({a for r in results for a in r.dropped})
        await self._drop(dropped, Outcome.DROPPED_BY_CONSULTATION, "部门异议经研究成立 (department objection upheld)")

    async def _public_notice(self) -> None:
        if not self._shortlist:
            return
        self._notice = ids.notice_id(self._input.cycle_id)
        result: NoticeResult = await workflow.execute_child_workflow(
            PublicNoticeWorkflow.run,
            NoticeInput(
                cycle_id=self._input.cycle_id,
                programme_name_zh=self._programme.name_zh,
                publisher_zh=self._programme.publisher_zh,
                candidates=self._shortlist,
                starts_at=self._stages[-1].started_at,
                ends_at=self._deadline(),
                clock=self._clock,
            ),
            id=self._notice,
        )
        await self._drop(result.dropped, Outcome.DROPPED_BY_NOTICE, "公示异议经核实成立 (public objection upheld)")

    async def _announce(self) -> None:
        for application_id, award in self._proposed.items():
            form = self._forms[application_id]
            self._awards.append(
                Award(
                    application_id=application_id,
                    name=form.name,
                    applicant_kind=form.applicant_kind.value,
                    credit_code=form.credit_code,
                    award=award,
                    final_score=self._progress[application_id].final_score,
                )
            )
        for award in (Outcome.WINNER, Outcome.NOMINATION):
            chosen = [a for a, o in self._proposed.items() if o is award]
            await self._conclude(chosen, award, f"经{self._programme.approval_authority_zh}批准 (approved)")
        self._recommendations = self._recommend()
        await side_effect(
            "record_results",
            CycleResults(
                cycle_id=self._input.cycle_id,
                awards=self._awards,
                recommendations=self._recommendations,
                programme_id=self._programme.id,
                year=self._input.year,
                applications=self._outcomes(),
            ),
        )
        # Cycles recorded before titles existed replay without granting them.
        if workflow.patched("grant-titles") and self._awards:
            await side_effect("start_titles", self._title_grant())
        # Cycles recorded before the ladder replay without delivering their recommendations.
        if workflow.patched("deliver-recommendations") and self._recommendations:
            request = DeliveryRequest(
                from_programme=self._programme.id,
                from_cycle=self._input.cycle_id,
                announced_at=cycle_now(self._clock),
                recommendations=[
                    TargetedRecommendation(target_programme=r.programme, applicant=self._applicant(r))
                    for r in self._recommendations
                ],
            )
            delivered = await lookup("deliver_recommendations", request, DeliveryResult)
            self._deliveries = delivered.deliveries
        if workflow.patched("await-applications"):
            # Closing first would terminate winners before they record their outcome (parent close policy).
            await asyncio.gather(*self._applications.values(), return_exceptions=True)
        self._completed = True

    def _recommend(self) -> list[RecommendedCandidate]:
        kinds = {a.application_id: self._forms[a.application_id].applicant_kind for a in self._awards}
        return [
            RecommendedCandidate(
                programme=programme,
                application_id=award.application_id,
                name=award.name,
                applicant_kind=award.applicant_kind,
                credit_code=award.credit_code,
                award=award.award,
            )
            for programme, award in recommend(self._programme.feeds, self._awards, kinds)
        ]

    def _title_grant(self) -> TitleGrant:
        """Each winner now holds a title (award, nomination or brand) under dynamic management."""
        return TitleGrant(
            cycle_id=self._input.cycle_id,
            programme_id=self._programme.id,
            programme_name_zh=self._programme.name_zh,
            brand=self._programme.brand,
            year=self._input.year,
            granted_at=cycle_now(self._clock),
            validity_years=self._programme.titles.validity_years,
            self_inspection=self._programme.titles.self_inspection,
            clock=self._clock,
            holders=[
                TitleHolder(
                    application_id=award.application_id,
                    name=award.name,
                    applicant_kind=award.applicant_kind,
                    credit_code=award.credit_code,
                    contact_email=self._forms[award.application_id].contact_email,
                    award=award.award.value,
                )
                for award in self._awards
            ],
        )

    def _holder(self, form: ApplicationForm) -> str:
        return holder_key(form.applicant_kind.value, form.credit_code, form.name)

    def _applicant(self, recommendation: RecommendedCandidate) -> RecommendedApplicant:
        form = self._forms[recommendation.application_id]
        return RecommendedApplicant.of(form, recommendation.application_id, recommendation.award.value)

    def _outcomes(self) -> list[ApplicationOutcome]:
        return [
            ApplicationOutcome(
                application_id=a,
                holder_key=self._holder(form),
                name=form.name,
                applicant_kind=form.applicant_kind.value,
                credit_code=form.credit_code,
                outcome=(self._progress[a].outcome or Outcome.NOT_SELECTED).value,
                direct=a in self._direct,
            )
            for a, form in self._forms.items()
        ]

    async def _receive_pending(self, deadline: datetime) -> None:
        """Take in the recommendations that waited for this edition, each under this cycle's rules."""
        request = PendingRequest(cycle_id=self._input.cycle_id, programme_id=self._programme.id, year=self._input.year)
        pending = await lookup("pending_recommendations", request, PendingResult)
        settled: list[Delivery] = []
        for batch in pending.batches:
            problem = self._batch_problem(batch)
            if problem is None:
                self._record_batch(batch, deadline)
            state = DeliveryState.REFUSED if problem else DeliveryState.DELIVERED
            settled += [
                Delivery(
                    from_cycle=batch.from_cycle,
                    target_programme=self._programme.id,
                    target_year=self._input.year,
                    target_cycle=self._input.cycle_id,
                    holder_key=c.holder_key,
                    name=c.name,
                    state=state,
                    reason=problem or "",
                )
                for c in batch.candidates
            ]
        if settled:
            await side_effect(
                "settle_recommendations", SettledRecommendations(cycle_id=self._input.cycle_id, deliveries=settled)
            )

    def _batch_problem(self, batch: RecommendationBatch) -> str | None:
        accepting = self._stage is not None and self._stage.kind is StageKind.APPLICATION and not self._completed
        return batch_problem(
            batch,
            self._input.recommenders,
            self._recommended.values(),
            accepting=accepting,
            programme_zh=self._programme.name_zh,
        )

    def _record_batch(self, batch: RecommendationBatch, deadline: datetime) -> RecommendationReceipt:
        accepted, already = [], []
        for candidate in batch.candidates:
            if candidate.holder_key in self._recommended:
                already.append(candidate.holder_key)
                continue
            accepted.append(candidate.holder_key)
            self._recommended[candidate.holder_key] = ReceivedRecommendation(
                from_programme=batch.from_programme,
                from_cycle=batch.from_cycle,
                applicant=candidate,
                received_at=cycle_now(self._clock),
            )
            invitation = MessageRequest(
                message_id=f"{self._input.cycle_id}/recommended-{hashlib.sha256(candidate.holder_key.encode()).hexdigest()[:12]}",
                recipient_email=candidate.contact_email,
                template="recommendation_received",
                context={
                    "programme": self._programme.name_zh,
                    "cycle": f"{self._input.year}年度",
                    "applicant": candidate.name,
                    "recommender": next(
                        r.name_zh for r in self._input.recommenders if r.programme == batch.from_programme
                    ),
                    "deadline": deadline.isoformat(),
                },
            )
            self._effects.post("send_message", invitation)
        return RecommendationReceipt(accepted=accepted, already=already)

    async def _record_progress(self) -> None:
        await side_effect(
            "record_cycle",
            CycleProgress(
                cycle_id=self._input.cycle_id,
                programme_id=self._programme.id,
                year=self._input.year,
                day_seconds=self._input.day_seconds,
                started_at=self._clock.origin_cycle,
                stage=self._stage.kind if self._stage else None,
                completed=self._completed,
            ),
        )

    # Signals, queries and human acts.

    @workflow.signal(name=PROGRESS_SIGNAL)
    def application_progress(self, progress: ApplicationProgress) -> None:
        known = self._progress.get(progress.application_id)
        if known is not None and known.outcome is not None and progress.outcome is None:
            return  # the cycle already concluded it; a late report from the child changes nothing
        self._progress[progress.application_id] = progress

    @workflow.query
    def status(self) -> CycleStatus:
        stage = self._stages[-1] if self._stages and self._stage else None
        return CycleStatus(
            cycle_id=self._input.cycle_id,
            programme_id=self._programme.id,
            programme_name_zh=self._programme.name_zh,
            year=self._input.year,
            stage=stage.stage if stage else None,
            stage_deadline=stage.deadline if stage else None,
            cycle_time=cycle_now(self._clock),
            day_seconds=self._input.day_seconds,
            stages=self._stages,
            applications=[
                ApplicationSummary(
                    application_id=a,
                    name=form.name,
                    applicant_kind=form.applicant_kind.value,
                    credit_code=form.credit_code,
                    experts=self._experts.get(a, []),
                    progress=self._progress[a],
                )
                for a, form in self._forms.items()
                if a in self._progress
            ],
            shortlist=self._shortlist,
            consultations=self._consultations,
            notice=self._notice,
            approval=self._approval,
            awards=self._awards,
            recommendations=self._recommendations,
            completed=self._completed,
            recommended=list(self._recommended.values()),
            deliveries=self._deliveries,
        )

    @workflow.update
    async def submit_application(self, submission: ApplicationSubmission) -> ApplicationAccepted:
        self._submitting += 1
        try:
            form = submission.form
            if form.credit_code is not None:
                form = form.model_copy(update={"credit_code": normalise_credit_code(form.credit_code)})
            direct = False
            # Cycles recorded before the ladder replay without the eligibility lookup.
            if workflow.patched("ladder-eligibility"):
                direct = await self._eligible(form)
            application_id = ids.application_id(self._input.cycle_id, len(self._forms) + 1)
            self._forms[application_id] = form
            if direct:
                self._direct.add(application_id)
            key = self._holder(form)
            if key in self._recommended:
                self._recommended[key] = self._recommended[key].model_copy(update={"application_id": application_id})
            received_at = cycle_now(self._clock)
            self._progress[application_id] = ApplicationProgress(
                application_id=application_id, state=ApplicationState.WAITING, stage=None
            )
            self._applications[application_id] = await workflow.start_child_workflow(
                ApplicationWorkflow.run,
                ApplicationInput(
                    cycle_id=self._input.cycle_id,
                    application_id=application_id,
                    form=form,
                    programme=self._programme,
                    clock=self._clock,
                    calendar=self._input.calendar,
                    submitted_at=received_at,
                    direct=direct,
                ),
                id=application_id,
            )
            return ApplicationAccepted(application_id=application_id, received_at=received_at)
        finally:
            self._submitting -= 1

    @submit_application.validator
    def _validate_application(self, submission: ApplicationSubmission) -> None:
        require_role(submission.actor, Role.APPLICANT, Role.SECRETARIAT, Role.COORDINATOR)
        if not self._stages:
            raise rejected("周期正在开启，请稍后再试 (the cycle is still opening; try again in a moment)")
        if self._stage is None or self._stage.kind is not StageKind.APPLICATION:
            raise rejected("申报已截止 (the call for applications is closed)")
        if cycle_now(self._clock) >= self._deadline():
            raise rejected(f"申报已截止 (applications closed at {self._deadline().isoformat()})")
        form, programme = submission.form, self._programme
        if form.applicant_kind not in programme.applicant_kinds:
            allowed = ", ".join(k.value for k in programme.applicant_kinds)
            raise rejected(f"本奖项不接受此类申报主体 ({form.applicant_kind.value}; allowed: {allowed})")
        if form.category not in programme.categories:
            raise rejected(f"类别不正确 (category {form.category!r}; allowed: {', '.join(programme.categories)})")
        if form.applicant_kind is ApplicantKind.ORGANISATION and not form.credit_code:
            raise rejected("组织申报须提供统一社会信用代码 (an organisation needs its credit_code)")
        if form.credit_code:
            problem = credit_code_problem(form.credit_code)
            if problem:
                raise rejected(problem)
        if duplicate := self._duplicate(form):
            raise rejected(duplicate)
        if programme.eligibility.requires_recommendation and self._holder(form) not in self._recommended:
            recommenders = "、".join(r.name_zh for r in self._input.recommenders) or "下一级"
            raise rejected(
                f"{programme.name_zh}须经{recommenders}推荐后申报 ({form.name} has not been recommended to this cycle)"
            )
        expected = sorted(c.id for c in programme.conditions)
        given = sorted(c.id for c in form.conditions)
        if given != expected:
            raise rejected(
                f"基本条件须逐条填写 (conditions must list each of {', '.join(expected)} once; got {', '.join(given)})"
            )

    def _duplicate(self, form: ApplicationForm) -> str | None:
        code = normalise_credit_code(form.credit_code) if form.credit_code else None
        for other in self._forms.values():
            if (code and other.credit_code == code) or (other.applicant_kind, other.name) == (
                form.applicant_kind,
                form.name,
            ):
                return f"重复申报 (duplicate application: {form.name} has already applied in this cycle)"
        return None

    async def _eligible(self, form: ApplicationForm) -> bool:
        """Checks earlier years in the store; True when the applicant enters through the direct channel."""
        rules, channel = self._programme.eligibility, self._programme.direct_channel
        request = EligibilityRequest(
            programme_id=self._programme.id,
            year=self._input.year,
            holder_key=self._holder(form),
            at=cycle_now(self._clock),
            winner_cooldown_years=rules.winner_cooldown_years,
            revoked_bar_years=rules.revoked_bar_years,
            direct_from=channel.from_programme if channel else None,
        )
        result = await lookup("check_eligibility", request, EligibilityResult)
        # While the store was asked, the same applicant may have applied a second time.
        problems = [*result.problems, *filter(None, [self._duplicate(form)])]
        if problems:
            raise ApplicationError("；".join(problems), type="Ineligible", non_retryable=True)
        return result.direct

    @workflow.update
    async def recommend(self, batch: RecommendationBatch) -> RecommendationReceipt:
        checked = await lookup("check_recommendation", RecommendationCheck(batch=batch), RecommendationProblems)
        # Checked again after the lookup: another batch may have filled the quota meanwhile.
        problem = "；".join(checked.problems) or self._batch_problem(batch)
        if problem:
            raise ApplicationError(problem, type="Refused", non_retryable=True)
        return self._record_batch(batch, self._deadline())

    @recommend.validator
    def _validate_recommendation(self, batch: RecommendationBatch) -> None:
        require_role(batch.actor, Role.SYSTEM, Role.COORDINATOR)
        if problem := self._batch_problem(batch):
            raise rejected(problem)

    @workflow.update
    async def extend_deadline(self, extension: DeadlineExtension) -> StageRecord:
        record = self._stages[-1]
        new_deadline = await deadline_after(
            self._deadline(), Duration(days=extension.working_days), self._input.calendar
        )
        record.deadline = new_deadline
        record.extensions.append(f"{extension.actor.identity}: +{extension.working_days} 工作日, {extension.reason}")
        kind = record.stage
        if kind in APPLICATION_STAGES:
            change = DeadlineChange(stage=kind, deadline=new_deadline, reason=extension.reason)

            async def tell(application_id: str) -> None:
                await workflow.get_external_workflow_handle(application_id).signal(
                    ApplicationWorkflow.change_deadline, change
                )

            await in_batches(self._active(), tell)
        elif kind is StageKind.CONSULTATION:

            async def extend(consultation_id: str) -> None:
                await workflow.get_external_workflow_handle(consultation_id).signal(
                    ConsultationWorkflow.extend, new_deadline
                )

            await in_batches(self._consultations, extend)
        return record

    @extend_deadline.validator
    def _validate_extension(self, extension: DeadlineExtension) -> None:
        require_role(extension.actor, Role.COORDINATOR)
        extendable = (StageKind.APPLICATION, StageKind.CONSULTATION, *APPLICATION_STAGES)
        if self._stage is None or self._stage.kind not in extendable or self._stages[-1].deadline is None:
            current = self._stage.kind.value if self._stage else "none"
            raise rejected(f"当前环节不能延期 (the current stage {current} has no deadline to extend)")

    @workflow.update
    async def record_approval(self, approval: GovernmentApproval) -> GovernmentApproval:
        self._approval = approval
        return approval

    @record_approval.validator
    def _validate_approval(self, approval: GovernmentApproval) -> None:
        require_role(approval.actor, Role.COORDINATOR)
        if self._stage is None or self._stage.kind is not StageKind.APPROVAL:
            raise rejected("尚未进入报批环节 (the cycle is not awaiting the government's approval)")
        if self._approval is not None:
            raise rejected("已记录批准文件 (approval already recorded)")
