"""The cycle page at `/console/cycles/{cycle_id}`: the stages on a calendar, the funnel of applicants, one
page of the applications, the departments' consultation grid and the public objections.

The applications come from the read model. The schedule, the consultations, the notice and the scores by
indicator live only in the workflows: each is asked with a short timeout, and one that does not answer
shows as unavailable instead of holding up the page. What each reader sees follows web/visibility.py.
What the page renders are the frozen classes here, never the table rows.

A coordinator also finds the acts that make sense at the cycle's stage as forms (web/routes/cycle_acts.py
performs them); a refused one is shown again on its form with the reason and the values entered.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import quote, urlencode

from sqlalchemy import Engine
from temporalio.client import Client

from activities.calendar import CalendarError, WorkingDayCalendar
from awardcycle import service
from awardcycle.acts import ACTS
from awardcycle.service import Refused
from notifications.render import OPINIONS_ZH, outcome_label, zh_datetime
from programmes import load_catalogue
from schemas.application import STATE_ZH, ApplicationState, ApplicationView, Outcome, ScoringTask
from schemas.calendar import CalendarSpec
from schemas.common import SHANGHAI, Channel
from schemas.consultation import Candidate, CandidateOpinion, ConsultationStatus
from schemas.cycle import CycleStatus, StageRecord
from schemas.notice import NoticeStatus
from schemas.programme import APPLICATION_STAGES, Duration, Programme, StageKind
from store import queries
from store.db import session
from web import visibility
from web.applicant_form import ENTERERS
from web.auth import Access, cycle_of
from web.calendar_chart import Chart, Span, SpanState, chart, day_zh
from web.cycle_calendar import cycle_calendar_spec, working_days
from web.dashboard import deadline_text
from web.deps import workflow_kind
from web.form_fields import Bounds, model_bounds
from web.page_parts import UNAVAILABLE, live_answer, score_summary, score_text, stage_name, waiting_text

ORDER_ZH = {"id": "按申报编号", "score": "按最终得分（高分在前）"}
SCORES_HIDDEN = "专家评审进行中，评分仅对协调员、秘书处和审计人员可见 (scores are hidden while the review is open)"
# Between stages and once concluded, an application's deadline is the last stage's, not one it must meet.
RESTING = (ApplicationState.WAITING, ApplicationState.CONCLUDED)
_NUMBER = re.compile(r"-?[0-9]{1,9}")

# The coordinator's acts the page offers as forms.
CONSOLE_ACTS = (
    "extend_deadline",
    "record_approval",
    "resend_link",
    "answer",
    "resolve_overdue",
    "decide_objection",
    "resolve_objection",
    "lodge_objection",
)
# The hidden fields naming what a form acts on, for the acts the page shows once per department or objection.
TARGETS = {
    "resolve_overdue": ("consultation",),
    "decide_objection": ("consultation", "application_id"),
    "resolve_objection": ("objection_id",),
}
LIMITS = {name: model_bounds(ACTS[name].input) for name in CONSOLE_ACTS} | {"opinion": model_bounds(CandidateOpinion)}
# The stages whose deadline the cycle's extend_deadline validator accepts to move.
EXTENDABLE = frozenset({StageKind.APPLICATION, StageKind.CONSULTATION, *APPLICATION_STAGES})
# What the page says after a form's act was accepted (`?done=ACT`); announcing follows the approval by itself.
DONE_ZH = {
    "start_cycle": "已启动评审周期。",
    "extend_deadline": "已延长当前环节的截止时间。",
    "record_approval": "已记录政府批准文件，周期随即发布表彰决定。",
    "resend_link": "已重新发送任务链接，此前的链接随即失效。",
    "answer": "已记录部门的书面意见。",
    "resolve_overdue": "已处理逾期未答复的部门。",
    "decide_objection": "已就部门异议作出决定。",
    "resolve_objection": "已处理公示异议。",
    "lodge_objection": "已登记书面公示异议。",
}


def form_key(act: str, values: dict[str, str]) -> str:
    """Which form on the page: the act's name, then what it acts on when the page holds several of it."""
    return ":".join([act, *(values.get(name, "") for name in TARGETS.get(act, ()))])


