"""The coordinator's acts as console forms: the dashboard starts a cycle; the cycle page extends the open
stage's deadline, re-sends or moves a department's link, records a department's answer or a public
objection received on paper, resolves an overdue department, decides a department's objection, resolves a
public objection and records the government's approval (the announcement follows it by itself). In a
rehearsal, the coordinator also starts and stops the simulator that plays everyone else (web/rehearsal.py).

Each form performs the act the API performs, through the same functions (web/routes/cycles.py
`start_cycle`, web/routes/acts.py `perform_as`), as the session's principal. A success redirects (303) to
the cycle page with a confirmation; a refusal renders the page again, with the reason on the form and the
values entered. The session's CSRF value is checked by web/auth.py before any of this runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from temporalio.service import RPCError

from awardcycle.acts import ACTS
from awardcycle.service import RefusalKind, Refused
from programmes import load_catalogue
from schemas import ids
from schemas.consultation import Opinion, OverdueAction
from schemas.identity import AccountRole
from store import accounts
from store.db import session
from web.auth import Access, access_to, csrf_for, cycle_of, forbidden, principal_of
from web.cycle_page import LIMITS, Attempt, cycle_page, form_key, page_request
from web.dashboard import dashboard, start_form
from web.deps import ClientDep, EngineDep, TaskQueueDep, workflow_kind
from web.errors import refusal_status
from web.form_fields import Bounds, FieldProblem, Fields, model_bounds, posted
from web.rehearsal import AlreadyRunning, Rehearsals, panel
from web.routes import cycles
from web.routes.acts import perform_as
from web.routes.console import SignedIn, html_page
from web.schemas import CYCLE_ID_PATTERN, CycleStart

router = APIRouter(include_in_schema=False)

UNAVAILABLE_ZH = "工作流服务暂不可用，未能办理，请稍后再试 (Temporal did not answer; nothing was recorded)"
NOT_FOUND_ZH = "未找到该评审周期或操作 (no such cycle or act)"
OBJECTION_ID = Bounds(1, 40)  # `GS2026-0001`: the notice numbers its objections
CYCLE_ID = Bounds(None, 128)  # as CYCLE_ID_PATTERN allows
START_LIMITS = model_bounds(CycleStart)


def _page_error(shown: dict[str, Any], code: int, reason: str) -> Response:
    """The cycle page with only the reason: the reader may not see the cycle, or may not act on it."""
    return html_page("cycle.html", code, **shown, page=None, rehearsal=None, error=reason)


def _reason(error: Exception) -> tuple[int, str]:
    """A refusal's status and its one-line reason (a validator may quote several lines)."""
    if isinstance(error, FieldProblem):
        return status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)
    if isinstance(error, Refused):
        return refusal_status(error), " ".join(str(error).split())
    if isinstance(error, HTTPException):
        return error.status_code, str(error.detail)
    return status.HTTP_503_SERVICE_UNAVAILABLE, UNAVAILABLE_ZH


# The start of a cycle, on the dashboard


@router.post("/console/cycles", response_class=HTMLResponse)
async def start_cycle(
    request: Request, holder: SignedIn, client: ClientDep, engine: EngineDep, task_queue: TaskQueueDep
) -> Response:
    principal = principal_of(holder)
    values: dict[str, str] = {}
    try:
        fields = await posted(request)
        values = fields.kept()
        body = CycleStart(
            programme=fields.pick("programme", "评审项目", load_catalogue().__contains__),
            year=fields.whole("year", "年度", START_LIMITS["year"]),
            day_seconds=fields.decimal("day_seconds", "演练时钟（每个周期日的秒数）", START_LIMITS["day_seconds"]),
            cycle_id=_cycle_id(fields) or None,
        )
        with session(engine) as s:  # for the holiday calendars supplied since
            started = await cycles.start_cycle(body, client, task_queue, principal, s)
    except (FieldProblem, Refused, HTTPException, RPCError) as error:
        code, reason = _reason(error)
    else:
        return RedirectResponse(
            f"/console/cycles/{quote(started.cycle_id)}?done=start_cycle", status_code=status.HTTP_303_SEE_OTHER
        )
    board = await dashboard(client, engine, principal, None)
    shown = {"principal": principal, "csrf": csrf_for(request, holder.token_sha256)}
    # Someone who coordinates no programme has no form to show the reason on.
    form = start_form(principal, reason, values)
    return html_page("console.html", code, **shown, board=board, start=form, error="" if form else reason)


def _cycle_id(fields: Fields) -> str:
    chosen = fields.text("cycle_id", "周期编号", CYCLE_ID, optional=True)
    if chosen and not re.fullmatch(CYCLE_ID_PATTERN, chosen):
        raise FieldProblem("周期编号只能由字母、数字、连字符和下划线组成，以字母或数字开头")
    return chosen


# The acts on the cycle page: what each form names and the body it sends

