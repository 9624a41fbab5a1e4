"""The office's documents for a signed-in reader of the cycle, and the public feed of notices.

`/console/cycles/{id}/results.xlsx` (results and the experts' score sheet), `notice.pdf` (the public
notice) and `approved.pdf` (the approved list) follow the API's rules on what each reader sees;
`/notices.atom` lists the published notices with what their public pages show.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from awardcycle import service
from awardcycle.service import Refused
from notifications.render import award_label
from programmes import load_catalogue
from schemas import ids
from schemas.application import ApplicationView, Outcome, ScoringTask
from schemas.common import SHANGHAI
from schemas.cycle import CycleStatus
from schemas.notice import NoticeStatus
from schemas.programme import StageKind
from store import queries
from store.db import session
from store.exports import AnnouncedAward, announced_awards, noticed_cycles
from store.tables import CycleRow
from web import exports, visibility
from web.auth import Access, access_to, principal_of
from web.deps import ClientDep, EngineDep, SettingsDep, of_kind
from web.routes.console import HEADERS, SignedIn
from web.routes.public_notice import office_contact, period_days

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

CYCLE = "/console/cycles/{cycle_id}"
SCORE_QUERIES = 8  # scoring queries in flight at once: a closed application is replayed on a worker to answer
FEED_LIMIT = 20  # the most recent cycles the feed lists, so one request asks Temporal at most this many times
FEED_TIMEOUT = 5.0  # seconds a notice has to answer before the feed goes on without it
# Feed readers poll; a notice runs for days, so five minutes late is harmless.
FEED_HEADERS = {"Cache-Control": "public, max-age=300"}
NOT_NOTICED = "该周期尚未进入公示阶段，暂无公示文件 (the cycle has not reached its public notice)"
NO_CANDIDATES = "该周期没有拟授奖对象，未发布公示 (the cycle had no candidates, so it published no notice)"
NOT_APPROVED = "该周期的评审结果尚未获批准，暂无获奖名单 (the cycle's results are not approved yet)"
ANNOUNCING = "评审结果已获批准，正在公布，请稍后再试 (the approved list is being announced; try again shortly)"


async def _reader(request: Request, holder: SignedIn, cycle_id: str) -> Access:
    return await access_to(request, principal_of(holder), cycle_id)


Reader = Annotated[Access, Depends(_reader)]


def _conflict(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail=reason)


def _produced(reader: Access, cycle: CycleStatus) -> exports.Produced:
    return exports.Produced(cycle.programme_name_zh, cycle.cycle_id, datetime.now(SHANGHAI), reader.cycle.rehearsal)


def _download(content: bytes, media_type: str, produced: exports.Produced, what: tuple[str, str], ext: str) -> Response:
    """The document as an attachment named `{cycle}-{what}-{date}.{ext}`, `what` in Chinese, then in ASCII."""
    chinese, plain = (f"{produced.cycle_id}-{name}-{produced.at:%Y%m%d}.{ext}" for name in what)
    disposition = exports.attachment(chinese, plain)
    return Response(content, media_type=media_type, headers={**HEADERS, "Content-Disposition": disposition})


def _views(engine: Engine, cycle_id: str) -> list[ApplicationView]:
    with session(engine) as s:
        return queries.application_views(s, cycle_id=cycle_id)


async def _scoring(client: Client, views: list[ApplicationView]) -> dict[str, dict[str, ScoringTask]]:
    """Each drawn expert's score of each application, by application and expert; experts yet to score are left out."""
    gate = asyncio.Semaphore(SCORE_QUERIES)

    async def one(application_id: str, expert_id: str) -> tuple[str, str, ScoringTask]:
        async with gate:
            return application_id, expert_id, await service.scoring_task(client, application_id, expert_id)

    answers = await asyncio.gather(*(one(v.application_id, e) for v in views for e in v.experts))
    scored: dict[str, dict[str, ScoringTask]] = {}
    for application_id, expert_id, task in answers:
        if task.scores:
            scored.setdefault(application_id, {})[expert_id] = task
    return scored


@router.get(f"{CYCLE}/results.xlsx", dependencies=[of_kind("cycle", "cycle_id")])
async def results_workbook(cycle_id: str, reader: Reader, client: ClientDep, engine: EngineDep) -> Response:
    """Every application with its state, score, rank and outcome; then the experts' scores by indicator."""
    cycle, stored = await asyncio.gather(
        service.cycle_status(client, cycle_id), run_in_threadpool(_views, engine, cycle_id)
    )
    views = [visibility.application_view(reader, v) for v in stored]
    shown = [v for v in views if visibility.shows_scores(reader, v.state)]
    scored = await _scoring(client, shown)
    rubric = next((task.rubric for tasks in scored.values() for task in tasks.values()), None)
    if rubric is None:  # nobody has scored yet: the columns of the programme's rubric as the catalogue has it
        programme = (await run_in_threadpool(load_catalogue)).get(cycle.programme_id)
        rubric = programme.rubric if programme else None
    indicators = exports.indicator_columns(rubric) if rubric else ()
    points = {a: {e: task.scores for e, task in tasks.items()} for a, tasks in scored.items()}
    book = exports.ResultsBook(
        produced=_produced(reader, cycle),
        results=exports.result_lines(views, cycle.programme_name_zh),
        indicators=indicators,
        scores=exports.score_lines(views, indicators, points),
        withheld=sum(1 for v in views if v.experts and not visibility.shows_scores(reader, v.state)),
    )
    content = await run_in_threadpool(exports.results_xlsx, book)
    return _download(content, exports.XLSX, book.produced, ("评审结果", "results"), "xlsx")