class UnknownApplication(LookupError):
    """`?scores=` names an application the cycle's read model does not hold."""


@dataclass(frozen=True)
class PageRequest:
    offset: int
    limit: int
    state: ApplicationState | None
    order: str
    scores: str | None  # the application whose scores by indicator and expert are shown
    done_zh: str = ""  # the confirmation of an act a form just performed


@dataclass(frozen=True)
class StageLine:
    kind: str
    name_zh: str
    state_zh: str
    started_zh: str
    deadline_zh: str
    ended_zh: str
    extensions: list[str]


@dataclass(frozen=True)
class Schedule:
    """The stages as recorded by the cycle, then the rest as planned from the programme's durations."""

    stage_zh: str
    deadline_zh: str
    left_zh: str
    overdue: bool
    lines: list[StageLine]
    chart: Chart | None


@dataclass(frozen=True)
class FunnelStep:
    state: str
    name_zh: str
    count: int
    percent: int  # of the cycle's applications, for the bar's width


@dataclass(frozen=True)
class Funnel:
    total: int
    steps: list[FunnelStep]
    outcomes: list[tuple[str, int]]  # concluded applications by outcome, in Chinese


@dataclass(frozen=True)
class ApplicationLine:
    application_id: str
    number: str  # `app-0001`: the id without the cycle's, which the page already names
    name: str
    category: str
    region: str
    state_zh: str
    deadline_zh: str
    waiting_zh: str
    expert_score: str
    final_score: str
    outcome_zh: str
    reason: str
    scores_href: str


@dataclass(frozen=True)
class Paging:
    limit: int
    total: int
    state: str
    order: str
    shown_from: int
    shown_to: int
    here_href: str  # this page without the scores shown
    previous_href: str | None
    next_href: str | None


@dataclass(frozen=True)
class ExpertColumn:
    label: str
    total: str


@dataclass(frozen=True)
class IndicatorLine:
    group_zh: str
    name_zh: str
    points: int
    cells: list[str]  # one per expert column


@dataclass(frozen=True)
class ScoreDetail:
    application_id: str
    name: str
    note: str  # why the scores are not shown; empty when they are
    experts: list[ExpertColumn]
    indicators: list[IndicatorLine]
    summary: list[tuple[str, str]]  # aggregated, on-site, defence and final scores


@dataclass(frozen=True)
class GridCell:
    kind: str  # no_objection, objection, pending, overdue, unavailable
    text_zh: str
    reason: str  # the department's, for an objection


@dataclass(frozen=True)
class GridRow:
    workflow_id: str  # the department's consultation, for its audit timeline
    department_zh: str
    deadline_zh: str
    answer_zh: str
    overdue: bool
    cells: list[GridCell]


@dataclass(frozen=True)
class ConsultationGrid:
    candidates: list[tuple[str, str]]  # (application id, name): whom the departments were asked about
    rows: list[GridRow]
    answered: int
    objections: int
    overdue: int


@dataclass(frozen=True)
class ObjectionLine:
    objection_id: str
    candidate: str
    objector: str
    received_zh: str
    reason: str
    state_zh: str
    resolution: str


@dataclass(frozen=True)
class NoticeSection:
    workflow_id: str
    available: bool
    open: bool
    period_zh: str
    public_href: str
    objections: list[ObjectionLine]


@dataclass(frozen=True)
class Attempt:
    """A refused act, shown again on its form."""

    key: str  # the form's (form_key)
    reason: str
    values: dict[str, str]  # as entered


@dataclass(frozen=True)
class Target:
    """One of several forms of an act: the department or objection it acts on."""

    key: str
    fields: dict[str, str]  # the hidden fields naming it
    label_zh: str
    detail: str


