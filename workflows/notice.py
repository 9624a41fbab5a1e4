"""PublicNoticeWorkflow: the notice period (公示) in working days, objections, and their resolution."""

from __future__ import annotations

import re

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotificationActivities
    from schemas.application import ActReceipt
    from schemas.common import Role
    from schemas.notice import (
        NoticeInput,
        NoticeObjection,
        NoticeResult,
        NoticeStatus,
        ObjectionAck,
        ObjectionResolution,
        PublicObjection,
    )
    from schemas.notification import EMAIL_PATTERN, MessageRequest
    from workflows.common import SideEffects, cycle_now, rejected, require_role, sleep_until


@workflow.defn
class PublicNoticeWorkflow:
    @workflow.init
    def __init__(self, input: NoticeInput) -> None:
        self._input = input
        self._objections: list[NoticeObjection] = []
        self._open = True
        self._effects = SideEffects()

    @workflow.run
    async def run(self, input: NoticeInput) -> NoticeResult:
        await sleep_until(input.clock, input.ends_at, lambda: False)
        self._open = False
        await workflow.wait_condition(lambda: all(o.resolved for o in self._objections))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._effects.drain()
        dropped = sorted({o.application_id for o in self._objections if o.upheld})
        return NoticeResult(objections=self._objections, dropped=dropped)

    @workflow.query
    def status(self) -> NoticeStatus:
        return NoticeStatus(
            workflow_id=workflow.info().workflow_id,
            programme_name_zh=self._input.programme_name_zh,
            publisher_zh=self._input.publisher_zh,
            starts_at=self._input.starts_at,
            ends_at=self._input.ends_at,
            open=self._open,
            candidates=self._input.candidates,
            objections=self._objections,
            waiting_for=[f"coordinator:{o.objection_id}" for o in self._objections if not o.resolved],
        )

    @workflow.update
    async def lodge_objection(self, objection: PublicObjection) -> ObjectionAck:
        year = self._input.starts_at.year
        record = NoticeObjection(
            objection_id=f"GS{year}-{len(self._objections) + 1:04d}",
            application_id=objection.application_id,
            objector=objection.actor.identity,
            received_at=cycle_now(self._input.clock),
            reason=objection.reason,
        )
        self._objections.append(record)
        if re.fullmatch(EMAIL_PATTERN, objection.contact):
            self._post_receipt(record, objection.contact)
        return ObjectionAck(objection_id=record.objection_id, received_at=record.received_at)

    def _post_receipt(self, record: NoticeObjection, email: str) -> None:
        names = {c.application_id: c.name for c in self._input.candidates}
        context = {
            "programme": self._input.programme_name_zh,
            "objector": record.objector,
            "objection_id": record.objection_id,
            "received_at": record.received_at.isoformat(),
            "candidate": names[record.application_id],
        }
        message_id = f"{workflow.info().workflow_id}/objection-{record.objection_id}"
        request = MessageRequest(
            message_id=message_id, recipient_email=email, template="objection_received", context=context
        )
        self._effects.post(NotificationActivities.send_message, request)

    @lodge_objection.validator
    def _validate_objection(self, objection: PublicObjection) -> None:
        require_role(objection.actor, Role.PUBLIC, Role.COORDINATOR)
        if not self._open or cycle_now(self._input.clock) >= self._input.ends_at:
            raise rejected(f"公示期已结束 (the notice period ended at {self._input.ends_at.isoformat()})")
        if objection.application_id not in {c.application_id for c in self._input.candidates}:
            raise rejected(f"公示名单中没有 {objection.application_id} (not on the notice)")
        if not objection.reason.strip():
            raise rejected("异议须说明理由 (an objection needs a reason)")

    @workflow.update
    async def resolve_objection(self, resolution: ObjectionResolution) -> ActReceipt:
        index = next(i for i, o in enumerate(self._objections) if o.objection_id == resolution.objection_id)
        self._objections[index] = self._objections[index].model_copy(
            update={"resolved": True, "upheld": resolution.upheld, "resolution_reason": resolution.reason}
        )
        return ActReceipt(
            workflow_id=workflow.info().workflow_id,
            act="resolve_objection",
            revision=sum(o.resolved for o in self._objections),
            accepted_at=cycle_now(self._input.clock),
        )

    @resolve_objection.validator
    def _validate_resolution(self, resolution: ObjectionResolution) -> None:
        require_role(resolution.actor, Role.COORDINATOR)
        found = [o for o in self._objections if o.objection_id == resolution.objection_id]
        if not found:
            raise rejected(f"没有编号为 {resolution.objection_id} 的异议 (unknown objection)")
        if found[0].resolved:
            raise rejected(f"异议 {resolution.objection_id} 已处理 (already resolved)")
