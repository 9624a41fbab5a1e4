"""The application page at `/console/applications/{application_id}`: the application as submitted, where it
stands and who must act, its scores as far as the reader may see them, and the secretariat's, on-site
team's and coordinator's forms for the step it is at.

The application answers for itself (its `status` and `form` queries); the cycle's status gives the dates of
the stages it passed, and is asked with a short timeout so that a cycle that does not answer only leaves
that part out. What each reader sees follows web/visibility.py. What the page renders are the frozen
classes here; the forms' fields become each act's input here too, and the act itself is the API's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from temporalio.client import Client

from awardcycle import service
from awardcycle.acts import ACTS, Act
from notifications.render import outcome_label, zh_datetime
from programmes import load_catalogue
from schemas.application import (
    EXTENSION_NEEDED,
    STATE_ZH,
    ApplicationState,
    ApplicationStatus,
    ConditionClaim,
    Outcome,
)
from schemas.cycle import CycleStatus
from schemas.programme import APPLICATION_STAGES, DayUnit, Programme, StageKind
from web import visibility
from web.auth import Access, cycle_of
from web.cycle_page import RESTING, SCORES_HIDDEN, live_answer, score_summary, score_text, stage_name, waiting_text
from web.uploads import DocumentLine, document_lines
from web.visibility import HIDDEN

KIND_ZH = {"organisation": "组织", "individual": "个人", "regional_product": "区域产品"}
# What the person awaited is to do, by the state the application is in.
TASK_ZH = {
    ApplicationState.QUALIFICATION: "资格审查（逐条确认基本条件）",
    ApplicationState.MATERIAL_REVIEW: "材料符合性审查",
    ApplicationState.SUPPLEMENT_REQUESTED: "提交补充材料",
    ApplicationState.EXPERT_REVIEW: "专家评分",
    ApplicationState.ONSITE_REVIEW: "录入现场评审结果",
    ApplicationState.ORAL_DEFENCE: "录入陈述答辩得分",
}
EXTENSION_ZH = "专家逾期未评分，需延长期限"
# Outcomes an application stage itself decides: that stage was not passed.
FAILED_AT_STAGE = frozenset(
    {Outcome.NOT_QUALIFIED, Outcome.MATERIALS_INCOMPLETE, Outcome.LOW_SCORE, Outcome.FAILED_ONSITE}
)
YES, NO = "yes", "no"
CSRF_LIMIT = 128
REASON_LIMIT = 2000
MISSING_LIMIT = 4000
MISSING_ITEMS = 50
MISSING_ITEM_LIMIT = 200
NOTE_LIMIT = 2000
FINDINGS_LIMIT = 8000
SCORE_LIMIT = 16
_SCORE = re.compile(r"[0-9]{1,6}(\.[0-9]{1,2})?")
# The act's input fields, as a refusal names them.
FIELD_ZH = {"note": "说明或理由", "missing": "所缺材料", "findings": "现场评审意见", "score": "得分"}


class FormError(ValueError):
    """A form value the console cannot make into the act's input; the message says why, in Chinese."""


@dataclass(frozen=True)
class ConditionLine:
    id: str
    text: str
    claimed_zh: str  # what the applicant declared
    evidence: str


@dataclass(frozen=True)
class StageStep:
    name_zh: str
    started_zh: str
    deadline_zh: str
    ended_zh: str
    result_zh: str


@dataclass(frozen=True)
class Scores:
    note: str  # why they are not shown; empty when they are
    experts: list[tuple[str, str]]  # (expert, total)
    summary: list[tuple[str, str]]
    detail_href: str  # the scores by indicator on the cycle page


@dataclass(frozen=True)
class ActForm:
    act: str
    title_zh: str
    action: str
    values: Mapping[str, str]  # as entered before a refusal, else empty
    error: str


@dataclass(frozen=True)
class Entered:
    """A refused submission: its form comes back with the values and the reason."""

    act: str
    values: Mapping[str, str]
    error: str