@dataclass(frozen=True)
class Acts:
    """The coordinator's forms the reader may fill in at the cycle's stage."""

    keys: frozenset[str]  # every form shown, by form_key
    limits: dict[str, dict[str, Bounds]]
    authority_zh: str  # who approves the results
    today_iso: str  # the cycle's day, for the approval's date
    relink: list[tuple[str, str]]  # open consultations: (workflow id, department and where its link went)
    answering: list[tuple[str, str]]  # consultations still taking answers: (workflow id, department)
    candidates: list[tuple[str, str]]  # whom the departments answer about: (application id, name)
    opinions: list[tuple[str, str]]  # a department's possible opinions: (value, Chinese)
    overdue: list[Target]
    objections: list[Target]  # departments' objections awaiting the coordinator
    public: list[Target]  # public objections awaiting a resolution
    lodging: list[tuple[str, str]]  # the notice's candidates while it is open


@dataclass(frozen=True)
class CyclePage:
    cycle_id: str
    year: int
    programme_zh: str
    completed: bool
    schedule: Schedule | None
    funnel: Funnel
    applications: list[ApplicationLine]
    paging: Paging
    states: list[tuple[str, str]]  # the filter's choices: (value, Chinese)
    orders: list[tuple[str, str]]
    detail: ScoreDetail | None
    consultation: ConsultationGrid | None
    notice: NoticeSection | None
    audit: bool  # the reader may open the cycle's audit timeline
    enters_paper: bool  # the reader may enter an application received on paper, and the call is open
    acts: Acts | None  # None: the reader may perform none of them
    attempt: Attempt | None
    done_zh: str


@dataclass(frozen=True)
class _Stored:
    year: int | None
    programme_id: str
    completed: bool
    views: list[ApplicationView]
    total: int
    counts: dict[str, int]
    outcomes: dict[str, int]
    detail: ApplicationView | None
    programme: Programme | None


def page_request(
    cycle_id: str,
    *,
    offset: str | None,
    limit: str | None,
    state: str | None,
    order: str | None,
    scores: str | None,
    done: str | None = None,
) -> PageRequest:
    """The page asked for in the query string; a ValueError with the reason (Chinese and English) otherwise."""
    numbers = []
    for name, text, default in (("offset", offset, 0), ("limit", limit, service.DEFAULT_LIMIT)):
        value = (text or "").strip()
        if value and not _NUMBER.fullmatch(value):
            raise ValueError(f"{name} 须为整数，而不是“{value[:20]}” ({name} must be a whole number)")
        numbers.append(int(value) if value else default)
    start, size = numbers
    try:
        wanted = service.check_page(offset=start, limit=size, state=state or None, order=order or "id")
    except Refused as refused:
        raise ValueError(str(refused)) from refused
    if scores and not (workflow_kind(scores) == "application" and cycle_of(scores) == cycle_id):
        raise ValueError(f"“{scores[:80]}”不是本周期的申报编号 (not an application id of {cycle_id})")
    return PageRequest(
        offset=start,
        limit=size,
        state=wanted,
        order=order or "id",
        scores=scores or None,
        done_zh=DONE_ZH.get(done or "", ""),
    )


