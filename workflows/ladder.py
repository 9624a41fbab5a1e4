"""Deterministic rules of the ladder a cycle applies: who may recommend how many, and the store lookups."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from schemas.ladder import ReceivedRecommendation, RecommendationBatch, Recommender
    from schemas.programme import ApplicantKind

Request = TypeVar("Request", bound=BaseModel)
Answer = TypeVar("Answer", bound=BaseModel)
AWARDS = ("winner", "nomination")  # the award and its nomination award (提名奖); brands are winners

# Store reads: a failure is an outage (retried with backoff), never a reason to refuse someone.
LOOKUP_TIMEOUT = timedelta(seconds=60)
LOOKUP_DEADLINE = timedelta(hours=1)
LOOKUP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


async def lookup(activity: Callable[[Any, Request], Answer], request: Request) -> Answer:
    """A synchronous store activity, by method reference."""
    return await workflow.execute_activity_method(
        activity,
        request,
        start_to_close_timeout=LOOKUP_TIMEOUT,
        schedule_to_close_timeout=LOOKUP_DEADLINE,
        retry_policy=LOOKUP_RETRY,
    )


def _quota_kind(kind: ApplicantKind) -> str:
    return "individuals" if kind is ApplicantKind.INDIVIDUAL else "organisations"


def batch_problem(
    batch: RecommendationBatch,
    recommenders: Iterable[Recommender],
    received: Iterable[ReceivedRecommendation],
    *,
    accepting: bool,
    programme_zh: str,
) -> str | None:
    """Why this cycle may not record the batch, in Chinese and English; None when it may."""
    recommender = next((r for r in recommenders if r.programme == batch.from_programme), None)
    if recommender is None:
        return f"{batch.from_programme} 不向{programme_zh}推荐 (that programme does not feed this one)"
    if not accepting:
        return f"{programme_zh}本届已不再接收推荐 (this cycle no longer takes recommendations)"
    for candidate in batch.candidates:
        if candidate.award not in AWARDS:
            return f"{candidate.name} 未获奖，不能推荐 (only award holders are recommended, not {candidate.award})"
    keys = [c.holder_key for c in batch.candidates]
    if len(set(keys)) != len(keys):
        return "推荐名单中有重复对象 (a candidate appears twice in the batch)"
    mine = [r for r in received if r.from_programme == batch.from_programme]
    known = {r.applicant.holder_key for r in mine}
    for kind in ("organisations", "individuals"):
        limit = getattr(recommender, kind)
        taken = sum(_quota_kind(r.applicant.applicant_kind) == kind for r in mine)
        new = sum(_quota_kind(c.applicant_kind) == kind and c.holder_key not in known for c in batch.candidates)
        if taken + new > limit:
            what = "个人" if kind == "individuals" else "组织"
            return (
                f"超出推荐名额：{recommender.name_zh}每届最多推荐{limit}个{what}，已推荐{taken}个 "
                f"(over quota: at most {limit} {kind} from {recommender.programme}; {taken} already)"
            )
    return None
