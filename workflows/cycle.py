"""AwardCycleWorkflow: one edition of a programme, interpreting the programme's stage list.

The cycle's history must not grow with its applicants: applications are separate workflows started by
a local activity, the cycle signals them in batches through activities, they tell it only when they
finish a stage, and the cycle continues as new with its state when its history grows long.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.applications import ApplicationActivities
    from activities.ladder import LadderActivities
    from activities.notify import NotificationActivities
    from activities.records import RecordActivities
    from activities.starts import StartActivities
    from schemas import ids
    from schemas.application import (
        ApplicationForm,
        ApplicationInput,
        ApplicationProgress,
        ApplicationRules,
        Conclusion,
        Conclusions,
        DeadlineChange,
        DeadlineChanges,
        Entrant,
        Outcome,
        StageOpening,
        StageOpenings,
    )
    from schemas.archive import ArchiveRequest
    from schemas.common import RehearsalClock, Role
    from schemas.consultation import Candidate, ConsultationInput, ConsultationResult, DeadlineExtension
    from schemas.credit_code import credit_code_problem, normalise_credit_code
    from schemas.cycle import (
        ApplicationAccepted,
        ApplicationSubmission,
        Award,
        CycleInput,
        CycleResult,
        CycleState,
        CycleStatus,
        GovernmentApproval,
        RecommendedCandidate,
        StageRecord,
    )
    from schemas.ladder import (
        Delivery,
        DeliveryRequest,
        DeliveryState,
        EligibilityRequest,
        PendingRequest,
        ReceivedRecommendation,
        RecommendationBatch,
        RecommendationCheck,
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
    from workflows.application import PROGRESS_SIGNAL
    from workflows.common import (
        BATCH,
        LOCAL_TIMEOUT,
        SIDE_EFFECT_DEADLINE,
        SIDE_EFFECT_RETRY,
        SIDE_EFFECT_TIMEOUT,
        HolidayWait,
        SideEffects,
        cycle_now,
        deadline_after,
        in_batches,
        missing_year,
        rejected,
        reminders_before,
        require_role,
        side_effect,
        wait_done_or_deadline,
    )
    from workflows.consultation import ConsultationWorkflow
    from workflows.ladder import LOOKUP_DEADLINE, LOOKUP_RETRY, LOOKUP_TIMEOUT, batch_problem, lookup
    from workflows.notice import PublicNoticeWorkflow
    from workflows.rules import draw_experts, propose, rank, recommend

# At a stage boundary the cycle continues as new past this share of events_per_run: a stage of 1,000
# applications adds about 4 events each (a report signal and its workflow task).
BOUNDARY_SHARE = 0.5
# What a submission is told while the cycle hands over to its next run; the client tries again.
HANDING_OVER = "HandingOver"
HANDING_OVER_ZH = "周期正在整理记录，请稍后重试 (the cycle is handing over to its next run; try again)"


@workflow.defn
class AwardCycleWorkflow:
    @workflow.init
    def __init__(self, input: CycleInput) -> None:
        self._input = input
        self._holidays = HolidayWait()
        self._programme = input.programme
        state = input.state
        if state is None:
            now = workflow.now()
            opening = self._programme.opens_at(input.year) if input.day_seconds is not None else now
            clock = RehearsalClock(origin_real=now, origin_cycle=opening, day_seconds=input.day_seconds)
            state = CycleState(clock=clock)
        self._s = state
        self._clock = state.clock
        self._submitting = 0
        self._handing_over = False
        self._effects = SideEffects()

    @workflow.run
    async def run(self, input: CycleInput) -> CycleResult:
        stages = self._programme.stages
        while self._s.stage_index < len(stages):
            stage = stages[self._s.stage_index]
            if not self._s.entered:
                if self._history_length() >= input.events_per_run * BOUNDARY_SHARE:
                    await self._continue_as_new()
                await self._enter(stage)
            match stage.kind:
                case StageKind.APPLICATION:
                    if await wait_done_or_deadline(self._clock, self._history_full, self._deadline):
                        await self._continue_as_new()
                    await workflow.wait_condition(lambda: self._submitting == 0)
                case kind if kind in APPLICATION_STAGES:
                    await self._application_stage(kind)
                case StageKind.CONSULTATION:
                    await self._consult()
                case StageKind.PUBLIC_NOTICE:
                    await self._public_notice()
                case StageKind.APPROVAL:
                    await workflow.wait_condition(lambda: self._s.approval is not None)
                case StageKind.ANNOUNCEMENT:
                    await self._announce()
            self._s.stages[-1].ended_at = cycle_now(self._clock)
            self._s.stage_index += 1
            self._s.entered = False
        await self._record_progress()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._effects.drain()
        approval = self._s.approval
        assert approval is not None, "the programme has no approval stage"
        # Started by an activity: an abandoned child hangs the time-skipping server (temporalio/sdk-java#2392).
        archived = [input.cycle_id, *self._s.entrants, *self._s.consultations, *filter(None, [self._s.notice])]
        await side_effect(StartActivities.start_archive, ArchiveRequest(cycle_id=input.cycle_id, workflow_ids=archived))
        return CycleResult(
            cycle_id=input.cycle_id,
            awards=self._s.awards,
            recommendations=self._s.recommendations,
            approval=approval,
            deliveries=self._s.deliveries,
        )

    # Continue-as-new: only where no application is expected to report, so no signal is lost in the handover.

    def _history_length(self) -> int:
        return workflow.info().get_current_history_length()

    def _history_full(self) -> bool:
        return self._history_length() >= self._input.events_per_run or workflow.info().is_continue_as_new_suggested()

    async def _continue_as_new(self) -> None:
        """Hand the state to a fresh run once every act in progress has finished; submissions meanwhile retry."""
        self._handing_over = True
        await workflow.wait_condition(lambda: self._submitting == 0 and workflow.all_handlers_finished())
        await self._effects.drain()
        state = self._s.model_copy(update={"run": self._s.run + 1})
        workflow.continue_as_new(self._input.model_copy(update={"state": state}))

    @property
    def _stage(self) -> Stage | None:
        """The stage in progress; None while the cycle moves between stages and once it has closed."""
        stages = self._programme.stages
        return stages[self._s.stage_index] if self._s.entered and self._s.stage_index < len(stages) else None

    async def _enter(self, stage: Stage) -> None:
        if stage.kind in (StageKind.CONSULTATION, StageKind.PUBLIC_NOTICE, StageKind.APPROVAL):
            await self._shortlist_once()
        now = cycle_now(self._clock)
        duration = self._programme.duration_of(stage)
        deadline = await deadline_after(now, duration, self._input.calendar, self._holidays) if duration else None
        # Taken in before the stage shows as open, so every applicant finds its recommendation there.
        if stage.kind is StageKind.APPLICATION and deadline:
            await self._receive_pending(deadline, accepting=True)
        self._s.stages.append(StageRecord(stage=stage.kind, started_at=now, deadline=deadline))
        self._s.entered = True
        await self._record_progress()

    def _deadline(self) -> datetime:
        deadline = self._s.stages[-1].deadline
        assert deadline is not None
        return deadline

    def _active(self) -> list[str]:
        return [a for a, e in self._s.entrants.items() if e.progress.outcome is None]

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
        openings: dict[str, StageOpening] = {}
        for application_id in participants:
            entrant = self._s.entrants[application_id]
            if kind is StageKind.EXPERT_REVIEW and not entrant.direct:
                entrant.experts = draw_experts(
                    f"{self._input.cycle_id}/{application_id}",
                    self._programme.expert_review.pool,
                    entrant,
                    self._programme.expert_review.experts_per_application,
                )
            entrant.progress = entrant.progress.model_copy(update={"stage": kind, "stage_passed": None})
            openings[application_id] = StageOpening(stage=kind, deadline=deadline, experts=entrant.experts)
        await self._each_batch(
            participants,
            lambda batch: self._signal_batch(
                ApplicationActivities.open_stages, StageOpenings(openings={a: openings[a] for a in batch})
            ),
        )

        def finished(application_id: str) -> bool:
            progress = self._s.entrants[application_id].progress
            return progress.outcome is not None or (progress.stage is kind and progress.stage_passed is not None)

        await workflow.wait_condition(lambda: all(finished(a) for a in participants))

    async def _each_batch(self, application_ids: list[str], send: Callable[[list[str]], Awaitable[None]]) -> None:
        batches = [application_ids[i : i + BATCH] for i in range(0, len(application_ids), BATCH)]
        await in_batches(batches, send)

    async def _signal_batch(self, activity: Callable[..., Awaitable[None]], batch: object) -> None:
        await workflow.execute_activity_method(
            activity,
            batch,
            start_to_close_timeout=SIDE_EFFECT_TIMEOUT,
            schedule_to_close_timeout=SIDE_EFFECT_DEADLINE,
            retry_policy=SIDE_EFFECT_RETRY,
        )

    def _ranked(self, *, by_expert_score: bool = False) -> list[str]:
        # The direct channel is not ranked: its entrants were judged by the programme they come from.
        ranked = (a for a in self._active() if not self._s.entrants[a].direct)
        progress = {a: e.progress for a, e in self._s.entrants.items()}
        return rank(progress, ranked, by_expert_score=by_expert_score)

    async def _conclude(self, application_ids: list[str], outcome: Outcome, reason: str) -> None:
        for application_id in application_ids:
            entrant = self._s.entrants[application_id]
            entrant.progress = entrant.progress.model_copy(update={"outcome": outcome})
        conclusion = Conclusion(outcome=outcome, reason=reason)
        await self._each_batch(
            application_ids,
            lambda batch: self._signal_batch(
                ApplicationActivities.conclude_applications, Conclusions(application_ids=batch, conclusion=conclusion)
            ),
        )

    async def _shortlist_once(self) -> None:
        """Rank the remaining candidates by final score and fill the quotas, once, before consultation."""
        if self._s.proposed:
            return
        ranked = self._ranked()
        quotas = self._programme.quotas
        self._s.proposed.update(propose(ranked, quotas))
        for application_id in self._active():
            if self._s.entrants[application_id].direct:
                self._s.proposed[application_id] = Outcome.WINNER  # beside the quota, as 省市直通 entrants
        await self._conclude(
            ranked[quotas.winners + quotas.nominations :],
            Outcome.NOT_SELECTED,
            "综合得分未进入名额 (outside the quota after ranking)",
        )
        self._s.shortlist = [self._candidate(a) for a in self._s.proposed]

    def _candidate(self, application_id: str) -> Candidate:
        entrant = self._s.entrants[application_id]
        return Candidate(
            application_id=application_id,
            name=entrant.name,
            applicant_kind=entrant.applicant_kind.value,
            credit_code=entrant.credit_code,
            category=entrant.category,
            region=entrant.region,
            proposed_award=self._s.proposed[application_id].value,
        )

    async def _drop(self, application_ids: list[str], outcome: Outcome, reason: str) -> None:
        dropped = [a for a in application_ids if a in self._s.proposed]
        for application_id in dropped:
            del self._s.proposed[application_id]
        self._s.shortlist = [c for c in self._s.shortlist if c.application_id not in dropped]
        await self._conclude(dropped, outcome, reason)

    async def _consult(self) -> None:
        deadline = self._deadline()
        rules = self._programme.consultation
        reminders = await reminders_before(deadline, rules.reminders_before, self._input.calendar, self._holidays)
        if not self._s.shortlist:
            return
        self._s.consultations = [ids.consultation_id(self._input.cycle_id, d.id) for d in self._programme.departments]
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
                    candidates=self._s.shortlist,
                    deadline=deadline,
                    reminders=reminders,
                    reminder_days=rules.reminders_before,
                    overdue_policy=rules.overdue_policy,
                    clock=self._clock,
                    calendar=self._input.calendar,
                ),
                id=self._s.consultations[index],
            )
            results.append(result)

        await in_batches(range(len(self._s.consultations)), consult)
        dropped = sorted({a for r in results for a in r.dropped})
        await self._drop(dropped, Outcome.DROPPED_BY_CONSULTATION, "部门异议经研究成立 (department objection upheld)")

    async def _public_notice(self) -> None:
        if not self._s.shortlist:
            return
        self._s.notice = ids.notice_id(self._input.cycle_id)
        result: NoticeResult = await workflow.execute_child_workflow(
            PublicNoticeWorkflow.run,
            NoticeInput(
                cycle_id=self._input.cycle_id,
                programme_name_zh=self._programme.name_zh,
                publisher_zh=self._programme.publisher_zh,
                candidates=self._s.shortlist,
                starts_at=self._s.stages[-1].started_at,
                ends_at=self._deadline(),
                clock=self._clock,
            ),
            id=self._s.notice,
        )
        await self._drop(result.dropped, Outcome.DROPPED_BY_NOTICE, "公示异议经核实成立 (public objection upheld)")

    async def _announce(self) -> None:
        for application_id, award in self._s.proposed.items():
            entrant = self._s.entrants[application_id]
            self._s.awards.append(
                Award(
                    application_id=application_id,
                    name=entrant.name,
                    applicant_kind=entrant.applicant_kind.value,
                    credit_code=entrant.credit_code,
                    award=award,
                    final_score=entrant.progress.final_score,
                )
            )
        for award in (Outcome.WINNER, Outcome.NOMINATION):
            chosen = [a for a, o in self._s.proposed.items() if o is award]
            await self._conclude(chosen, award, f"经{self._programme.approval_authority_zh}批准 (approved)")
        self._s.recommendations = self._recommend()
        await side_effect(
            RecordActivities.record_results,
            CycleResults(
                cycle_id=self._input.cycle_id,
                awards=self._s.awards,
                recommendations=self._s.recommendations,
                programme_id=self._programme.id,
                year=self._input.year,
                applications=self._outcomes(),
            ),
        )
        if self._s.awards:
            await side_effect(StartActivities.start_titles, self._title_grant())
        if self._s.recommendations:
            request = DeliveryRequest(
                from_programme=self._programme.id,
                from_cycle=self._input.cycle_id,
                announced_at=cycle_now(self._clock),
                recommendations=[
                    TargetedRecommendation(target_programme=r.programme, applicant=self._applicant(r))
                    for r in self._s.recommendations
                ],
            )
            delivered = await workflow.execute_activity_method(
                LadderActivities.deliver_recommendations,
                request,
                start_to_close_timeout=LOOKUP_TIMEOUT,
                schedule_to_close_timeout=LOOKUP_DEADLINE,
                retry_policy=LOOKUP_RETRY,
            )
            self._s.deliveries = delivered.deliveries
        self._s.completed = True

    def _recommend(self) -> list[RecommendedCandidate]:
        kinds = {a.application_id: self._s.entrants[a.application_id].applicant_kind for a in self._s.awards}
        return [
            RecommendedCandidate(
                programme=programme,
                application_id=award.application_id,
                name=award.name,
                applicant_kind=award.applicant_kind,
                credit_code=award.credit_code,
                award=award.award,
            )
            for programme, award in recommend(self._programme.feeds, self._s.awards, kinds)
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
                    contact_email=self._s.entrants[award.application_id].contact_email,
                    award=award.award.value,
                )
                for award in self._s.awards
            ],
        )

    def _holder(self, applicant: Entrant | ApplicationForm) -> str:
        return holder_key(applicant.applicant_kind.value, applicant.credit_code, applicant.name)

    def _applicant(self, recommendation: RecommendedCandidate) -> RecommendedApplicant:
        entrant = self._s.entrants[recommendation.application_id]
        return RecommendedApplicant.of(entrant, recommendation.application_id, recommendation.award.value)

    def _outcomes(self) -> list[ApplicationOutcome]:
        return [
            ApplicationOutcome(
                application_id=a,
                holder_key=self._holder(entrant),
                name=entrant.name,
                applicant_kind=entrant.applicant_kind.value,
                credit_code=entrant.credit_code,
                outcome=(entrant.progress.outcome or Outcome.NOT_SELECTED).value,
                direct=entrant.direct,
            )
            for a, entrant in self._s.entrants.items()
        ]

    async def _receive_pending(self, deadline: datetime, *, accepting: bool) -> None:
        """Take in the recommendations that waited for this edition, each under this cycle's rules."""
        request = PendingRequest(cycle_id=self._input.cycle_id, programme_id=self._programme.id, year=self._input.year)
        pending = await lookup(LadderActivities.pending_recommendations, request)
        settled: list[Delivery] = []
        for batch in pending.batches:
            problem = self._batch_problem(batch, accepting=accepting)
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
                LadderActivities.settle_recommendations,
                SettledRecommendations(cycle_id=self._input.cycle_id, deliveries=settled),
            )

    def _batch_problem(self, batch: RecommendationBatch, *, accepting: bool | None = None) -> str | None:
        if accepting is None:
            accepting = self._stage is not None and self._stage.kind is StageKind.APPLICATION and not self._s.completed
        return batch_problem(
            batch,
            self._input.recommenders,
            self._s.recommended.values(),
            accepting=accepting,
            programme_zh=self._programme.name_zh,
        )

    def _record_batch(self, batch: RecommendationBatch, deadline: datetime) -> RecommendationReceipt:
        accepted, already = [], []
        for candidate in batch.candidates:
            if candidate.holder_key in self._s.recommended:
                already.append(candidate.holder_key)
                continue
            accepted.append(candidate.holder_key)
            self._s.recommended[candidate.holder_key] = ReceivedRecommendation(
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
            self._effects.post(NotificationActivities.send_message, invitation)
        return RecommendationReceipt(accepted=accepted, already=already)

    async def _record_progress(self) -> None:
        stage = self._stage
        await side_effect(
            RecordActivities.record_cycle,
            CycleProgress(
                cycle_id=self._input.cycle_id,
                programme_id=self._programme.id,
                year=self._input.year,
                day_seconds=self._input.day_seconds,
                started_at=self._clock.origin_cycle,
                stage=stage.kind if stage else None,
                completed=self._s.completed,
            ),
        )

    # Signals, queries and human acts.

    @workflow.signal(name=PROGRESS_SIGNAL)
    def application_progress(self, progress: ApplicationProgress) -> None:
        entrant = self._s.entrants.get(progress.application_id)
        if entrant is None or (entrant.progress.outcome is not None and progress.outcome is None):
            return  # the cycle already concluded it; a late report from the application changes nothing
        entrant.progress = progress

    @workflow.query
    def status(self) -> CycleStatus:
        """The cycle's own facts; its applications are listed from the read model, never by this query."""
        stage = self._s.stages[-1] if self._s.stages and self._stage else None
        return CycleStatus(
            cycle_id=self._input.cycle_id,
            programme_id=self._programme.id,
            programme_name_zh=self._programme.name_zh,
            year=self._input.year,
            holidays_missing=self._holidays.year,
            stage=stage.stage if stage else None,
            stage_deadline=stage.deadline if stage else None,
            cycle_time=cycle_now(self._clock),
            day_seconds=self._input.day_seconds,
            stages=self._s.stages,
            application_count=len(self._s.entrants),
            shortlist=self._s.shortlist,
            consultations=self._s.consultations,
            notice=self._s.notice,
            approval=self._s.approval,
            awards=self._s.awards,
            recommendations=self._s.recommendations,
            completed=self._s.completed,
            recommended=list(self._s.recommended.values()),
            deliveries=self._s.deliveries,
        )

    @workflow.update
    async def submit_application(self, submission: ApplicationSubmission) -> ApplicationAccepted:
        self._submitting += 1
        try:
            form = submission.form
            if form.credit_code is not None:
                form = form.model_copy(update={"credit_code": normalise_credit_code(form.credit_code)})
            direct = await self._eligible(form)
            application_id = ids.application_id(self._input.cycle_id, len(self._s.entrants) + 1)
            self._s.entrants[application_id] = Entrant.of(application_id, form, direct=direct)
            key = self._holder(form)
            if recommendation := self._s.recommended.get(key):
                self._s.recommended[key] = recommendation.model_copy(update={"application_id": application_id})
            received_at = cycle_now(self._clock)
            application = ApplicationInput(
                cycle_id=self._input.cycle_id,
                application_id=application_id,
                form=form,
                rules=ApplicationRules.of(self._programme),
                clock=self._clock,
                calendar=self._input.calendar,
                submitted_at=received_at,
                direct=direct,
            )
            await workflow.execute_local_activity_method(
                ApplicationActivities.start_application,
                application,
                start_to_close_timeout=LOCAL_TIMEOUT,
                retry_policy=LOOKUP_RETRY,
            )
            return ApplicationAccepted(application_id=application_id, received_at=received_at)
        finally:
            self._submitting -= 1

    @submit_application.validator
    def _validate_application(self, submission: ApplicationSubmission) -> None:
        require_role(submission.actor, Role.APPLICANT, Role.SECRETARIAT, Role.COORDINATOR)
        if not self._s.stages:
            raise rejected("周期正在开启，请稍后再试 (the cycle is still opening; try again in a moment)")
        if self._handing_over:
            raise ApplicationError(HANDING_OVER_ZH, type=HANDING_OVER, non_retryable=True)
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
        if programme.eligibility.requires_recommendation and self._holder(form) not in self._s.recommended:
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
        for other in self._s.entrants.values():
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
        result = await workflow.execute_local_activity_method(
            LadderActivities.check_eligibility,
            request,
            start_to_close_timeout=LOCAL_TIMEOUT,
            retry_policy=LOOKUP_RETRY,
        )
        # While the store was asked, the same applicant may have applied a second time.
        problems = [*result.problems, *filter(None, [self._duplicate(form)])]
        if problems:
            raise ApplicationError("；".join(problems), type="Ineligible", non_retryable=True)
        return result.direct

    @workflow.update
    async def recommend(self, batch: RecommendationBatch) -> RecommendationReceipt:
        checked = await lookup(LadderActivities.check_recommendation, RecommendationCheck(batch=batch))
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
        record = self._s.stages[-1]
        try:
            new_deadline = await deadline_after(
                self._deadline(), Duration(days=extension.working_days), self._input.calendar
            )
        except ActivityError as error:
            if (year := missing_year(error)) is None:
                raise
            raise rejected(
                f"延期后的截止时间落在 {year} 年，尚无该年节假日数据，请先补充后再延期 "
                f"(no holiday data for {year}: supply it with `awardcycle holidays supply FILE`, then extend)"
            ) from error
        record.deadline = new_deadline
        record.extensions.append(f"{extension.actor.identity}: +{extension.working_days} 工作日, {extension.reason}")
        kind = record.stage
        if kind in APPLICATION_STAGES:
            change = DeadlineChange(stage=kind, deadline=new_deadline, reason=extension.reason)
            await self._each_batch(
                self._active(),
                lambda batch: self._signal_batch(
                    ApplicationActivities.change_deadlines, DeadlineChanges(application_ids=batch, change=change)
                ),
            )
        elif kind is StageKind.CONSULTATION:

            async def extend(consultation_id: str) -> None:
                await workflow.get_external_workflow_handle(consultation_id).signal(
                    ConsultationWorkflow.extend, new_deadline
                )

            await in_batches(self._s.consultations, extend)
        return record

    @extend_deadline.validator
    def _validate_extension(self, extension: DeadlineExtension) -> None:
        require_role(extension.actor, Role.COORDINATOR)
        extendable = (StageKind.APPLICATION, StageKind.CONSULTATION, *APPLICATION_STAGES)
        if self._stage is None or self._stage.kind not in extendable or self._s.stages[-1].deadline is None:
            current = self._stage.kind.value if self._stage else "none"
            raise rejected(f"当前环节不能延期 (the current stage {current} has no deadline to extend)")

    @workflow.update
    async def record_approval(self, approval: GovernmentApproval) -> GovernmentApproval:
        self._s.approval = approval
        return approval

    @record_approval.validator
    def _validate_approval(self, approval: GovernmentApproval) -> None:
        require_role(approval.actor, Role.COORDINATOR)
        if self._stage is None or self._stage.kind is not StageKind.APPROVAL:
            raise rejected("尚未进入报批环节 (the cycle is not awaiting the government's approval)")
        if self._s.approval is not None:
            raise rejected("已记录批准文件 (approval already recorded)")