async def cycle_page(
    client: Client, engine: Engine, reader: Access, wanted: PageRequest, attempt: Attempt | None = None
) -> CyclePage:
    """Everything the page shows of the cycle, as far as `reader` may see it, and the forms it may fill in."""
    cycle_id = reader.cycle.cycle_id
    stored, status, spec = await asyncio.gather(
        asyncio.to_thread(_read, engine, reader, wanted),
        live_answer(service.cycle_status(client, cycle_id), cycle_id),
        live_answer(cycle_calendar_spec(client, cycle_id), cycle_id),
    )
    if wanted.scores and stored.detail is None:
        raise UnknownApplication(f"本周期没有编号为 {wanted.scores} 的申报 (no such application in {cycle_id})")
    programme = stored.programme
    consultations, (notice, notice_status), detail = await asyncio.gather(
        _consultations(client, status),
        _notice(client, reader, status),
        _score_detail(client, reader, stored.detail, programme),
    )
    name_zh = programme.name_zh if programme else (status.programme_name_zh if status else stored.programme_id)
    year = status.year if status else stored.year or 0
    return CyclePage(
        cycle_id=cycle_id,
        year=year,
        programme_zh=f"{name_zh}（{year}年度）",
        completed=status.completed if status else stored.completed,
        schedule=schedule(status, programme, spec) if status else None,
        funnel=_funnel(stored, name_zh),
        applications=[_line(cycle_id, visibility.application_view(reader, v), name_zh, wanted) for v in stored.views],
        paging=_paging(cycle_id, wanted, stored.total),
        states=[(s.value, STATE_ZH[s]) for s in ApplicationState],
        orders=list(ORDER_ZH.items()),
        detail=detail,
        consultation=_grid(*consultations) if status and status.consultations else None,
        notice=notice,
        audit=reader.sees_personal_data,
        enters_paper=bool(reader.roles & set(ENTERERS))
        and status is not None
        and status.stage is StageKind.APPLICATION,
        acts=_acts(reader, status, programme, *consultations, notice_status, attempt),
        attempt=attempt,
        done_zh=wanted.done_zh,
    )


def _read(engine: Engine, reader: Access, wanted: PageRequest) -> _Stored:
    cycle_id = reader.cycle.cycle_id
    with session(engine) as s:
        row = queries.get_cycle(s, cycle_id=cycle_id)
        views, total = queries.application_page(
            s, cycle_id=cycle_id, state=wanted.state, offset=wanted.offset, limit=wanted.limit, order=wanted.order
        )
        counts = queries.application_counts(s, cycle_id=cycle_id)
        outcomes = queries.outcome_counts(s, cycle_id=cycle_id)
        detail = queries.application_view(s, application_id=wanted.scores) if wanted.scores else None
    return _Stored(
        year=row.year if row else None,
        programme_id=reader.cycle.programme_id,
        completed=bool(row and row.completed),
        views=views,
        total=total,
        counts=counts,
        outcomes=outcomes,
        detail=detail,
        programme=load_catalogue().get(reader.cycle.programme_id),
    )


# The schedule


def _local_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def _last_day(end: datetime) -> date:
    """The day a period ends on: a deadline at 00:00 is 24:00 of the day before."""
    return _local_day(end - timedelta(microseconds=1))


def schedule(status: CycleStatus, programme: Programme | None, spec: CalendarSpec | None = None) -> Schedule:
    """The stages the cycle has entered, then the rest planned from the programme's durations, and their chart,
    counted with the cycle's holiday data (`spec`: the library's plus those supplied at its start)."""
    calendar = working_days(spec)
    today = _local_day(status.cycle_time)
    recorded = {record.stage: record for record in status.stages}
    planned_kinds = [stage.kind for stage in programme.stages] if programme else []
    kinds = sorted(set(recorded) | set(planned_kinds), key=list(StageKind).index)
    lines: list[StageLine] = []
    spans: list[Span] = []
    notes: list[str] = []
    # Where the next stage not yet entered would begin: when the one before it ended, or is due to end.
    cursor: datetime | None = None
    span: Span | None
    for kind in kinds:
        name = stage_name(programme, kind)
        record = recorded.get(kind)
        if record is not None:
            line, span = _recorded(kind, name, record, today)
            cursor = record.ended_at or record.deadline
        else:
            stage = programme.stage(kind) if programme else None
            duration = programme.duration_of(stage) if programme and stage else None
            line, span, cursor, note = _planned(kind, name, cursor, duration, calendar)
            notes += [note] if note else []
        lines.append(line)
        spans += [span] if span else []
    deadline_zh, left_zh, overdue = deadline_text(status, calendar)
    return Schedule(
        stage_zh=stage_name(programme, status.stage)
        if status.stage
        else ("已结束" if status.completed else "环节交接中"),
        deadline_zh=deadline_zh,
        left_zh=left_zh,
        overdue=overdue,
        lines=lines,
        chart=chart(spans, today, calendar, notes, supplied=[c.year for c in spec.supplied] if spec else [])
        if spans
        else None,
    )


