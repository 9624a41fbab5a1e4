"""ConsultationWorkflow: one department's opinion on the shortlist; deadline, reminders, overdue policy."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotificationActivities
    from schemas.application import ActReceipt
    from schemas.common import Actor, Channel, Role
    from schemas.consultation import (
        CandidateOpinion,
        ConsultationAnswer,
        ConsultationInput,
        ConsultationResult,
        ConsultationStatus,
        LinkResend,
        ObjectionDecision,
        ObjectionRecord,
        Opinion,
        OverdueAction,
        OverdueResolution,
    )
    from schemas.notification import MessageRequest, TaskLinkExpiry, TaskLinkRequest
    from schemas.programme import DayUnit, Duration, OverduePolicy
    from workflows.common import (
        HolidayWait,
        SideEffects,
        cycle_now,
        deadline_after,
        rejected,
        reminders_before,
        require_role,
        side_effect,
        sleep_until,
        wait_done_or_deadline,
    )

POLICY_ACTOR = Actor(role=Role.SYSTEM, identity="overdue-policy", channel=Channel.POLICY)


@workflow.defn
class ConsultationWorkflow:
    @workflow.init
    def __init__(self, input: ConsultationInput) -> None:
        self._input = input
        self._holidays = HolidayWait()
        self._deadline = input.deadline
        self._answers: list[CandidateOpinion] = []
        self._answered_by: Actor | None = None
        self._revision = 0
        self._closed = False
        self._overdue = False
        self._resolution: OverdueResolution | None = None
        self._objections: dict[str, ObjectionRecord] = {}
        self._email = input.department.email
        self._links_sent = 1
        self._effects = SideEffects()

    @workflow.run
    async def run(self, input: ConsultationInput) -> ConsultationResult:
        workflow_id = workflow.info().workflow_id
        await self._send_link(f"{workflow_id}/request", "consultation_request")
        await self._remind(workflow_id)
        # Answers may be revised until the deadline, so the consultation always runs to it.
        await wait_done_or_deadline(input.clock, lambda: False, lambda: self._deadline)
        while not self._answers:
            self._overdue = True
            if input.overdue_policy is OverduePolicy.DEEMED_NO_OBJECTION:
                self._record_answers(POLICY_ACTOR, self._no_objection())
                break
            await self._escalate(workflow_id)
        self._closed = True
        self._objections = {
            a.application_id: ObjectionRecord(application_id=a.application_id, reason=a.reason)
            for a in self._answers
            if a.opinion is Opinion.OBJECTION
        }
        await workflow.wait_condition(lambda: all(o.decided for o in self._objections.values()))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._effects.drain()
        return ConsultationResult(
            department_id=input.department.id,
            answered_by=self._answered_by,
            answers=self._answers,
            dropped=[o.application_id for o in self._objections.values() if o.keep is False],
        )

    async def _remind(self, workflow_id: str) -> None:
        """Each reminder before the deadline as it stands: a moved deadline gets its own. Sent in the background,
        so a mail outage that holds one up delays none of the others."""
        clock, deadline, instants, moves = self._input.clock, self._deadline, self._input.reminders, 0
        while True:
            moved = lambda before=deadline: bool(self._answers) or self._deadline != before  # noqa: E731
            due = [(n, i) for n, i in enumerate(instants, start=1) if cycle_now(clock) < i < deadline]
            for number, instant in due:
                if not await sleep_until(clock, instant, moved):
                    break
                suffix = f"-{moves}" if moves else ""
                self._post_message(f"{workflow_id}/reminder-{number}{suffix}", "consultation_reminder")
            else:
                if await sleep_until(clock, deadline, moved):
                    return  # the deadline came, and stayed where it was
            if self._answers or not self._input.reminder_days:
                return
            deadline, moves = self._deadline, moves + 1
            instants = await reminders_before(deadline, self._input.reminder_days, self._input.calendar, self._holidays)

    async def _escalate(self, workflow_id: str) -> None:
        """The department missed the deadline: ask the coordinator, then act on the decision."""
        self._resolution = None
        await self._send(f"{workflow_id}/overdue-{self._revision}-{len(self._answers)}", "consultation_overdue", None)
        await workflow.wait_condition(lambda: self._resolution is not None or bool(self._answers))
        resolution = self._resolution
        if self._answers or resolution is None:
            return
        if resolution.action is OverdueAction.DEEM_NO_OBJECTION:
            self._record_answers(resolution.actor, self._no_objection())
            return
        self._deadline = await deadline_after(
            cycle_now(self._input.clock),
            Duration(days=resolution.working_days, unit=DayUnit.WORKING),
            self._input.calendar,
            self._holidays,
        )
        self._move_links()
        await wait_done_or_deadline(self._input.clock, lambda: False, lambda: self._deadline)

    def _no_objection(self) -> list[CandidateOpinion]:
        return [
            CandidateOpinion(application_id=c.application_id, opinion=Opinion.NO_OBJECTION)
            for c in self._input.candidates
        ]

    def _record_answers(self, actor: Actor, answers: list[CandidateOpinion]) -> None:
        self._answers, self._answered_by = answers, actor
        self._revision += 1

    def _department_email(self) -> str:
        return self._email

    def _post_message(self, message_id: str, template: str) -> None:
        request = MessageRequest(
            message_id=message_id, recipient_email=self._department_email(), template=template, context=self._context()
        )
        self._effects.post(NotificationActivities.send_message, request)

    def _context(self) -> dict[str, object]:
        return {
            "programme": self._input.programme_name_zh,
            "cycle": self._input.cycle_name_zh,
            "department": self._input.department.name_zh,
            "deadline": self._deadline.isoformat(),
            "candidates": [c.model_dump(mode="json") for c in self._input.candidates],
        }

    def _link_request(self, message_id: str, template: str) -> TaskLinkRequest:
        return TaskLinkRequest(
            message_id=message_id,
            task_id=workflow.info().workflow_id,
            task_kind="consultation",
            recipient_id=self._input.department.id,
            recipient_email=self._email,
            deadline=self._deadline,
            closes_at=self._input.clock.real_time(self._deadline),
            template=template,
            context=self._context(),
        )

    async def _send_link(self, message_id: str, template: str) -> None:
        await side_effect(NotificationActivities.send_task_link, self._link_request(message_id, template))

    def _post_receipt(self, answer: ConsultationAnswer) -> None:
        names = {c.application_id: c.name for c in self._input.candidates}
        context = {
            **self._context(),
            "revision": self._revision,
            "accepted_at": cycle_now(self._input.clock).isoformat(),
            "channel": answer.actor.channel.value,
            "answers": [
                {"name": names[a.application_id], "opinion": a.opinion.value, "reason": a.reason}
                for a in answer.answers
            ],
        }
        message_id = f"{workflow.info().workflow_id}/receipt-{self._revision}"
        request = MessageRequest(
            message_id=message_id, recipient_email=self._email, template="consultation_receipt", context=context
        )
        self._effects.post(NotificationActivities.send_message, request)

    async def _send(self, message_id: str, template: str, recipient_email: str | None) -> None:
        request = MessageRequest(
            message_id=message_id, recipient_email=recipient_email, template=template, context=self._context()
        )
        await side_effect(NotificationActivities.send_message, request)

    def _receipt(self, act: str) -> ActReceipt:
        return ActReceipt(
            workflow_id=workflow.info().workflow_id,
            act=act,
            revision=self._revision,
            accepted_at=cycle_now(self._input.clock),
        )

    @workflow.query
    def status(self) -> ConsultationStatus:
        waiting: list[str] = []
        if not self._closed and not self._answers:
            waiting = ["coordinator"] if self._overdue and self._resolution is None else ["department"]
        waiting += [f"coordinator:{o.application_id}" for o in self._objections.values() if not o.decided]
        return ConsultationStatus(
            workflow_id=workflow.info().workflow_id,
            department_id=self._input.department.id,
            department_name_zh=self._input.department.name_zh,
            deadline=self._deadline,
            answered=bool(self._answers),
            overdue=self._overdue,
            revision=self._revision,
            answers=self._answers,
            answered_by=self._answered_by,
            objections=list(self._objections.values()),
            waiting_for=waiting,
            recipient_email=self._email,
            holidays_missing=self._holidays.year,
        )

    @workflow.query
    def task(self) -> ConsultationInput:
        """What the department is asked, with the deadline as it stands now."""
        return self._input.model_copy(update={"deadline": self._deadline})

    @workflow.update
    async def answer(self, answer: ConsultationAnswer) -> ActReceipt:
        self._record_answers(answer.actor, answer.answers)
        self._post_receipt(answer)
        return self._receipt("answer")

    @answer.validator
    def _validate_answer(self, answer: ConsultationAnswer) -> None:
        actor = answer.actor
        on_paper = actor.role is Role.COORDINATOR and actor.channel is Channel.PAPER
        if not on_paper:
            require_role(actor, Role.DEPARTMENT)
            if actor.identity != self._input.department.id:
                raise rejected(f"此任务属于{self._input.department.name_zh} (this task is not for {actor.identity})")
        if self._closed or cycle_now(self._input.clock) >= self._deadline:
            raise rejected(f"征求意见已截止 (the consultation closed at {self._deadline.isoformat()})")
        if answer.expected_revision is not None and answer.expected_revision != self._revision:
            raise rejected(f"意见已被修改 (stale revision {answer.expected_revision}; current is {self._revision})")
        expected = sorted(c.application_id for c in self._input.candidates)
        if sorted(a.application_id for a in answer.answers) != expected:
            raise rejected("须对每位候选对象各答复一次 (answer each candidate exactly once)")
        if any(a.opinion is Opinion.OBJECTION and not a.reason.strip() for a in answer.answers):
            raise rejected("提出异议须说明理由 (an objection needs a reason)")

    @workflow.update
    async def resend_link(self, resend: LinkResend) -> ActReceipt:
        self._email = resend.email or self._email
        self._links_sent += 1
        message_id = f"{workflow.info().workflow_id}/link-{self._links_sent}"
        # The activity revokes the task's earlier links as it records the new one.
        self._effects.post(
            NotificationActivities.send_task_link, self._link_request(message_id, "consultation_request")
        )
        return self._receipt("resend_link")

    @resend_link.validator
    def _validate_resend(self, resend: LinkResend) -> None:
        require_role(resend.actor, Role.COORDINATOR)
        if self._closed:
            raise rejected("征求意见已结束，无需重发链接 (the consultation is closed)")

    @workflow.update
    async def decide_objection(self, decision: ObjectionDecision) -> ActReceipt:
        record = self._objections[decision.application_id]
        self._objections[decision.application_id] = record.model_copy(
            update={"decided": True, "keep": decision.keep, "decision_reason": decision.reason}
        )
        self._revision += 1
        return self._receipt("decide_objection")

    @decide_objection.validator
    def _validate_objection_decision(self, decision: ObjectionDecision) -> None:
        require_role(decision.actor, Role.COORDINATOR)
        record = self._objections.get(decision.application_id)
        if record is None:
            raise rejected(f"{decision.application_id} 没有待处理的异议 (no objection awaits a decision)")
        if record.decided:
            raise rejected(f"{decision.application_id} 的异议已处理 (already decided)")

    @workflow.update
    async def resolve_overdue(self, resolution: OverdueResolution) -> ActReceipt:
        self._resolution = resolution
        return self._receipt("resolve_overdue")

    @resolve_overdue.validator
    def _validate_overdue(self, resolution: OverdueResolution) -> None:
        require_role(resolution.actor, Role.COORDINATOR)
        if not self._overdue or self._answers or self._resolution is not None:
            raise rejected("该部门没有逾期待处理的任务 (nothing overdue to resolve)")
        if resolution.action is OverdueAction.EXTEND and resolution.working_days < 1:
            raise rejected("延期须至少一个工作日 (an extension needs at least one working day)")

    @workflow.signal
    def extend(self, new_deadline: datetime) -> None:
        """The coordinator extended the consultation stage of the cycle."""
        if not self._closed:
            self._deadline = max(self._deadline, new_deadline)
            self._move_links()

    def _move_links(self) -> None:
        """The department's link keeps working until the moved deadline."""
        closes_at = self._input.clock.real_time(self._deadline)
        expiry = TaskLinkExpiry(task_id=workflow.info().workflow_id, closes_at=closes_at)
        self._effects.post(NotificationActivities.move_task_links, expiry)