@dataclass(frozen=True)
class ApplicationPage:
    application_id: str
    cycle_id: str
    cycle_href: str
    programme_zh: str
    year: int | None
    name: str
    kind_zh: str
    credit_code: str
    category: str
    region: str
    contact_email: str
    state_zh: str
    stage_zh: str
    waiting_zh: str
    deadline_zh: str
    overdue: bool
    outcome_zh: str
    reason: str
    conditions: list[ConditionLine]
    documents: list[DocumentLine]
    stages: list[StageStep] | None  # None: the cycle did not answer in time
    scores: Scores
    forms: list[ActForm]
    supplement_zh: str  # how long the applicant has to supplement, by the programme's rule
    top_score: int | None  # the rubric's total, the highest on-site or defence score
    audit_href: str | None
    done_zh: str


Values = dict[str, str]


@dataclass(frozen=True)
class FormSpec:
    """One act's form: the step it belongs to, its fields with their length limits, and how they become its input."""

    act: Act
    state: ApplicationState
    title_zh: str
    done_zh: str
    fields: Callable[[list[ConditionClaim]], dict[str, int]]
    body: Callable[[Values, list[ConditionClaim]], dict[str, Any]]


def _text(values: Values, name: str) -> str:
    return values.get(name, "").strip()


def _choice(values: Values, name: str, missing: str) -> bool:
    value = _text(values, name)
    if value not in (YES, NO):
        raise FormError(missing)
    return value == YES


def _points(values: Values) -> float:
    value = _text(values, "score")
    if not _SCORE.fullmatch(value):
        raise FormError(f"得分须为不小于 0 的数字，最多两位小数，如 812.5，而不是“{value[:20]}”")
    return float(value)


def _qualification_fields(claims: list[ConditionClaim]) -> dict[str, int]:
    return {name: limit for c in claims for name, limit in ((f"met-{c.id}", 3), (f"reason-{c.id}", REASON_LIMIT))}


def _qualification(values: Values, claims: list[ConditionClaim]) -> dict[str, Any]:
    verdicts, reasons = [], []
    for claim in claims:
        met = _choice(values, f"met-{claim.id}", f"请逐条选择“符合”或“不符合”（条件 {claim.id} 未选择）")
        reason = _text(values, f"reason-{claim.id}")
        # The decision's note is the only record of why a condition failed, and a failed one ends the application.
        if not met and not reason:
            raise FormError(f"条件 {claim.id} 判定为“不符合”时须说明理由")
        verdicts.append({"id": claim.id, "met": met})
        if reason:
            reasons.append(f"{claim.id}（{'符合' if met else '不符合'}）：{reason}")
    return {"verdicts": verdicts, "note": "\n".join(reasons)}


def _materials(values: Values, claims: list[ConditionClaim]) -> dict[str, Any]:
    conforming = _choice(values, "conforming", "请选择“材料符合要求”或“要求补充材料”")
    missing = [line.strip() for line in _text(values, "missing").splitlines() if line.strip()]
    if len(missing) > MISSING_ITEMS:
        raise FormError(f"所缺材料最多列 {MISSING_ITEMS} 项")
    if any(len(item) > MISSING_ITEM_LIMIT for item in missing):
        raise FormError(f"所缺材料每项不得超过 {MISSING_ITEM_LIMIT} 字")
    return {"conforming": conforming, "missing": missing, "note": _text(values, "note")}


def _onsite(values: Values, claims: list[ConditionClaim]) -> dict[str, Any]:
    passed = _choice(values, "passed", "请选择现场评审“通过”或“未通过”")
    return {"score": _points(values), "passed": passed, "findings": _text(values, "findings")}


def _defence(values: Values, claims: list[ConditionClaim]) -> dict[str, Any]:
    return {"score": _points(values), "note": _text(values, "note")}