def _recorded(kind: StageKind, name: str, record: StageRecord, today: date) -> tuple[StageLine, Span]:
    first = _local_day(record.started_at)
    if record.ended_at is not None:
        state, last = SpanState.DONE, max(first, _last_day(record.ended_at))
    else:
        state, last = SpanState.OPEN, max(first, _last_day(record.deadline) if record.deadline else today)
    deadline_zh = zh_datetime(record.deadline) if record.deadline else "不设截止时间"
    ended_zh = zh_datetime(record.ended_at) if record.ended_at else ""
    state_zh = "已结束" if state is SpanState.DONE else "进行中"
    line = StageLine(
        kind.value, name, state_zh, zh_datetime(record.started_at), deadline_zh, ended_zh, record.extensions
    )
    title = f"{name}（{state_zh}）：{day_zh(first)} 至 {deadline_zh if record.deadline else day_zh(last)}"
    return line, Span(name, first, last, state, title)


def _planned(
    kind: StageKind, name: str, start: datetime | None, duration: Duration | None, calendar: WorkingDayCalendar
) -> tuple[StageLine, Span | None, datetime | None, str]:
    """A stage not entered yet: its line, its span if it can be planned, the next stage's start, and a note."""
    if start is None:
        return StageLine(kind.value, name, "待定", "", "", "", []), None, None, ""
    first = _local_day(start)
    if duration is None:  # approval and announcement last until they are done
        line = StageLine(kind.value, name, "预计", f"约 {day_zh(first)}", "不设截止时间", "", [])
        return line, Span(name, first, first, SpanState.PLANNED, f"{name}（预计）：约自 {day_zh(first)}"), None, ""
    try:
        deadline = calendar.add(start, duration)
    except CalendarError as error:
        line = StageLine(kind.value, name, "待定", f"约 {day_zh(first)}", "无法推算", "", [])
        return line, None, None, f"{name}的截止时间无法推算：{error}"
    last = _last_day(deadline)
    line = StageLine(kind.value, name, "预计", f"约 {day_zh(first)}", f"约 {zh_datetime(deadline)}", "", [])
    title = f"{name}（预计）：{day_zh(first)} 至 {zh_datetime(deadline)}"
    return line, Span(name, first, last, SpanState.PLANNED, title), deadline, ""


# The applications


def _funnel(stored: _Stored, name_zh: str) -> Funnel:
    # Every state, in the order an application passes them, so the reader sees where none are too.
    total = sum(stored.counts.values())
    steps = [
        FunnelStep(s.value, STATE_ZH[s], count, round(100 * count / total) if total else 0)
        for s in ApplicationState
        for count in [stored.counts.get(s.value, 0)]
    ]
    outcomes = [
        (outcome_label(o.value, name_zh), stored.outcomes[o.value]) for o in Outcome if o.value in stored.outcomes
    ]
    return Funnel(total=total, steps=steps, outcomes=outcomes)


def _href(cycle_id: str, **params: str | int | None) -> str:
    shown = {name: value for name, value in params.items() if value not in (None, "")}
    query = urlencode(shown)
    return f"/console/cycles/{quote(cycle_id)}" + (f"?{query}" if query else "")


def _query(wanted: PageRequest, **changed: str | int | None) -> dict[str, str | int | None]:
    """The page's query string as parameters, with some changed: the links keep the filter, order and size."""
    state = wanted.state.value if wanted.state else None
    current: dict[str, str | int | None] = {
        "state": state,
        "order": wanted.order if wanted.order != "id" else None,
        "offset": wanted.offset or None,
        "limit": wanted.limit if wanted.limit != service.DEFAULT_LIMIT else None,
        "scores": wanted.scores,
    }
    return {**current, **changed}


