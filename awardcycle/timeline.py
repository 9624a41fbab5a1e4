"""An audit timeline decoded from a workflow's own history, not from the SQL read model.

Every entry is one event that matters to a reader: the start, stage changes, deadlines set and
moved, each human act (an Update) with its actor and content, signals, mail, children, timers and
the result. Decoding is table-driven: one small function per history event kind.

A workflow that continues as new has a chain of runs under one id, each with its own history; the
timeline decodes them all, first run first, and marks each hand-over from one run to the next.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import RetryState
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from activities.chain import runs_before
from awardcycle.service import RefusalKind, Refused
from schemas.common import SHANGHAI, Actor

Content = dict[str, Any] | list[Any] | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    summary: str
    actor: Actor | None = None
    content: Content = None
    run: int = 0  # the run of the workflow id's chain it happened in, 0 for the first
    act: str | None = None  # the Update or signal's name, for the auditor's filter by act


class Timeline(BaseModel):
    workflow_id: str
    workflow_type: str
    entries: list[TimelineEntry]
    result: dict[str, Any] | None = None
    status: str = "running"  # of the latest run
    runs: int = 1


# --- payloads -------------------------------------------------------------------------------


def decode(payloads: Sequence[Payload]) -> Any:
    """Plain JSON values: without type hints the converter gives dicts, lists, strings and numbers."""
    values = pydantic_data_converter.payload_converter.from_payloads(list(payloads))
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def as_content(value: Any) -> Content:
    if value is None or isinstance(value, dict | list):
        return value
    return {"value": value}


def as_actor(value: Any) -> Actor | None:
    if not isinstance(value, dict):
        return None
    try:
        return Actor.model_validate(value)
    except ValidationError:
        return None


def brief(value: Any, limit: int = 160, skip: tuple[str, ...] = ()) -> str:
    """`k=v` for the scalar fields of a dict, `k[n]` for its lists: a one-line hint, not the content."""
    if not isinstance(value, dict):
        return "" if value is None else str(value)[:limit]
    parts: list[str] = []
    for key, item in value.items():
        if key in skip:
            continue
        if isinstance(item, list):
            parts.append(f"{key}[{len(item)}]")
        elif isinstance(item, str | int | float | bool) and item != "":
            parts.append(f"{key}={item}")
    text = " ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _get(value: Any, *path: str) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


# --- workflow inputs: a summary, never the whole input ---------------------------------------


def _pick(value: Any, **paths: tuple[str, ...]) -> dict[str, Any]:
    return {name: _get(value, *path) for name, path in paths.items()}


def _count(value: Any, key: str) -> int:
    items = _get(value, key)
    return len(items) if isinstance(items, list) else 0


StartSummary = Callable[[Any], tuple[str, dict[str, Any]]]

STARTS: dict[str, StartSummary] = {
    "AwardCycleWorkflow": lambda i: (
        f"周期开始 cycle started: {_get(i, 'programme', 'id')} {_get(i, 'year')}",
        _pick(
            i,
            programme_id=("programme", "id"),
            programme_name_zh=("programme", "name_zh"),
            year=("year",),
            day_seconds=("day_seconds",),
        ),
    ),
    "ApplicationWorkflow": lambda i: (
        f"申报 application: {_get(i, 'form', 'name')}",
        _pick(
            i,
            cycle_id=("cycle_id",),
            applicant=("form", "name"),
            applicant_kind=("form", "applicant_kind"),
            category=("form", "category"),
            region=("form", "region"),
        ),
    ),
    "ConsultationWorkflow": lambda i: (
        f"征求意见 consultation: {_get(i, 'department', 'name_zh')} ({_get(i, 'department', 'id')}), "
        f"{_count(i, 'candidates')} candidates, deadline {_get(i, 'deadline')}",
        {
            **_pick(i, cycle_id=("cycle_id",), department_id=("department", "id")),
            **_pick(i, department_name_zh=("department", "name_zh"), deadline=("deadline",)),
            "candidates": _count(i, "candidates"),
        },
    ),
    "PublicNoticeWorkflow": lambda i: (
        f"公示 public notice: {_get(i, 'starts_at')} – {_get(i, 'ends_at')}, {_count(i, 'candidates')} candidates",
        {
            **_pick(i, cycle_id=("cycle_id",), starts_at=("starts_at",), ends_at=("ends_at",)),
            "candidates": _count(i, "candidates"),
        },
    ),
}


# --- activities: (kind, summary, content) from the scheduled input and the result -------------

ActivitySummary = Callable[[Any, Any], tuple[str, str, Content]]


def _mail(request: Any, result: Any) -> tuple[str, str, Content]:
    content = _pick(
        request,
        message_id=("message_id",),
        template=("template",),
        recipient_id=("recipient_id",),
        recipient_email=("recipient_email",),
        deadline=("deadline",),
    )
    content = {k: v for k, v in content.items() if v is not None} | {"sent": _get(result, "sent")}
    to = content.get("recipient_email") or "the coordinator"
    return "mail", f"邮件已发 mail sent: {content.get('message_id')} ({content.get('template')}) to {to}", content


ACTIVITIES: dict[str, ActivitySummary] = {
    "compute_deadline": lambda req, res: (
        "deadline",
        f"截止时间 deadline set: {_get(res, 'deadline')}",
        {
            "start": _get(req, "start"),
            "duration": _get(req, "duration"),
            "deadline": _get(res, "deadline"),
        },
    ),
    "reminder_instants": lambda req, res: (
        "reminders",
        f"提醒时间 reminders set: {', '.join(_get(res, 'instants') or []) or 'none'} (before {_get(req, 'deadline')})",
        {"deadline": _get(req, "deadline"), "instants": _get(res, "instants")},
    ),
    "send_task_link": _mail,
    "send_message": _mail,
}


def _opinions(content: Any) -> str:
    answers = _get(content, "answers") or []
    objections = [a for a in answers if _get(a, "opinion") == "objection"]
    listed = "; ".join(f"{_get(a, 'application_id')}: {_get(a, 'reason')}" for a in objections)
    return f"{len(answers)} opinions, {len(objections)} objections" + (f" ({listed})" if listed else "")


# Updates whose generic one-line hint would hide what matters.
UPDATES: dict[str, Callable[[Any], str]] = {
    "answer": _opinions,
    "submit_score": lambda c: f"{len(_get(c, 'scores') or {})} item scores {brief(c, skip=('scores',))}".strip(),
}


# --- the decoder -----------------------------------------------------------------------------


@dataclass
class _State:
    workflow_id: str
    workflow_type: str = ""
    run: int = 0
    event_id: int = 0
    activities: dict[int, tuple[str, Any]] = field(default_factory=dict)
    updates: dict[str, tuple[str, Actor | None]] = field(default_factory=dict)
    timers: dict[str, float] = field(default_factory=dict)
    stage: Any = None
    result: dict[str, Any] | None = None
    status: str = "running"

    def next_run(self, run: int) -> None:
        """Event ids, update ids and timer ids are per run; the stage carries on, so a run that re-records
        the stage it continues in is no stage change."""
        self.run, self.result, self.status = run, None, "running"
        self.activities, self.updates, self.timers = {}, {}, {}


# (kind, summary, actor, content) and, for an Update or a signal, its name.
Decoded = tuple[str, str, Actor | None, Content] | tuple[str, str, Actor | None, Content, str] | None
Decoder = Callable[[_State, Any], Decoded]


def _started(state: _State, a: Any) -> Decoded:
    state.workflow_type = a.workflow_type.name
    previous = a.continued_execution_run_id
    if previous:
        # A later run of the chain: the workflow carries on, it does not start again.
        return "run_started", f"续跑 next run started, continuing run {previous}", None, {"continues": previous}
    value = decode(a.input.payloads)
    summary, content = STARTS.get(state.workflow_type, lambda _: (f"started {state.workflow_type}", {}))(value)
    return "started", summary, None, content or None


def _update_accepted(state: _State, a: Any) -> Decoded:
    name = a.accepted_request.input.name
    arg = decode(a.accepted_request.input.args.payloads)
    actor = as_actor(_get(arg, "actor"))
    state.updates[a.protocol_instance_id] = (name, actor)
    content = {k: v for k, v in arg.items() if k != "actor"} if isinstance(arg, dict) else as_content(arg)
    return "update", f"{name}: {UPDATES.get(name, brief)(content)}".rstrip(": "), actor, content, name


def _update_completed(state: _State, a: Any) -> Decoded:
    # The outcome carries the act's actor, so filtering by who acted keeps each act with its outcome.
    name, actor = state.updates.get(a.meta.update_id, (a.meta.update_id, None))
    if a.outcome.HasField("failure"):
        message = a.outcome.failure.message
        return "update_failed", f"{name} failed: {message}", actor, {"failure": message}, name
    result = decode(a.outcome.success.payloads)
    summary = f"{name} done: {brief(result, skip=('workflow_id', 'act'))}".rstrip(": ")
    return "update_completed", summary, actor, as_content(result), name


def _signaled(state: _State, a: Any) -> Decoded:
    value = decode(a.input.payloads)
    summary = f"{a.signal_name}: {brief(value)}".rstrip(": ")
    return "signal", summary, as_actor(_get(value, "actor")), as_content(value), a.signal_name


def _activity_scheduled(state: _State, a: Any) -> Decoded:
    state.activities[state.event_id] = (a.activity_type.name, a.input.payloads)
    return None


def _activity_completed(state: _State, a: Any) -> Decoded:
    name, payloads = state.activities.get(a.scheduled_event_id, ("", []))
    if name == "record_cycle":
        # The cycle reports each stage to the read model as it enters it: that is the stage change.
        stage = _get(decode(payloads), "stage")
        if stage == state.stage or stage is None:
            return None
        state.stage = stage
        return "stage", f"进入阶段 stage: {stage}", None, {"stage": stage}
    summarise = ACTIVITIES.get(name)
    if summarise is None:
        return None
    kind, summary, content = summarise(decode(payloads), decode(a.result.payloads))
    return kind, summary, None, content


def _activity_failed(state: _State, a: Any) -> Decoded:
    name, _ = state.activities.get(a.scheduled_event_id, ("?", []))
    message = a.failure.message or RetryState.Name(a.retry_state)
    return "activity_failed", f"{name} failed: {message}", None, {"activity": name, "failure": message}


def _child_started(state: _State, a: Any) -> Decoded:
    child = a.workflow_execution.workflow_id
    return "child_started", f"子流程 child started: {a.workflow_type.name} {child}", None, {"workflow_id": child}


def _child_completed(state: _State, a: Any) -> Decoded:
    child = a.workflow_execution.workflow_id
    result = decode(a.result.payloads)
    return (
        "child_completed",
        f"子流程结束 child completed: {child}: {brief(result)}".rstrip(": "),
        None,
        as_content(result),
    )


def _child_ended(kind: str) -> Decoder:
    def decoder(state: _State, a: Any) -> Decoded:
        child = a.workflow_execution.workflow_id
        failure = a.failure.message if kind == "failed" else kind
        return f"child_{kind}", f"child {kind}: {child}: {failure}", None, {"workflow_id": child, "failure": failure}

    return decoder


def _timer_started(state: _State, a: Any) -> Decoded:
    state.timers[a.timer_id] = a.start_to_fire_timeout.ToTimedelta().total_seconds()
    return None


def _timer_fired(state: _State, a: Any) -> Decoded:
    seconds = state.timers.get(a.timer_id)
    after = f" after {seconds / 86400:.2f} days" if seconds is not None else ""
    return "timer_fired", f"定时到达 timer {a.timer_id} fired{after}", None, None


def _completed(state: _State, a: Any) -> Decoded:
    result = decode(a.result.payloads)
    state.status = "completed"
    state.result = result if isinstance(result, dict) else {"value": result}
    # A consultation's result names who answered; for an overdue policy that is the only record of the act.
    actor = as_actor(_get(result, "answered_by"))
    return "completed", f"结束 completed: {brief(result)}".rstrip(": "), actor, as_content(result)


def _continued_as_new(state: _State, a: Any) -> Decoded:
    # Not an ending: the next run of the chain carries on with this input (its "run_started" entry follows).
    state.status = "continued_as_new"
    content = {"next_run": a.new_execution_run_id} if a.new_execution_run_id else None
    return "continued_as_new", "续跑 continued as new: the next run carries on", None, content


def _closed(status: str) -> Decoder:
    def decoder(state: _State, a: Any) -> Decoded:
        state.status = status
        failure = getattr(a, "failure", None)
        reason = failure.message if failure is not None and failure.message else getattr(a, "reason", "") or status
        return status, f"{status}: {reason}", None, {"reason": reason}

    return decoder


DECODERS: dict[str, Decoder] = {
    "workflow_execution_started_event_attributes": _started,
    "workflow_execution_update_accepted_event_attributes": _update_accepted,
    "workflow_execution_update_completed_event_attributes": _update_completed,
    "workflow_execution_signaled_event_attributes": _signaled,
    "activity_task_scheduled_event_attributes": _activity_scheduled,
    "activity_task_completed_event_attributes": _activity_completed,
    "activity_task_failed_event_attributes": _activity_failed,
    "activity_task_timed_out_event_attributes": _activity_failed,
    "child_workflow_execution_started_event_attributes": _child_started,
    "child_workflow_execution_completed_event_attributes": _child_completed,
    "child_workflow_execution_failed_event_attributes": _child_ended("failed"),
    "child_workflow_execution_canceled_event_attributes": _child_ended("canceled"),
    "child_workflow_execution_terminated_event_attributes": _child_ended("terminated"),
    "child_workflow_execution_timed_out_event_attributes": _child_ended("timed_out"),
    "timer_started_event_attributes": _timer_started,
    "timer_fired_event_attributes": _timer_fired,
    "workflow_execution_completed_event_attributes": _completed,
    "workflow_execution_failed_event_attributes": _closed("failed"),
    "workflow_execution_terminated_event_attributes": _closed("terminated"),
    "workflow_execution_canceled_event_attributes": _closed("canceled"),
    "workflow_execution_timed_out_event_attributes": _closed("timed_out"),
    "workflow_execution_continued_as_new_event_attributes": _continued_as_new,
}


def build_timeline(*runs: WorkflowHistory) -> Timeline:
    """The timeline of one run, or of a workflow id's chain of runs given first run first.

    The entries of every run, in order; the status and result are those of the last run.
    """
    if not runs:
        raise ValueError("a timeline needs the history of at least one run")
    state = _State(workflow_id=runs[0].workflow_id)
    entries: list[TimelineEntry] = []
    for run, history in enumerate(runs):
        state.next_run(run)
        entries += _run_entries(state, history)
    return Timeline(
        workflow_id=state.workflow_id,
        workflow_type=state.workflow_type,
        entries=entries,
        result=state.result,
        status=state.status,
        runs=len(runs),
    )


def _run_entries(state: _State, history: WorkflowHistory) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for event in history.events:
        attributes = event.WhichOneof("attributes")
        decoder = DECODERS.get(attributes or "")
        if decoder is None:
            continue
        state.event_id = event.event_id
        decoded = decoder(state, getattr(event, attributes or ""))
        if decoded is not None:
            kind, summary, actor, content, *act = decoded
            at = event.event_time.ToDatetime(tzinfo=UTC)
            entries.append(
                TimelineEntry(
                    at=at,
                    kind=kind,
                    summary=summary,
                    actor=actor,
                    content=content,
                    run=state.run,
                    act=act[0] if act else None,
                )
            )
    return entries


async def fetch_timeline(client: Client, workflow_id: str) -> Timeline:
    """The timeline of every run of a workflow, first run first; `Refused` (not found) if Temporal has none."""
    try:
        latest = await client.get_workflow_handle(workflow_id).fetch_history()
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
        raise Refused(f"未找到 (no workflow has the id {workflow_id!r})", RefusalKind.NOT_FOUND) from error
    # The latest run's history holds only what happened since the last continue-as-new.
    return build_timeline(*await runs_before(client, latest), latest)


# --- rendering -------------------------------------------------------------------------------


def local_time(at: datetime) -> str:
    return f"{at.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}"


def actor_label(actor: Actor | None) -> str:
    if actor is None:
        return "-"
    behind = f" (by {actor.principal})" if actor.principal else ""  # the signed-in user who recorded it
    return f"{actor.role.value}:{actor.identity} via {actor.channel.value}{behind}"


def content_json(content: Content) -> str:
    return json.dumps(content, ensure_ascii=False, sort_keys=False)


def render_text(timeline: Timeline) -> str:
    """One line per entry (time in Asia/Shanghai, kind, actor, summary), the content indented below."""
    runs = f", {timeline.runs} runs" if timeline.runs > 1 else ""
    lines = [f"{timeline.workflow_id} ({timeline.workflow_type}) — {timeline.status}{runs}", ""]
    for entry in timeline.entries:
        lines.append(f"{local_time(entry.at)}  {entry.kind:<16}  {actor_label(entry.actor)}  {entry.summary}")
        if entry.content and entry.kind not in ("completed", "child_completed"):
            lines.append(f"    {content_json(entry.content)}")
    if timeline.result is not None:
        lines += ["", f"结果 result: {content_json(timeline.result)}"]
    return "\n".join(lines) + "\n"