@router.get(f"{CYCLE}/notice.pdf", dependencies=[of_kind("cycle", "cycle_id")])
async def notice_document(
    cycle_id: str, request: Request, reader: Reader, client: ClientDep, settings: SettingsDep
) -> Response:
    """The public notice as published: the list on notice, its period, and how to object."""
    cycle = await service.cycle_status(client, cycle_id)
    if cycle.notice is None:
        entered = any(record.stage is StageKind.PUBLIC_NOTICE for record in cycle.stages)
        raise _conflict(NO_CANDIDATES if entered else NOT_NOTICED)
    try:
        notice = await service.notice_status(client, cycle.notice)
    except Refused as refused:  # the cycle names its notice a moment before the notice starts
        raise _conflict(NOT_NOTICED) from refused
    document = exports.NoticeDocument(
        produced=_produced(reader, cycle),
        publisher_zh=notice.publisher_zh,
        starts_at=notice.starts_at,
        ends_at=notice.ends_at,
        days=await run_in_threadpool(period_days, cycle.programme_id),
        contact=office_contact(request),
        url=f"{settings.public_base_url.rstrip('/')}/notices/{cycle_id}",
        listed=_listed(notice),
    )
    content = await run_in_threadpool(exports.notice_pdf, document)
    return _download(content, exports.PDF, document.produced, ("公示", "notice"), "pdf")


def _listed(notice: NoticeStatus) -> tuple[exports.Listed, ...]:
    return tuple(
        exports.Listed(c.name, c.category, c.region, award_label(c.proposed_award, notice.programme_name_zh))
        for c in notice.candidates
    )


def _announced(engine: Engine, cycle_id: str) -> list[AnnouncedAward]:
    with session(engine) as s:
        awards = announced_awards(s, cycle_id=cycle_id)
    # Winners, then nominations; each by score, as the cycle ranked them for the award.
    return sorted(awards, key=lambda a: (a.award != Outcome.WINNER.value, -(a.final_score or 0.0), a.application_id))


@router.get(f"{CYCLE}/approved.pdf", dependencies=[of_kind("cycle", "cycle_id")])
async def approved_document(cycle_id: str, reader: Reader, client: ClientDep, engine: EngineDep) -> Response:
    """The approved list as announced, with the approval's document number and date."""
    cycle = await service.cycle_status(client, cycle_id)
    if cycle.approval is None:
        raise _conflict(NOT_APPROVED)
    if not cycle.completed:  # the results are recorded as the cycle announces them, right after the approval
        raise _conflict(ANNOUNCING)
    awards, catalogue = await asyncio.gather(
        run_in_threadpool(_announced, engine, cycle_id), run_in_threadpool(load_catalogue)
    )
    programme = catalogue.get(cycle.programme_id)
    document = exports.ApprovedDocument(
        produced=_produced(reader, cycle),
        year=cycle.year,
        publisher_zh=programme.publisher_zh if programme else "",
        authority_zh=programme.approval_authority_zh if programme else "",
        document_number=cycle.approval.document_number,
        approved_on=cycle.approval.approved_on,
        listed=tuple(
            exports.Listed(a.name, a.category, a.region, award_label(a.award, cycle.programme_name_zh)) for a in awards
        ),
    )
    content = await run_in_threadpool(exports.approved_pdf, document)
    return _download(content, exports.PDF, document.produced, ("获奖名单", "approved"), "pdf")


def _noticed(engine: Engine) -> list[CycleRow]:
    with session(engine) as s:
        return noticed_cycles(s, limit=FEED_LIMIT)


async def _published(client: Client, cycle_id: str) -> NoticeStatus | None:
    """The cycle's notice, or None if it has none or did not answer in time."""
    try:
        return await asyncio.wait_for(service.notice_status(client, ids.notice_id(cycle_id)), FEED_TIMEOUT)
    except Refused:
        return None  # no notice: the cycle had no candidates
    except (TimeoutError, RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
        log.warning("the notice of %s did not answer for the feed: %s", cycle_id, error or type(error).__name__)
        return None


@router.get("/notices.atom")
async def notices_feed(request: Request, client: ClientDep, engine: EngineDep, settings: SettingsDep) -> Response:
    """The published public notices, newest first, each linking to its public page."""
    rows = await run_in_threadpool(_noticed, engine)
    notices = await asyncio.gather(*(_published(client, row.cycle_id) for row in rows))
    programmes = {row.programme_id for row in rows}
    days = await run_in_threadpool(lambda: {p: period_days(p) for p in programmes})
    base = settings.public_base_url.rstrip("/")
    entries = [
        exports.FeedEntry(
            cycle_id=row.cycle_id,
            url=f"{base}/notices/{row.cycle_id}",
            programme_zh=notice.programme_name_zh,
            publisher_zh=notice.publisher_zh,
            starts_at=notice.starts_at,
            ends_at=notice.ends_at,
            days=days[row.programme_id],
            listed=_listed(notice),
            rehearsal=row.day_seconds is not None,
        )
        for row, notice in zip(rows, notices, strict=True)
        if notice is not None
    ]
    entries.sort(key=lambda e: (e.starts_at, e.cycle_id), reverse=True)
    feed = exports.NoticeFeed(
        url=f"{base}/notices.atom",
        office=office_contact(request),
        produced_at=datetime.now(UTC),
        entries=tuple(entries),
    )
    content = await run_in_threadpool(exports.notices_atom, feed)
    return Response(content, media_type=exports.ATOM, headers=FEED_HEADERS)
