"""TitleWorkflow: one title held for its validity period (动态管理): self-inspections, checks, revocation."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotificationActivities
    from activities.titles import TitleActivities
    from schemas.application import ActReceipt
    from schemas.common import Actor, Role
    from schemas.notification import MessageRequest
    from schemas.title import (
        KIND_ZH,
        Complaint,
        ComplaintRecord,
        Revocation,
        SpotCheck,
        SpotCheckRecord,
        TitleInput,
        TitleRecord,
        TitleResult,
        TitleState,
        TitleStatus,
        anniversaries,
    )
    from workflows.common import (
        SIDE_EFFECT_RETRY,
        SIDE_EFFECT_TIMEOUT,
        SideEffects,
        cycle_now,
        rejected,
        require_role,
        sleep_until,
    )


@workflow.defn
class TitleWorkflow:
    @workflow.init
    def __init__(self, input: TitleInput) -> None:
        self._input = input
        self._state = TitleState.ACTIVE
        self._ended_at: datetime | None = None
        self._revoked_by: Actor | None = None
        self._public_reason: str | None = None
        self._self_inspections = 0
        self._spot_checks: list[SpotCheckRecord] = []
        self._complaints: list[ComplaintRecord] = []
        self._revision = 0
        self._effects = SideEffects()

    @workflow.run
    async def run(self, input: TitleInput) -> TitleResult:
        await self._record()
        ended = lambda: self._state is not TitleState.ACTIVE  # noqa: E731
        for number, anniversary in enumerate(anniversaries(input.granted_at, input.expires_at), start=1):
            if anniversary <= cycle_now(input.clock):
                continue  # started late: a past year's request is not sent afterwards
            if not await sleep_until(input.clock, anniversary, ended):
                break
            if input.self_inspection:
                self._request_self_inspection(number)
        if not ended() and await sleep_until(input.clock, input.expires_at, ended):
            self._state, self._ended_at = TitleState.EXPIRED, input.expires_at
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._record()
        await self._effects.drain()
        assert self._ended_at is not None
        return TitleResult(title_id=workflow.info().workflow_id, state=self._state, ended_at=self._ended_at)

    async def _record(self) -> None:
        """Write the title's row as it stands; retried until the store takes it, however long that is."""
        holder = self._input.holder
        record = TitleRecord(
            title_id=workflow.info().workflow_id,
            holder_key=holder.key,
            programme_id=self._input.programme_id,
            cycle_id=self._input.cycle_id,
            year=self._input.year,
            name=holder.name,
            applicant_kind=holder.applicant_kind,
            credit_code=holder.credit_code,
            kind=self._input.kind,
            state=self._state,
            granted_at=self._input.granted_at,
            expires_at=self._input.expires_at,
            revoked_at=self._ended_at if self._state is TitleState.REVOKED else None,
            public_reason=self._public_reason,
        )
        await workflow.execute_activity_method(
            TitleActivities.record_title,
            record,
            start_to_close_timeout=SIDE_EFFECT_TIMEOUT,
            retry_policy=SIDE_EFFECT_RETRY,
        )

    def _request_self_inspection(self, number: int) -> None:
        self._self_inspections += 1
        context = {
            "title_id": workflow.info().workflow_id,
            "programme": self._input.programme_name_zh,
            "kind": self._input.kind.value,
            "kind_zh": KIND_ZH[self._input.kind],
            "holder": self._input.holder.name,
            "number": number,
            "granted_at": self._input.granted_at.isoformat(),
            "expires_at": self._input.expires_at.isoformat(),
        }
        request = MessageRequest(
            message_id=f"{workflow.info().workflow_id}/self-inspection-{number}",
            recipient_email=self._input.holder.contact_email,
            template="title_self_inspection",
            context=context,
        )
        self._effects.post(NotificationActivities.send_message, request)

    def _receipt(self, act: str) -> ActReceipt:
        return ActReceipt(
            workflow_id=workflow.info().workflow_id,
            act=act,
            revision=self._revision,
            accepted_at=cycle_now(self._input.clock),
        )

    def _require_active(self) -> None:
        if self._state is TitleState.REVOKED:
            raise rejected("称号已撤销 (the title has been revoked)")
        if self._state is TitleState.EXPIRED or cycle_now(self._input.clock) >= self._input.expires_at:
            raise rejected(f"称号已到期 (the title expired at {self._input.expires_at.isoformat()})")

    @workflow.query
    def status(self) -> TitleStatus:
        return TitleStatus(
            title_id=workflow.info().workflow_id,
            programme_id=self._input.programme_id,
            kind=self._input.kind,
            holder=self._input.holder,
            state=self._state,
            granted_at=self._input.granted_at,
            expires_at=self._input.expires_at,
            self_inspections_requested=self._self_inspections,
            spot_checks=self._spot_checks,
            complaints=self._complaints,
            revoked_at=self._ended_at if self._state is TitleState.REVOKED else None,
            revoked_by=self._revoked_by,
            public_reason=self._public_reason,
        )

    @workflow.update
    async def record_spot_check(self, check: SpotCheck) -> ActReceipt:
        self._spot_checks.append(
            SpotCheckRecord(
                number=len(self._spot_checks) + 1,
                recorded_at=cycle_now(self._input.clock),
                actor=check.actor,
                finding=check.finding,
                passed=check.passed,
            )
        )
        self._revision += 1
        return self._receipt("record_spot_check")

    @record_spot_check.validator
    def _validate_spot_check(self, check: SpotCheck) -> None:
        require_role(check.actor, Role.SECRETARIAT, Role.COORDINATOR)
        self._require_active()

    @workflow.update
    async def record_complaint(self, complaint: Complaint) -> ActReceipt:
        self._complaints.append(
            ComplaintRecord(
                number=len(self._complaints) + 1,
                recorded_at=cycle_now(self._input.clock),
                actor=complaint.actor,
                subject=complaint.subject,
                detail=complaint.detail,
                complainant=complaint.complainant,
            )
        )
        self._revision += 1
        return self._receipt("record_complaint")

    @record_complaint.validator
    def _validate_complaint(self, complaint: Complaint) -> None:
        require_role(complaint.actor, Role.COORDINATOR, Role.SECRETARIAT)
        self._require_active()

    @workflow.update
    async def revoke_title(self, revocation: Revocation) -> ActReceipt:
        """The run wakes, writes the revoked row and ends the title."""
        self._state, self._ended_at = TitleState.REVOKED, cycle_now(self._input.clock)
        self._revoked_by, self._public_reason = revocation.actor, revocation.public_reason.strip()
        self._revision += 1
        return self._receipt("revoke_title")

    @revoke_title.validator
    def _validate_revocation(self, revocation: Revocation) -> None:
        require_role(revocation.actor, Role.COORDINATOR)
        self._require_active()
        if not revocation.public_reason.strip():
            raise rejected("撤销称号须说明公开理由 (a revocation needs a public reason)")