Parsed = tuple[str, dict[str, Any]]  # the workflow acted on, and the act's body


def _child(fields: Fields, cycle_id: str, name: str, kind: str, label: str) -> str:
    """A workflow of this cycle named by the form (a department's consultation, an application)."""
    return fields.pick(name, label, lambda value: workflow_kind(value) == kind and cycle_of(value) == cycle_id)


def _extend(cycle_id: str, fields: Fields) -> Parsed:
    limits = LIMITS["extend_deadline"]
    return cycle_id, {
        "working_days": fields.whole("working_days", "延长的工作日数", limits["working_days"]),
        "reason": fields.text("reason", "延期理由", limits["reason"]),
    }


def _approval(cycle_id: str, fields: Fields) -> Parsed:
    return cycle_id, {
        "document_number": fields.text("document_number", "批准文号", LIMITS["record_approval"]["document_number"]),
        "approved_on": fields.day("approved_on", "批准日期"),
    }


def _resend(cycle_id: str, fields: Fields) -> Parsed:
    return _child(fields, cycle_id, "consultation", "consultation", "部门"), {
        "email": fields.email("email", "新的电子邮箱"),
        "reason": fields.text("reason", "重发理由", LIMITS["resend_link"]["reason"]),
    }


def _answer(cycle_id: str, fields: Fields) -> Parsed:
    """A department's answer received on paper: one opinion per candidate, each with its reason."""
    consultation = _child(fields, cycle_id, "consultation", "consultation", "部门")
    reason_limits = LIMITS["opinion"]["reason"]
    opinions = [name.removeprefix("opinion:") for name in fields.values if name.startswith("opinion:")]
    answers = []
    for application_id in opinions:
        if workflow_kind(application_id) != "application" or cycle_of(application_id) != cycle_id:
            raise FieldProblem("意见对象不是本周期的候选申报")
        answers.append(
            {
                "application_id": application_id,
                "opinion": fields.pick(f"opinion:{application_id}", "意见", {o.value for o in Opinion}.__contains__),
                "reason": fields.text(f"reason:{application_id}", "理由", reason_limits, optional=True),
            }
        )
    if not answers:
        raise FieldProblem("请对每位候选对象填写意见")
    return consultation, {"answers": answers}


def _overdue(cycle_id: str, fields: Fields) -> Parsed:
    limits = LIMITS["resolve_overdue"]
    return _child(fields, cycle_id, "consultation", "consultation", "部门"), {
        "action": fields.pick("action", "处理方式", {a.value for a in OverdueAction}.__contains__),
        "working_days": fields.whole("working_days", "延长的工作日数", limits["working_days"], default=0),
        "reason": fields.text("reason", "处理理由", limits["reason"]),
    }


def _decide(cycle_id: str, fields: Fields) -> Parsed:
    return _child(fields, cycle_id, "consultation", "consultation", "部门"), {
        "application_id": _child(fields, cycle_id, "application_id", "application", "异议对象"),
        "keep": fields.pick("decision", "决定", {"keep", "drop"}.__contains__) == "keep",
        "reason": fields.text("reason", "决定理由", LIMITS["decide_objection"]["reason"]),
    }


def _resolve(cycle_id: str, fields: Fields) -> Parsed:
    return ids.notice_id(cycle_id), {
        "objection_id": fields.text("objection_id", "异议编号", OBJECTION_ID),
        "upheld": fields.pick("decision", "核实结论", {"upheld", "rejected"}.__contains__) == "upheld",
        "reason": fields.text("reason", "处理理由", LIMITS["resolve_objection"]["reason"]),
    }


def _lodge(cycle_id: str, fields: Fields) -> Parsed:
    limits = LIMITS["lodge_objection"]
    return ids.notice_id(cycle_id), {
        "application_id": _child(fields, cycle_id, "application_id", "application", "异议对象"),
        "contact": fields.text("contact", "异议人联系方式", limits["contact"]),
        "reason": fields.text("reason", "异议理由", limits["reason"]),
    }


@dataclass(frozen=True)
class ActForm:
    parse: Callable[[str, Fields], Parsed]
    section: str  # the part of the cycle page the form is in, to return to


FORMS = {
    "extend_deadline": ActForm(_extend, "schedule"),
    "record_approval": ActForm(_approval, "schedule"),
    "resend_link": ActForm(_resend, "consultation"),
    "answer": ActForm(_answer, "consultation"),
    "resolve_overdue": ActForm(_overdue, "consultation"),
    "decide_objection": ActForm(_decide, "consultation"),
    "resolve_objection": ActForm(_resolve, "notice"),
    "lodge_objection": ActForm(_lodge, "notice"),
}