def _line(cycle_id: str, view: ApplicationView, name_zh: str, wanted: PageRequest) -> ApplicationLine:
    return ApplicationLine(
        application_id=view.application_id,
        number=view.application_id.rpartition(".")[2],
        name=view.name,
        category=view.category,
        region=view.region,
        state_zh=STATE_ZH[view.state],
        deadline_zh=zh_datetime(view.deadline) if view.deadline and view.state not in RESTING else "",
        waiting_zh=waiting_text(view.waiting_for),
        expert_score=score_text(view.expert_score),
        final_score=score_text(view.final_score),
        outcome_zh=outcome_label(view.outcome.value, name_zh) if view.outcome else "",
        reason=view.reason,
        scores_href=_href(cycle_id, **_query(wanted, scores=view.application_id)) + "#scores",
    )


def _paging(cycle_id: str, wanted: PageRequest, total: int) -> Paging:
    previous = max(wanted.offset - wanted.limit, 0)
    following = wanted.offset + wanted.limit
    return Paging(
        limit=wanted.limit,
        total=total,
        state=wanted.state.value if wanted.state else "",
        order=wanted.order,
        shown_from=min(wanted.offset + 1, total),
        shown_to=min(following, total),
        here_href=_href(cycle_id, **_query(wanted, scores=None)),
        previous_href=_href(cycle_id, **_query(wanted, offset=previous or None, scores=None))
        if wanted.offset > 0
        else None,
        next_href=_href(cycle_id, **_query(wanted, offset=following, scores=None)) if following < total else None,
    )


async def _score_detail(
    client: Client, reader: Access, view: ApplicationView | None, programme: Programme | None
) -> ScoreDetail | None:
    """The asked application's scores by indicator and expert, from the application itself; None if none asked."""
    if view is None:
        return None
    application_id = view.application_id
    status = await live_answer(service.application_status(client, application_id), application_id)
    if status is None:
        return ScoreDetail(application_id, view.name, UNAVAILABLE, [], [], [])
    status = visibility.application_status(reader, status)
    if not reader.sees_scores and status.state is ApplicationState.EXPERT_REVIEW:
        return ScoreDetail(application_id, view.name, SCORES_HIDDEN, [], [], [])
    tasks = await asyncio.gather(
        *(live_answer(service.scoring_task(client, application_id, e), application_id) for e in status.scores)
    )
    scored = dict(zip(status.scores, tasks, strict=True))
    rubric = next((t.rubric for t in tasks if t), programme.rubric if programme else None)
    names = {e.id: e.name for e in programme.expert_review.pool} if programme else {}
    experts = [
        ExpertColumn(
            label=f"{names[e]}（{e}）" if reader.sees_personal_data and e in names else e,
            total=score_text(status.scores.get(e)) if e in status.scores else "未评分",
        )
        for e in status.experts
    ]
    indicators = [
        IndicatorLine(
            group.name_zh, indicator.name_zh, indicator.points, [_cell(scored, e, indicator.id) for e in status.experts]
        )
        for group in (rubric.groups if rubric else [])
        for indicator in group.indicators
    ]
    return ScoreDetail(application_id, status.name, "", experts, indicators, score_summary(status))


def _cell(scored: dict[str, ScoringTask | None], expert_id: str, indicator_id: str) -> str:
    if expert_id not in scored:
        return "—"
    task = scored[expert_id]
    return score_text(task.scores.get(indicator_id)) if task else UNAVAILABLE


# Consultation and notice


async def _consultations(
    client: Client, status: CycleStatus | None
) -> tuple[list[Candidate], dict[str, ConsultationStatus | None]]:
    """Whom the departments were asked about, and each department's consultation (None: it did not answer)."""
    if status is None or not status.consultations:
        return [], {}
    asked = status.consultations
    # Every department is asked about the same shortlist, which the cycle's own narrows once one is dropped.
    task, answers = await asyncio.gather(
        live_answer(service.consultation_task(client, asked[0]), asked[0]),
        asyncio.gather(*(live_answer(service.consultation_status(client, w), w) for w in asked)),
    )
    return (task.candidates if task else status.shortlist), dict(zip(asked, answers, strict=True))