# Looked up once, at import: a renamed act fails here, not when someone posts its form.
FORMS = {
    spec.act.name: spec
    for spec in (
        FormSpec(
            ACTS["decide_qualification"],
            ApplicationState.QUALIFICATION,
            "资格审查",
            "资格审查决定已记录。",
            _qualification_fields,
            _qualification,
        ),
        FormSpec(
            ACTS["decide_materials"],
            ApplicationState.MATERIAL_REVIEW,
            "材料符合性审查与补充材料要求",
            "材料审查决定已记录；如要求补充材料，系统将通知申报单位。",
            lambda claims: {"conforming": 3, "missing": MISSING_LIMIT, "note": NOTE_LIMIT},
            _materials,
        ),
        FormSpec(
            ACTS["record_onsite"],
            ApplicationState.ONSITE_REVIEW,
            "现场评审结果",
            "现场评审结果已记录。",
            lambda claims: {"score": SCORE_LIMIT, "passed": 3, "findings": FINDINGS_LIMIT},
            _onsite,
        ),
        FormSpec(
            ACTS["record_defence"],
            ApplicationState.ORAL_DEFENCE,
            "陈述答辩得分",
            "陈述答辩得分已记录。",
            lambda claims: {"score": SCORE_LIMIT, "note": NOTE_LIMIT},
            _defence,
        ),
    )
}


def read_fields(items: list[tuple[str, str | UploadFile]], limits: Mapping[str, int]) -> tuple[Values, str]:
    """The form's values (the CSRF value aside), and the first problem with them: unknown, repeated, too long."""
    values: Values = {}
    seen: set[str] = set()
    problem = ""
    for name, value in items:
        if name in seen:
            problem = problem or f"表单字段重复：{name[:40]} (a field was sent twice)"
            continue
        seen.add(name)
        if not isinstance(value, str):
            problem = problem or "此表单不接受上传文件 (no file uploads here)"
        elif name == "csrf":
            problem = problem or ("" if len(value) <= CSRF_LIMIT else "安全校验值过长 (the CSRF value is too long)")
        elif name not in limits:
            problem = problem or f"表单含未知字段：{name[:40]} (unknown field)"
        else:
            if len(value) > limits[name]:
                problem = problem or f"“{_label(name)}”不得超过 {limits[name]} 字"
            values[name] = value[: limits[name]]
    return values, problem


def _label(name: str) -> str:
    condition = name.removeprefix("reason-")
    return f"条件 {condition} 的理由" if condition != name else FIELD_ZH.get(name, name)