@router.post("/console/cycles/{cycle_id}/acts/{act_name}", response_class=HTMLResponse)
async def perform(
    request: Request, cycle_id: str, act_name: str, holder: SignedIn, client: ClientDep, engine: EngineDep
) -> Response:
    principal = principal_of(holder)
    shown: dict[str, Any] = {"principal": principal, "csrf": csrf_for(request, holder.token_sha256)}
    form = FORMS.get(act_name)
    # Only ids shaped like a cycle's are looked up, so junk never reaches Temporal.
    if form is None or not re.fullmatch(CYCLE_ID_PATTERN, cycle_id):
        return _page_error(shown, status.HTTP_404_NOT_FOUND, NOT_FOUND_ZH)
    act = ACTS[act_name]
    try:
        reader: Access = await access_to(request, principal, cycle_id)
        reader.require(*act.grants)
    except (Refused, HTTPException) as error:
        return _page_error(shown, *_reason(error))
    values: dict[str, str] = {}
    try:
        fields = await posted(request)
        values = fields.kept()
        workflow_id, body = form.parse(cycle_id, fields)
        await perform_as(request, client, act, reader, workflow_id, body)
    except (FieldProblem, Refused, HTTPException, RPCError) as error:
        code, reason = _reason(error)
    else:
        return RedirectResponse(
            f"/console/cycles/{quote(cycle_id)}?done={act_name}#{form.section}", status_code=status.HTTP_303_SEE_OTHER
        )
    wanted = page_request(cycle_id, offset=None, limit=None, state=None, order=None, scores=None)
    page = await cycle_page(client, engine, reader, wanted, Attempt(form_key(act_name, values), reason, values))
    rehearsal = panel(request.app.state.rehearsals, reader)
    return html_page("cycle.html", code, **shown, page=page, rehearsal=rehearsal, error="")


# A rehearsal's simulator, on the cycle page

REHEARSAL_ZH = {
    "started": "已开始代演其他角色：秘书处、专家、现场评审组{departments}的操作由系统模拟，刷新本页查看进度。",
    "running": "本周期的代演已在运行，无需再次启动。",
    "stopped": "已停止代演。",
    "idle": "代演未在运行。",
}


async def _rehearsal_reader(request: Request, cycle_id: str, holder: accounts.TokenHolder) -> Access:
    """The coordinator's access to a rehearsal cycle, or the refusal to show."""
    if not re.fullmatch(CYCLE_ID_PATTERN, cycle_id):
        raise Refused(NOT_FOUND_ZH, RefusalKind.NOT_FOUND)
    reader = await access_to(request, principal_of(holder), cycle_id)
    reader.require(AccountRole.COORDINATOR)
    if not reader.cycle.rehearsal:
        raise forbidden("只有演练周期可以代演其他角色 (only a rehearsal cycle may be simulated)")
    return reader


def _back(cycle_id: str, outcome: str) -> Response:
    return RedirectResponse(
        f"/console/cycles/{quote(cycle_id)}?rehearsal={outcome}#rehearsal", status_code=status.HTTP_303_SEE_OTHER
    )


@router.post("/console/cycles/{cycle_id}/rehearsal", response_class=HTMLResponse)
async def start_rehearsal(
    request: Request, cycle_id: str, holder: SignedIn, client: ClientDep, engine: EngineDep
) -> Response:
    shown: dict[str, Any] = {"principal": principal_of(holder), "csrf": csrf_for(request, holder.token_sha256)}
    rehearsals: Rehearsals = request.app.state.rehearsals
    try:
        reader = await _rehearsal_reader(request, cycle_id, holder)
        fields = await posted(request)
        departments = fields.values.get("departments", "") == "yes"  # an unticked box sends nothing
        await rehearsals.start(client, engine, reader, departments=departments)
    except AlreadyRunning:
        return _back(cycle_id, "running")
    except (FieldProblem, Refused, HTTPException, RPCError) as error:
        return _page_error(shown, *_reason(error))
    return _back(cycle_id, "started" if not departments else "started-departments")


@router.post("/console/cycles/{cycle_id}/rehearsal/stop", response_class=HTMLResponse)
async def stop_rehearsal(request: Request, cycle_id: str, holder: SignedIn) -> Response:
    shown: dict[str, Any] = {"principal": principal_of(holder), "csrf": csrf_for(request, holder.token_sha256)}
    try:
        reader = await _rehearsal_reader(request, cycle_id, holder)
    except (Refused, HTTPException) as error:
        return _page_error(shown, *_reason(error))
    stopped = request.app.state.rehearsals.stop(cycle_id, reader.principal.username)
    return _back(cycle_id, "stopped" if stopped else "idle")


def rehearsal_message(outcome: str | None) -> str:
    """The confirmation of `?rehearsal=` after a press of the start or stop button."""
    if outcome in ("started", "started-departments"):
        return REHEARSAL_ZH["started"].format(departments="和各部门" if outcome == "started-departments" else "")
    return REHEARSAL_ZH.get(outcome or "", "")