def _grid(candidates: list[Candidate], asked: dict[str, ConsultationStatus | None]) -> ConsultationGrid:
    columns = [(c.application_id, c.name) for c in candidates]
    # An opinion on someone the list above lacks (it was not asked for in time) still gets its column.
    named = {application_id for application_id, _ in columns}
    for consultation in asked.values():
        for answer in consultation.answers if consultation else []:
            if answer.application_id not in named:
                named.add(answer.application_id)
                columns.append((answer.application_id, answer.application_id))
    rows = [_grid_row(columns, workflow_id, c) for workflow_id, c in asked.items()]
    consultations = list(asked.values())
    return ConsultationGrid(
        candidates=columns,
        rows=rows,
        answered=sum(1 for c in consultations if c and c.answered),
        objections=sum(1 for row in rows for cell in row.cells if cell.kind == "objection"),
        overdue=sum(1 for c in consultations if c and c.overdue),
    )


def _grid_row(columns: list[tuple[str, str]], workflow_id: str, consultation: ConsultationStatus | None) -> GridRow:
    if consultation is None:
        cells = [GridCell("unavailable", UNAVAILABLE, "") for _ in columns]
        department = workflow_id.rpartition(".consultation-")[2]
        return GridRow(workflow_id, department, "", UNAVAILABLE, False, cells)
    opinions = {a.application_id: a for a in consultation.answers}
    decisions = {o.application_id: o for o in consultation.objections}
    cells = []
    for application_id, _ in columns:
        opinion = opinions.get(application_id)
        if opinion is None:
            kind = "overdue" if consultation.overdue else "pending"
            cells.append(GridCell(kind, "逾期未答复" if consultation.overdue else "待答复", ""))
            continue
        text = OPINIONS_ZH[opinion.opinion.value]
        decision = decisions.get(application_id)
        if decision is not None:
            text += "（待协调员决定）" if not decision.decided else ("（保留）" if decision.keep else "（取消资格）")
        cells.append(GridCell(opinion.opinion.value, text, opinion.reason))
    answered_by = consultation.answered_by
    if not consultation.answered:
        answer_zh = "逾期未答复" if consultation.overdue else "未答复"
    elif answered_by is not None and answered_by.channel is Channel.POLICY:
        answer_zh = "逾期，按规则视为无异议"
    else:
        answer_zh = "逾期后答复" if consultation.overdue else "已答复"
    return GridRow(
        workflow_id,
        consultation.department_name_zh,
        zh_datetime(consultation.deadline),
        answer_zh,
        consultation.overdue,
        cells,
    )


async def _notice(
    client: Client, reader: Access, status: CycleStatus | None
) -> tuple[NoticeSection | None, NoticeStatus | None]:
    """The notice's section, and its status as the reader may see it for the forms (None: it did not answer)."""
    if status is None or status.notice is None:
        return None, None
    public_href = f"/notices/{quote(status.cycle_id)}"
    notice = await live_answer(service.notice_status(client, status.notice), status.notice)
    if notice is None:
        return NoticeSection(status.notice, False, False, "", public_href, []), None
    notice = visibility.notice_status(reader, notice)
    section = NoticeSection(status.notice, True, notice.open, _period_zh(notice), public_href, _objections(notice))
    return section, notice


def _period_zh(notice: NoticeStatus) -> str:
    return f"{day_zh(_local_day(notice.starts_at))} 至 {zh_datetime(notice.ends_at)}"


def _objections(notice: NoticeStatus) -> list[ObjectionLine]:
    names = {c.application_id: c.name for c in notice.candidates}
    return [
        ObjectionLine(
            objection_id=o.objection_id,
            candidate=names.get(o.application_id, o.application_id),
            objector=o.objector,
            received_zh=zh_datetime(o.received_at),
            reason=o.reason,
            state_zh="待处理" if not o.resolved else ("异议成立" if o.upheld else "异议不成立"),
            resolution=o.resolution_reason,
        )
        for o in notice.objections
    ]


