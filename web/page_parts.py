"""What the console's pages share: asking a workflow with a short timeout, and the texts of scores, stages
and whom an application waits for (the dashboard, the cycle page and the application page use them)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from awardcycle.service import Refused
from schemas.application import ApplicationStatus
from schemas.programme import Programme, StageKind

log = logging.getLogger(__name__)
T = TypeVar("T")

LIVE_TIMEOUT = 2.0  # seconds a workflow has to answer its query before the page goes on without it
UNAVAILABLE = "状态暂不可用"
WAITING_ZH = {
    "secretariat": "秘书处",
    "applicant": "申报单位",
    "onsite_team": "现场评审组",
    "defence_panel": "答辩评审组",
    "coordinator:extend": "协调员（延长期限）",
}


async def live_answer(call: Awaitable[T], workflow_id: str) -> T | None:
    """The query's answer, or None if the workflow did not answer in time or could not."""
    try:
        return await asyncio.wait_for(call, LIVE_TIMEOUT)
    except (TimeoutError, Refused, RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
        log.warning("%s did not answer its query: %s", workflow_id, error or type(error).__name__)
        return None


def stage_name(programme: Programme | None, kind: StageKind) -> str:
    found = programme.stage(kind) if programme else None
    return found.name_zh if found else kind.value


def score_text(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def score_summary(status: ApplicationStatus) -> list[tuple[str, str]]:
    return [
        ("专家评审得分", score_text(status.expert_score)),
        ("现场评审得分", score_text(status.onsite_score)),
        ("陈述答辩得分", score_text(status.defence_score)),
        ("最终得分", score_text(status.final_score)),
    ]


def waiting_text(waiting_for: list[str]) -> str:
    experts = [w.removeprefix("expert:") for w in waiting_for if w.startswith("expert:")]
    named = [WAITING_ZH.get(w, w) for w in waiting_for if not w.startswith("expert:")]
    return "、".join([*named, *([f"专家 {len(experts)} 人未评分"] if experts else [])])