def invalid_zh(errors: list[Any]) -> str:
    """A model's first validation error, named in Chinese, with pydantic's own words after it."""
    first = errors[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    return f"“{_label(field)}”的值不符合要求 ({first['msg']})"


def page_href(application_id: str) -> str:
    return f"/console/applications/{quote(application_id)}"


async def application_page(
    client: Client, reader: Access, application_id: str, *, entered: Entered | None = None, done: str | None = None
) -> ApplicationPage:
    """Everything the page shows of the application, as far as `reader` may see it; `Refused` if it is unknown."""
    cycle_id = cycle_of(application_id)
    status, form, cycle, catalogue = await asyncio.gather(
        service.application_status(client, application_id),
        service.application_form(client, application_id),
        live_answer(service.cycle_status(client, cycle_id), cycle_id),
        asyncio.to_thread(load_catalogue),
    )
    status = visibility.application_status(reader, status)
    shown = visibility.application_form(reader, form)
    programme = catalogue.get(reader.cycle.programme_id)
    name_zh = cycle.programme_name_zh if cycle else (programme.name_zh if programme else reader.cycle.programme_id)
    texts = {c.id: c.text for c in programme.conditions} if programme else {}
    deadline = status.deadline if status.state not in RESTING else None
    return ApplicationPage(
        application_id=application_id,
        cycle_id=cycle_id,
        cycle_href=f"/console/cycles/{quote(cycle_id)}",
        programme_zh=f"{name_zh}（{cycle.year}年度）" if cycle else name_zh,
        year=cycle.year if cycle else None,
        name=shown.name,
        kind_zh=KIND_ZH.get(shown.applicant_kind.value, shown.applicant_kind.value),
        credit_code=shown.credit_code or "—",
        category=shown.category,
        region=shown.region or "—",
        contact_email=shown.contact_email or HIDDEN,
        state_zh=STATE_ZH[status.state],
        stage_zh=stage_name(programme, status.stage) if status.stage else "尚未进入评审环节",
        waiting_zh=_waiting(status),
        deadline_zh=zh_datetime(deadline) if deadline else "",
        overdue=bool(deadline and cycle and cycle.cycle_time >= deadline),
        outcome_zh=outcome_label(status.outcome.value, name_zh) if status.outcome else "",
        reason=status.reason,
        conditions=[
            ConditionLine(c.id, texts.get(c.id, c.id), "符合" if c.met else "不符合", c.evidence)
            for c in shown.conditions
        ],
        documents=document_lines(
            status.documents,
            f"{page_href(application_id)}/documents/",
            {d.id: d.name_zh for d in programme.documents} if programme else None,
        ),
        stages=_stages(status, cycle, programme) if cycle else None,
        scores=_scores(reader, status, programme),
        forms=_forms(reader, status, entered),
        supplement_zh=_supplement_zh(programme),
        top_score=programme.rubric.total_points if programme else None,
        audit_href=f"/audit/{quote(application_id)}" if reader.sees_personal_data else None,
        done_zh=FORMS[done].done_zh if done in FORMS else "",
    )


def _waiting(status: ApplicationStatus) -> str:
    if not status.waiting_for:
        return ""
    task = EXTENSION_ZH if EXTENSION_NEEDED in status.waiting_for else TASK_ZH.get(status.state, "")
    return f"{waiting_text(status.waiting_for)}：{task}" if task else waiting_text(status.waiting_for)


def _stages(status: ApplicationStatus, cycle: CycleStatus, programme: Programme | None) -> list[StageStep]:
    """The stages the application has entered, with the cycle's dates for each and how it left it."""
    reached = APPLICATION_STAGES.index(status.stage) if status.stage in APPLICATION_STAGES else -1
    records = {record.stage: record for record in cycle.stages}
    steps = []
    for kind in (StageKind.APPLICATION, *APPLICATION_STAGES[: reached + 1]):
        record = records.get(kind)
        if record is None:
            continue
        steps.append(
            StageStep(
                name_zh=stage_name(programme, kind),
                started_zh=zh_datetime(record.started_at),
                deadline_zh=zh_datetime(record.deadline) if record.deadline else "不设截止时间",
                ended_zh=zh_datetime(record.ended_at) if record.ended_at else "",
                result_zh=_result(status, kind),
            )
        )
    return steps


def _result(status: ApplicationStatus, kind: StageKind) -> str:
    if kind is StageKind.APPLICATION:
        return "已受理"
    if kind is not status.stage:
        return "通过"
    if status.outcome is Outcome.WITHDRAWN:
        return "已撤回"
    if status.outcome in FAILED_AT_STAGE:
        return "未通过"
    if status.outcome is not None or status.state is ApplicationState.WAITING:
        return "通过"
    return f"进行中：{STATE_ZH[status.state]}"


def _scores(reader: Access, status: ApplicationStatus, programme: Programme | None) -> Scores:
    detail_href = f"/console/cycles/{quote(cycle_of(status.application_id))}?scores={quote(status.application_id)}"
    if not visibility.shows_scores(reader, status.state):
        return Scores(SCORES_HIDDEN, [], [], "")
    # Experts' names are personal data; their ids are what the other readers see, as on the cycle page.
    names = {e.id: e.name for e in programme.expert_review.pool} if programme and reader.sees_personal_data else {}
    experts = [
        (f"{names[e]}（{e}）" if e in names else e, score_text(status.scores[e]) if e in status.scores else "未评分")
        for e in status.experts
    ]
    return Scores("", experts, score_summary(status), f"{detail_href}#scores")


def _forms(reader: Access, status: ApplicationStatus, entered: Entered | None) -> list[ActForm]:
    """The forms the reader's grants allow at the application's present step, and a refused one with its values."""
    forms = []
    for act, spec in FORMS.items():
        refused = entered is not None and entered.act == act
        due = status.outcome is None and status.state is spec.state
        if (refused or due) and reader.roles & set(spec.act.grants):
            action = f"{page_href(status.application_id)}/acts/{act}"
            values = entered.values if entered and refused else {}
            forms.append(ActForm(act, spec.title_zh, action, values, entered.error if entered and refused else ""))
    return forms


def _supplement_zh(programme: Programme | None) -> str:
    if programme is None:
        return "按项目规定的期限"
    duration = programme.supplement
    unit = "个工作日" if duration.unit is DayUnit.WORKING else "日"
    return f"自提出要求之时起 {duration.days} {unit}"