# The coordinator's forms


def _acts(
    reader: Access,
    status: CycleStatus | None,
    programme: Programme | None,
    candidates: list[Candidate],
    asked: dict[str, ConsultationStatus | None],
    notice: NoticeStatus | None,
    attempt: Attempt | None,
) -> Acts | None:
    """Each form whose act the reader's grants allow and which makes sense now; a form whose act was just
    refused stays, so the reason shows where it was entered, even if the stage has moved on meanwhile."""
    may = {name for name in CONSOLE_ACTS if reader.roles & set(ACTS[name].grants)}
    if status is None or not may:
        return None
    tried = attempt.key if attempt else None
    now = status.cycle_time
    consulting = status.stage is StageKind.CONSULTATION
    live = [c for c in asked.values() if c is not None]
    # A consultation takes answers until its deadline, and stays open past it while nobody has answered.
    answering = [(c.workflow_id, c.department_name_zh) for c in live if consulting and c.deadline > now]
    relink = [
        (c.workflow_id, f"{c.department_name_zh}（{c.recipient_email or '原地址'}）")
        for c in live
        if consulting and (c.deadline > now or not c.answered)
    ]
    record = status.stages[-1] if status.stages else None
    # Whether each form makes sense now, and whether its section is on the page to hold it.
    offered = {
        "extend_deadline": (status.stage in EXTENDABLE and record is not None and record.deadline is not None, True),
        "record_approval": (status.stage is StageKind.APPROVAL and status.approval is None, True),
        "resend_link": (bool(relink), bool(live)),
        "answer": (bool(answering), bool(live)),
        "lodge_objection": (notice is not None and notice.open and now < notice.ends_at, notice is not None),
    }
    keys = {
        name for name, (sensible, placed) in offered.items() if name in may and placed and (sensible or tried == name)
    }

    def targets(act: str, items: list[tuple[dict[str, str], bool, str, str]]) -> list[Target]:
        """The forms of one act, one per item (its hidden fields, whether it awaits the act, label, detail)."""
        if act not in may:
            return []
        shown = []
        for fields, waiting, label, detail in items:
            key = form_key(act, fields)
            if waiting or key == tried:
                shown.append(Target(key, fields, label, detail))
                keys.add(key)
        return shown

    names, on_notice = {c.application_id: c.name for c in candidates}, _names_on(notice)
    overdue = targets(
        "resolve_overdue",
        [
            (
                {"consultation": c.workflow_id},
                "coordinator" in c.waiting_for,
                c.department_name_zh,
                f"截止 {zh_datetime(c.deadline)}，逾期未答复",
            )
            for c in live
        ],
    )
    objections = targets(
        "decide_objection",
        [
            (
                {"consultation": c.workflow_id, "application_id": o.application_id},
                not o.decided,
                f"{c.department_name_zh}对“{names.get(o.application_id, o.application_id)}”提出异议",
                o.reason,
            )
            for c in live
            for o in c.objections
        ],
    )
    public = targets(
        "resolve_objection",
        [
            (
                {"objection_id": o.objection_id},
                not o.resolved,
                f"{o.objection_id}：对“{on_notice.get(o.application_id, o.application_id)}”",
                o.reason,
            )
            for o in (notice.objections if notice else [])
        ],
    )
    return Acts(
        keys=frozenset(keys),
        limits=LIMITS,
        authority_zh=programme.approval_authority_zh if programme else "",
        today_iso=_local_day(now).isoformat(),
        relink=relink,
        answering=answering,
        candidates=[(c.application_id, c.name) for c in candidates],
        opinions=list(OPINIONS_ZH.items()),
        overdue=overdue,
        objections=objections,
        public=public,
        lodging=list(on_notice.items()) if "lodge_objection" in keys else [],
    )


def _names_on(notice: NoticeStatus | None) -> dict[str, str]:
    """The notice's candidates by application id."""
    return {c.application_id: c.name for c in notice.candidates} if notice else {}
