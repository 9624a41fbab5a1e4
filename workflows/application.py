"""ApplicationWorkflow: one applicant's way through screening, expert review and on-site review."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotificationActivities
    from activities.records import RecordActivities
    from schemas.application import (
        EXTENSION_NEEDED,
        ActReceipt,
        ApplicationForm,
        ApplicationInput,
        ApplicationProgress,
        ApplicationResult,
        ApplicationState,
        ApplicationStatus,
        ApplicationView,
        Conclusion,
        DeadlineChange,
        DefenceScore,
        Document,
        ExpertLinkResend,
        ExpertScore,
        MaterialDecision,
        OnsiteFinding,
        Outcome,
        QualificationDecision,
        ScoringTask,
        StageOpening,
        SupplementSubmission,
        Withdrawal,
    )
    from schemas.common import SHANGHAI, Actor, Role
    from schemas.notification import MessageRequest, TaskLinkExpiry, TaskLinkRequest
    from schemas.programme import StageKind
    from workflows.common import (
        HolidayWait,
        SideEffects,
        cycle_now,
        deadline_after,
        rejected,
        require_role,
        wait_done_or_deadline,
    )
    from workflows.rules import aggregate, expert_total

# The signal name the cycle listens on; a string, since the cycle module imports this one.
PROGRESS_SIGNAL = "application_progress"


@workflow.defn
class ApplicationWorkflow:
    @workflow.init
    def __init__(self, input: ApplicationInput) -> None:
        self._input = input
        self._holidays = HolidayWait()
        self._rules = input.rules
        self._state = ApplicationState.WAITING
        self._stage: StageKind | None = None
        self._deadline: datetime | None = None
        self._openings: list[StageOpening] = []
        self._conclusion: Conclusion | None = None
        self._experts: list[str] = []
        self._scores: dict[str, ExpertScore] = {}
        self._score_revisions: dict[str, int] = {}
        self._qualification: QualificationDecision | None = None
        self._material: MaterialDecision | None = None
        self._supplement: SupplementSubmission | None = None
        self._supplied: list[Document] = []  # every supplement's documents, kept for the reviewers
        self._onsite: OnsiteFinding | None = None
        self._defence: DefenceScore | None = None
        self._expert_score: float | None = None
        self._outcome: Outcome | None = None
        self._reason = ""
        self._revision = 0
        self._effects = SideEffects()
        self._expert_emails: dict[str, str] = {}  # addresses a coordinator moved an expert's link to
        self._opened: set[StageKind] = set()
        self._sequence = 0

    @workflow.run
    async def run(self, input: ApplicationInput) -> ApplicationResult:
        self._post_to_applicant("received", "application_received", received_at=input.submitted_at.isoformat())
        while True:
            await workflow.wait_condition(lambda: bool(self._openings) or self._over())
            if self._conclusion is not None and self._outcome is None:
                self._finish(self._conclusion.outcome, self._conclusion.reason)
            if self._outcome is not None:
                break
            opening = self._openings.pop(0)
            self._stage, self._deadline = opening.stage, opening.deadline
            passed = await self._run_stage(opening)
            if not self._over():
                self._state = ApplicationState.WAITING
                await self._report(stage_passed=passed)
        self._state = ApplicationState.CONCLUDED
        await self._report()
        self._post_to_applicant("outcome", "application_outcome", outcome=self._outcome or Outcome.NOT_SELECTED)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._effects.drain()
        return ApplicationResult(
            application_id=input.application_id,
            outcome=self._outcome or Outcome.NOT_SELECTED,
            reason=self._reason,
            expert_score=self._expert_score,
            final_score=self._final_score(),
        )

    async def _run_stage(self, opening: StageOpening) -> bool:
        if self._input.direct:
            return True  # 省市直通: judged by the programme it comes from; notice and consultation still apply
        match opening.stage:
            case StageKind.QUALIFICATION:
                return await self._qualify()
            case StageKind.MATERIAL:
                return await self._review_materials()
            case StageKind.EXPERT_REVIEW:
                return await self._expert_review(opening.experts)
            case StageKind.ONSITE_REVIEW:
                return await self._onsite_review()
            case StageKind.ORAL_DEFENCE:
                return await self._oral_defence()
        raise ApplicationError(f"stage {opening.stage} is not an application stage", non_retryable=True)

    def _over(self) -> bool:
        return self._outcome is not None or self._conclusion is not None

    async def _qualify(self) -> bool:
        self._state = ApplicationState.QUALIFICATION
        await self._report()
        await workflow.wait_condition(lambda: self._qualification is not None or self._over())
        if self._qualification is None:
            return False
        unmet = [v.id for v in self._qualification.verdicts if not v.met]
        if unmet:
            texts = {c.id: c.text for c in self._rules.conditions}
            self._finish(Outcome.NOT_QUALIFIED, "不符合基本条件: " + "; ".join(texts[i] for i in unmet))
            return False
        return True

    async def _review_materials(self) -> bool:
        stage_deadline = self._deadline
        while True:
            self._deadline = stage_deadline
            self._state = ApplicationState.MATERIAL_REVIEW
            await self._report()
            await workflow.wait_condition(lambda: self._material is not None or self._over())
            if self._material is None:
                return False
            if self._material.conforming:
                return True
            self._state = ApplicationState.SUPPLEMENT_REQUESTED
            self._deadline = await deadline_after(
                cycle_now(self._input.clock), self._rules.supplement, self._input.calendar, self._holidays
            )
            await self._report()
            self._post_to_applicant(
                f"supplement-{self._revision}",
                "supplement_request",
                missing=self._material.missing,
                note=self._material.note,
                deadline=self._deadline.isoformat(),
            )
            delivered = await wait_done_or_deadline(
                self._input.clock,
                lambda: self._supplement is not None or self._over(),
                lambda: self._deadline_or_now(),
            )
            if not delivered or self._supplement is None:
                if self._outcome is None:
                    self._finish(Outcome.MATERIALS_INCOMPLETE, "补充材料逾期未提交 (supplement not delivered in time)")
                return False
            self._material, self._supplement = None, None

    async def _expert_review(self, experts: list[str]) -> bool:
        self._state = ApplicationState.EXPERT_REVIEW
        self._experts = experts
        await self._report()
        self._post_scoring_requests()
        # Scores may be revised until the deadline, so the review always runs to it.
        await wait_done_or_deadline(self._input.clock, self._over, self._deadline_or_now)
        scored = lambda: bool(self._scores) or self._over()  # noqa: E731
        while not scored():
            # No expert scored in time: the coordinator extends the stage, then the first score goes on; an
            # extension that lapses unscored too shows as awaiting the coordinator again.
            await self._report()
            await workflow.wait_condition(partial(self._scored_or_moved, self._deadline))
            await wait_done_or_deadline(self._input.clock, scored, self._deadline_or_now)
        if self._over():
            return False
        self._expert_score = aggregate([expert_total(s.scores) for s in self._scores.values()])
        if self._expert_score < self._rules.expert_review.pass_mark:
            self._finish(
                Outcome.LOW_SCORE,
                f"专家评审得分 {self._expert_score} 低于 {self._rules.expert_review.pass_mark}",
            )
            return False
        return True

    async def _onsite_review(self) -> bool:
        self._state = ApplicationState.ONSITE_REVIEW
        await self._report()
        await workflow.wait_condition(lambda: self._onsite is not None or self._over())
        if self._onsite is None:
            return False
        rules = self._rules.onsite_review
        if not self._onsite.passed or (rules is not None and self._onsite.score < rules.pass_mark):
            self._finish(Outcome.FAILED_ONSITE, f"现场评审未通过: {self._onsite.findings}")
            return False
        return True

    async def _oral_defence(self) -> bool:
        self._state = ApplicationState.ORAL_DEFENCE
        await self._report()
        await workflow.wait_condition(lambda: self._defence is not None or self._over())
        return self._defence is not None

    def _scored_or_moved(self, lapsed: datetime | None) -> bool:
        return bool(self._scores) or self._over() or self._deadline != lapsed

    def _unscored_past_deadline(self) -> bool:
        deadline = self._deadline
        return not self._scores and deadline is not None and cycle_now(self._input.clock) >= deadline

    def _deadline_or_now(self) -> datetime:
        return self._deadline or cycle_now(self._input.clock)

    def _final_score(self) -> float | None:
        """Weighted score over the parts recorded so far, so candidates can be ranked at every stage."""
        weights = self._rules.score_weights
        parts = [
            (weights.expert, self._expert_score),
            (weights.onsite, self._onsite.score if self._onsite else None),
            (weights.defence, self._defence.score if self._defence else None),
        ]
        present = [(w, s) for w, s in parts if s is not None and w > 0]
        if not present:
            return None
        return round(sum(w * s for w, s in present) / sum(w for w, _ in present), 2)

    def _mail_context(self) -> dict[str, object]:
        return {
            "programme": self._rules.programme_name_zh,
            "cycle": f"{self._input.submitted_at.astimezone(SHANGHAI).year}年度",
            "applicant": self._input.form.name,
            "application_id": self._input.application_id,
        }

    def _post_to_applicant(self, purpose: str, template: str, **context: object) -> None:
        request = MessageRequest(
            message_id=f"{self._input.application_id}/{purpose}",
            recipient_email=self._input.form.contact_email,
            template=template,
            context={**self._mail_context(), "reason": self._reason, **context},
        )
        self._effects.post(NotificationActivities.send_message, request)

    def _post_scoring_requests(self) -> None:
        """Each drawn expert gets a link to the scoring form of this application."""
        if self._deadline is None:
            return
        for expert_id in self._experts:
            self._post_scoring_request(expert_id, f"{self._input.application_id}/expert-{expert_id}")

    def _post_scoring_request(self, expert_id: str, message_id: str) -> None:
        assert self._deadline is not None, "expert review has a deadline"
        expert = next(e for e in self._rules.expert_review.pool if e.id == expert_id)
        request = TaskLinkRequest(
            message_id=message_id,
            task_id=self._input.application_id,
            task_kind="expert_review",
            recipient_id=expert_id,
            recipient_email=self._expert_emails.get(expert_id, expert.email),
            deadline=self._deadline,
            closes_at=self._input.clock.real_time(self._deadline),
            template="expert_scoring_request",
            context={
                **self._mail_context(),
                "expert": expert.name,
                "indicators": len(self._rules.rubric.indicators),
            },
        )
        self._effects.post(NotificationActivities.send_task_link, request)

    def _finish(self, outcome: Outcome, reason: str) -> None:
        self._outcome, self._reason = outcome, reason

    def _waiting_for(self) -> list[str]:
        match self._state:
            case ApplicationState.QUALIFICATION | ApplicationState.MATERIAL_REVIEW:
                return ["secretariat"]
            case ApplicationState.SUPPLEMENT_REQUESTED:
                return ["applicant"]
            case ApplicationState.EXPERT_REVIEW if self._unscored_past_deadline():
                return [EXTENSION_NEEDED]
            case ApplicationState.EXPERT_REVIEW:
                return [f"expert:{e}" for e in self._experts if e not in self._scores]
            case ApplicationState.ONSITE_REVIEW:
                return ["onsite_team"]
            case ApplicationState.ORAL_DEFENCE:
                return ["defence_panel"]
        return []

    async def _report(self, stage_passed: bool | None = None) -> None:
        """Every change goes to the read model; the cycle hears only of a finished stage or an outcome."""
        self._sequence += 1
        # In the background, so no act waits on the store; the sequence keeps a late write from undoing a newer one.
        self._effects.post(RecordActivities.record_application, self._view())
        told = self._conclusion is not None and self._outcome is self._conclusion.outcome
        if stage_passed is None and (self._outcome is None or told):
            return  # nothing the cycle waits for, or the cycle's own conclusion
        progress = ApplicationProgress(
            application_id=self._input.application_id,
            state=self._state,
            stage=self._stage,
            stage_passed=stage_passed,
            expert_score=self._expert_score,
            final_score=self._final_score(),
            outcome=self._outcome,
        )
        await workflow.get_external_workflow_handle(self._input.cycle_id).signal(PROGRESS_SIGNAL, progress)

    def _view(self) -> ApplicationView:
        return ApplicationView.received(
            self._input,
            self._sequence,
            state=self._state,
            stage=self._stage,
            deadline=self._deadline,
            waiting_for=self._waiting_for(),
            experts=self._experts,
            expert_score=self._expert_score,
            final_score=self._final_score(),
            outcome=self._outcome,
            reason=self._reason,
        )

    def _receipt(self, act: str, detail: str = "") -> ActReceipt:
        self._revision += 1
        return ActReceipt(
            workflow_id=workflow.info().workflow_id,
            act=act,
            revision=self._revision,
            accepted_at=cycle_now(self._input.clock),
            detail=detail,
        )

    def _require_state(self, *states: ApplicationState) -> None:
        if self._outcome is not None:
            raise rejected(f"申报已结束 (the application is closed: {self._outcome.value})")
        if self._state not in states:
            raise rejected(
                f"当前环节不受理此操作 (the application is in {self._state.value}, "
                f"this act needs {' or '.join(s.value for s in states)})"
            )

    def _require_before_deadline(self) -> None:
        if self._deadline is not None and cycle_now(self._input.clock) >= self._deadline:
            raise rejected(f"已过截止时间 (the deadline {self._deadline.isoformat()} has passed)")

    # Signals from the cycle.

    @workflow.signal
    def open_stage(self, opening: StageOpening) -> None:
        # Sent by a retried batch activity, so the same opening may come twice.
        if opening.stage not in self._opened:
            self._opened.add(opening.stage)
            self._openings.append(opening)

    @workflow.signal
    async def change_deadline(self, change: DeadlineChange) -> None:
        if change.stage is self._stage and self._state is not ApplicationState.SUPPLEMENT_REQUESTED:
            self._deadline = change.deadline
            if self._state is ApplicationState.EXPERT_REVIEW:
                # The experts' links keep working until the moved deadline.
                closes_at = self._input.clock.real_time(change.deadline)
                expiry = TaskLinkExpiry(task_id=self._input.application_id, closes_at=closes_at)
                self._effects.post(NotificationActivities.move_task_links, expiry)
            await self._report()  # the cycle's view of who is awaited changes with the deadline

    @workflow.signal
    def conclude(self, conclusion: Conclusion) -> None:
        self._conclusion = conclusion

    @workflow.query
    def form(self) -> ApplicationForm:
        return self._input.form

    @workflow.query
    def status(self) -> ApplicationStatus:
        onsite, defence = self._onsite, self._defence
        asked = self._material if self._state is ApplicationState.SUPPLEMENT_REQUESTED else None
        return ApplicationStatus(
            application_id=self._input.application_id,
            name=self._input.form.name,
            state=self._state,
            stage=self._stage,
            deadline=self._deadline,
            waiting_for=self._waiting_for(),
            experts=self._experts,
            scores={e: expert_total(s.scores) for e, s in self._scores.items()},
            expert_score=self._expert_score,
            onsite_score=onsite.score if onsite else None,
            defence_score=defence.score if defence else None,
            final_score=self._final_score(),
            outcome=self._outcome,
            reason=self._reason,
            documents=[*self._input.form.documents, *self._supplied],
            requested=asked.missing if asked else [],
            request_note=asked.note if asked else "",
            holidays_missing=self._holidays.year,
        )

    @workflow.query
    def scoring(self, expert_id: str) -> ScoringTask:
        form, score = self._input.form, self._scores.get(expert_id)
        return ScoringTask(
            application_id=self._input.application_id,
            programme_name_zh=self._rules.programme_name_zh,
            applicant_name=form.name,
            category=form.category,
            region=form.region,
            rubric=self._rules.rubric,
            deadline=self._deadline,
            open=self._state is ApplicationState.EXPERT_REVIEW
            and self._outcome is None
            and expert_id in self._experts
            and (self._deadline is None or cycle_now(self._input.clock) < self._deadline),
            scores=score.scores if score else {},
            comment=score.comment if score else "",
            revision=self._score_revisions.get(expert_id, 0),
        )

    # Human acts.

    @workflow.update
    async def decide_qualification(self, decision: QualificationDecision) -> ActReceipt:
        self._qualification = decision
        return self._receipt("decide_qualification")

    @decide_qualification.validator
    def _validate_qualification(self, decision: QualificationDecision) -> None:
        require_role(decision.actor, Role.SECRETARIAT, Role.COORDINATOR)
        self._require_state(ApplicationState.QUALIFICATION)
        expected = sorted(c.id for c in self._rules.conditions)
        given = sorted(v.id for v in decision.verdicts)
        if given != expected:
            raise rejected(f"须逐条确认基本条件 (verdicts must cover each condition once: {', '.join(expected)})")

    @workflow.update
    async def decide_materials(self, decision: MaterialDecision) -> ActReceipt:
        self._material = decision
        return self._receipt("decide_materials")

    @decide_materials.validator
    def _validate_materials(self, decision: MaterialDecision) -> None:
        require_role(decision.actor, Role.SECRETARIAT, Role.COORDINATOR)
        self._require_state(ApplicationState.MATERIAL_REVIEW)
        if not decision.conforming and not decision.missing:
            raise rejected("要求补充材料时须列明所缺材料 (name the missing material)")

    @workflow.update
    async def submit_supplement(self, submission: SupplementSubmission) -> ActReceipt:
        self._supplement = submission
        self._supplied.extend(submission.documents)
        return self._receipt("submit_supplement")

    @submit_supplement.validator
    def _validate_supplement(self, submission: SupplementSubmission) -> None:
        self._require_applicant(submission.actor)
        self._require_state(ApplicationState.SUPPLEMENT_REQUESTED)
        self._require_before_deadline()

    @workflow.update
    async def withdraw(self, withdrawal: Withdrawal) -> ActReceipt:
        self._finish(Outcome.WITHDRAWN, withdrawal.reason)
        return self._receipt("withdraw")

    @withdraw.validator
    def _validate_withdraw(self, withdrawal: Withdrawal) -> None:
        self._require_applicant(withdrawal.actor)
        if self._outcome is not None or self._conclusion is not None:
            raise rejected("申报已结束，无法撤回 (the application is already closed)")

    @workflow.update
    async def submit_score(self, score: ExpertScore) -> ActReceipt:
        expert = score.actor.identity
        self._scores[expert] = score
        self._score_revisions[expert] = self._score_revisions.get(expert, 0) + 1
        receipt = self._receipt("submit_score", f"total {expert_total(score.scores)}")
        await self._report()  # the cycle's list of experts still awaited shrinks
        return receipt.model_copy(update={"revision": self._score_revisions[expert]})

    @submit_score.validator
    def _validate_score(self, score: ExpertScore) -> None:
        require_role(score.actor, Role.EXPERT)
        self._require_state(ApplicationState.EXPERT_REVIEW)
        if score.actor.identity not in self._experts:
            raise rejected(f"专家 {score.actor.identity} 未被抽中评审此申报 (expert not assigned)")
        self._require_before_deadline()
        current = self._score_revisions.get(score.actor.identity, 0)
        if score.expected_revision is not None and score.expected_revision != current:
            raise rejected(f"评分已被修改 (stale revision {score.expected_revision}; current is {current})")
        indicators = {i.id: i for i in self._rules.rubric.indicators}
        missing = sorted(set(indicators) - set(score.scores))
        unknown = sorted(set(score.scores) - set(indicators))
        if missing or unknown:
            raise rejected(f"评分须覆盖全部指标 (missing: {missing}, unknown: {unknown})")
        for indicator_id, points in score.scores.items():
            top = indicators[indicator_id].points
            if not 0 <= points <= top:
                raise rejected(f"指标 {indicator_id} 得分 {points} 超出范围 0–{top} (score out of range)")

    @workflow.update
    async def resend_expert_link(self, resend: ExpertLinkResend) -> ActReceipt:
        if resend.email:
            self._expert_emails[resend.expert_id] = resend.email
        receipt = self._receipt("resend_expert_link", resend.expert_id)
        # The activity revokes the expert's earlier links to this application as it records the new one.
        self._post_scoring_request(
            resend.expert_id, f"{self._input.application_id}/expert-{resend.expert_id}-link-{receipt.revision}"
        )
        return receipt

    @resend_expert_link.validator
    def _validate_expert_link(self, resend: ExpertLinkResend) -> None:
        require_role(resend.actor, Role.COORDINATOR, Role.SECRETARIAT)
        self._require_state(ApplicationState.EXPERT_REVIEW)
        if resend.expert_id not in self._experts:
            raise rejected(f"专家 {resend.expert_id} 未被抽中评审此申报 (expert not assigned)")
        self._require_before_deadline()

    @workflow.update
    async def record_onsite(self, finding: OnsiteFinding) -> ActReceipt:
        self._onsite = finding
        return self._receipt("record_onsite", f"score {finding.score}")

    @record_onsite.validator
    def _validate_onsite(self, finding: OnsiteFinding) -> None:
        require_role(finding.actor, Role.ONSITE_TEAM)
        self._require_state(ApplicationState.ONSITE_REVIEW)
        self._require_score_in_range(finding.score)

    @workflow.update
    async def record_defence(self, defence: DefenceScore) -> ActReceipt:
        self._defence = defence
        return self._receipt("record_defence", f"score {defence.score}")

    @record_defence.validator
    def _validate_defence(self, defence: DefenceScore) -> None:
        require_role(defence.actor, Role.EXPERT, Role.COORDINATOR)
        self._require_state(ApplicationState.ORAL_DEFENCE)
        self._require_score_in_range(defence.score)

    def _require_score_in_range(self, score: float) -> None:
        top = self._rules.rubric.total_points
        if score > top:
            raise rejected(f"得分 {score} 超出范围 0–{top} (score out of range)")

    def _require_applicant(self, actor: Actor) -> None:
        require_role(actor, Role.APPLICANT, Role.COORDINATOR)
        if actor.role is Role.APPLICANT and actor.identity != self._input.form.contact_email:
            raise rejected("只有申报单位的联系邮箱可以代表申报人 (act as the applicant's contact email)")
