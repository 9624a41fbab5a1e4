"""The office's documents: the results workbook, the notice and approved-list PDFs and the notice feed,
against a real cycle on the time-skipping server and the real store, each read back and compared."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from urllib.parse import quote

import httpx
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from pypdf import PdfReader
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from awardcycle import samples, service
from awardcycle.simulation import Simulator, TemporalDesk
from config.settings import Settings
from notifications.render import award_label, outcome_label, zh_date
from programmes import get_programme
from schemas.application import STATE_ZH, ApplicationState, ApplicationView, Outcome
from schemas.common import SHANGHAI
from schemas.programme import Programme, StageKind
from store import queries
from store.db import session
from tests.scenario import StrongPlayer, apply_all, day_sleeper, play, small, start, until_stage
from tests.test_dashboard import console_session
from web import exports

QINGDAO = "qingdao-mayor-quality-award"
ATOM = {"a": "http://www.w3.org/2005/Atom"}


def view(number: int, final_score: float | None) -> ApplicationView:
    return ApplicationView(
        cycle_id="c",
        application_id=f"c.app-{number:04d}",
        sequence=0,
        name=f"企业{number}",
        applicant_kind="organisation",
        credit_code=None,
        category="制造业",
        state=ApplicationState.CONCLUDED,
        final_score=final_score,
    )


def produced(*, rehearsal: bool = False) -> exports.Produced:
    # 23:30 UTC is already the next day in Shanghai.
    return exports.Produced(
        "青岛市市长质量奖", "qingdao-mayor-quality-award-2026-x", datetime(2026, 6, 3, 23, 30, tzinfo=UTC), rehearsal
    )


def pdf_text(content: bytes) -> str:
    """The PDF's text without the line breaks and spaces its layout put in."""
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages))


def rows(sheet: Worksheet) -> list[list[object]]:
    """The data rows under the title row and the header row."""
    return [list(row) for row in sheet.iter_rows(min_row=3, values_only=True) if any(v is not None for v in row)]


def link(entry: ET.Element) -> str | None:
    found = entry.find("a:link", ATOM)
    return None if found is None else found.get("href")


def today() -> set[str]:
    return {zh_date(datetime.now(SHANGHAI)), f"{datetime.now(SHANGHAI):%Y%m%d}"}


def test_ranks_share_a_place_for_equal_scores_and_skip_the_unscored() -> None:
    views = [view(1, 80.0), view(2, 91.5), view(3, None), view(4, 80.0), view(5, 70.0)]
    assert exports.ranks(views) == {"c.app-0002": 1, "c.app-0001": 2, "c.app-0004": 2, "c.app-0005": 4}


def test_the_filename_has_an_ascii_fallback_and_the_chinese_name_per_rfc_5987() -> None:
    header = exports.attachment("c-2026-评审结果-20260604.xlsx", 'c-2026-results-20260604.xlsx"; evil=1')
    assert header.startswith('attachment; filename="c-2026-results-20260604.xlsx___evil_1"; ')
    assert header.endswith("filename*=UTF-8''c-2026-%E8%AF%84%E5%AE%A1%E7%BB%93%E6%9E%9C-20260604.xlsx")


def test_the_workbook_has_a_title_a_frozen_header_and_the_withheld_note() -> None:
    rubric = get_programme(QINGDAO).rubric
    indicators = exports.indicator_columns(rubric)
    views = [view(1, 80.0)]
    points = {
        "c.app-0001": {"e-2": {i.indicator_id: 5.0 for i in indicators}, "e-1": {indicators[0].indicator_id: 7.5}}
    }
    book = exports.ResultsBook(
        produced=produced(rehearsal=True),
        results=exports.result_lines(views, "青岛市市长质量奖"),
        indicators=indicators,
        scores=exports.score_lines(views, indicators, points),
        withheld=2,
    )
    workbook = load_workbook(io.BytesIO(exports.results_xlsx(book)))
    results, scores = workbook["评审结果"], workbook["专家评分表"]
    assert results["A1"].value == (
        "青岛市市长质量奖评审结果（演练）　周期：qingdao-mayor-quality-award-2026-x　生成日期：2026年6月4日"
    )
    assert [c.value for c in results[2]] == list(exports.RESULT_HEADERS)
    assert results.freeze_panes == scores.freeze_panes == "A3"
    assert rows(results) == [["c.app-0001", "企业1", None, "制造业", None, "已完结", 80.0, 1, None]]
    assert results.column_dimensions["B"].width >= len("名称") * 2 and results.column_dimensions["B"].width <= 60
    header = [c.value for c in scores[2]]
    assert header[:3] == ["申报编号", "名称", "专家编号"] and header[-2:] == ["专家合计", "专家评审得分"]
    assert header[3] == f"1.1 {rubric.groups[0].indicators[0].name_zh}（{rubric.groups[0].indicators[0].points}分）"
    first, second, note = rows(scores)
    assert first[:4] == ["c.app-0001", "企业1", "e-1", 7.5] and first[4] is None and first[-2] == 7.5
    assert second[2] == "e-2" and second[-2] == 5.0 * len(indicators)
    assert note[0] == "注：2件申报正在专家评审中，评审结束前不向您的角色显示专家评分。"


def test_the_pdf_shows_names_as_text_and_fetches_nothing() -> None:
    name = '<img src="file:///etc/hostname">有限公司'
    document = exports.ApprovedDocument(
        produced=produced(),
        year=2026,
        publisher_zh="青岛市市场监督管理局",
        authority_zh="青岛市人民政府",
        document_number="青政字〔2026〕12号",
        approved_on=date(2026, 6, 30),
        listed=(exports.Listed(name, "制造业", "市南区", "青岛市市长质量奖"),),
    )
    text = pdf_text(exports.approved_pdf(document))
    assert "2026年度青岛市市长质量奖获奖名单" in text and "青政字〔2026〕12号" in text
    assert re.sub(r"\s+", "", name) in text, "the name is escaped into text, never an element to load"
    assert "周期编号：qingdao-mayor-quality-award-2026-x" in text and "生成日期：2026年6月4日" in text
    assert "演练" not in text


async def scored_by_every_expert(env: WorkflowEnvironment, engine: Engine, cycle_id: str, player: StrongPlayer) -> None:
    """Play the expert review until every application is in it and none awaits an expert (it runs to its deadline)."""
    simulator = Simulator(TemporalDesk(env.client, engine), cycle_id, player, day_sleeper(env))
    for _ in range(400):
        status = await simulator.overview()
        views = status.applications
        if all(v.state is ApplicationState.EXPERT_REVIEW and v.experts for v in views) and not any(
            w.startswith("expert:") for v in views for w in v.waiting_for
        ):
            return
        await simulator.step(status)
        await asyncio.sleep(0.05)
    raise AssertionError(f"the experts of {cycle_id} never all scored")


async def expected_scores(env: WorkflowEnvironment, views: list[ApplicationView]) -> list[list[object]]:
    """The score sheet's rows as the applications' own queries give them."""
    expected: list[list[object]] = []
    for v in views:
        totals = (await service.application_status(env.client, v.application_id)).scores
        for expert_id in sorted(totals):
            task = await service.scoring_task(env.client, v.application_id, expert_id)
            points = [task.scores[i.id] for i in task.rubric.indicators]
            expected.append([v.application_id, v.name, expert_id, *points, totals[expert_id], v.expert_score])
    return expected


async def download(client: httpx.AsyncClient, url: str, media_type: str, what: str) -> bytes:
    answer = await client.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == media_type and answer.headers["cache-control"] == "no-store"
    disposition = answer.headers["content-disposition"]
    cycle_id = url.split("/")[3]
    assert any(
        disposition.endswith(f"UTF-8''{quote(f'{cycle_id}-{what}-{day}', safe='')}.{url.rsplit('.', 1)[1]}")
        for day in today()
    ), disposition
    return answer.content


def read_model(engine: Engine, cycle_id: str) -> list[ApplicationView]:
    with session(engine) as s:
        return queries.application_views(s, cycle_id=cycle_id)


def expected_results(views: list[ApplicationView], programme: Programme) -> list[list[object]]:
    finals = [v.final_score for v in views if v.final_score is not None]
    return [
        [
            v.application_id,
            v.name,
            v.credit_code,
            v.category,
            v.region or None,
            STATE_ZH[v.state],
            v.final_score,
            None if v.final_score is None else 1 + sum(1 for f in finals if f > v.final_score),
            outcome_label(v.outcome.value, programme.name_zh) if v.outcome else None,
        ]
        for v in views
    ]


async def test_the_office_downloads_its_documents_and_the_public_reads_the_feed(
    api: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    env: WorkflowEnvironment,
    engine: Engine,
    settings: Settings,
    task_queue: str,
) -> None:
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"docs-{uuid.uuid4().hex[:6]}")
    applied = {str(n): samples.application(programme, n) for n in range(1, 6)}
    await apply_all(env.client, cycle_id, applied)
    player = StrongPlayer(programme=programme, departments=True)
    base = f"/console/cycles/{cycle_id}"
    xlsx, notice, approved = f"{base}/results.xlsx", f"{base}/notice.pdf", f"{base}/approved.pdf"

    async with (
        console_session(api, "qd-coord") as coordinator,
        console_session(api, "qd-onsite") as onsite,
        console_session(api, "jn-coord") as stranger,
    ):
        early = await coordinator.get(notice)
        assert early.status_code == 409 and early.json()["detail"] == (
            "该周期尚未进入公示阶段，暂无公示文件 (the cycle has not reached its public notice)"
        )
        unapproved = await coordinator.get(approved)
        assert unapproved.status_code == 409 and "尚未获批准" in unapproved.json()["detail"]
        for url in (xlsx, notice, approved):
            refused = await stranger.get(url)
            assert refused.status_code == 403 and QINGDAO in refused.json()["detail"], url
            away = await anonymous.get(url)
            assert (away.status_code, away.headers["location"]) == (303, f"/login?next={quote(url)}")
        for url in (f"/console/cycles/{QINGDAO}-2026-nosuch/results.xlsx", f"{base}.app-0001/notice.pdf"):
            assert (await coordinator.get(url)).status_code == 404, url

        # While the review is open the on-site team sees no expert's score; the coordinator sees every one.
        await until_stage(env, engine, cycle_id, player, StageKind.EXPERT_REVIEW)
        await scored_by_every_expert(env, engine, cycle_id, player)
        reviewing = read_model(engine, cycle_id)
        book = load_workbook(io.BytesIO(await download(coordinator, xlsx, exports.XLSX, "评审结果")))
        assert rows(book["专家评分表"]) == await expected_scores(env, reviewing)
        assert len(rows(book["专家评分表"])) == sum(len(v.experts) for v in reviewing) > 0
        hidden = load_workbook(io.BytesIO(await download(onsite, xlsx, exports.XLSX, "评审结果")))
        withheld = f"注：{len(reviewing)}件申报正在专家评审中，评审结束前不向您的角色显示专家评分。"
        assert [row[0] for row in rows(hidden["专家评分表"])] == [withheld], "no score, only the note"

        status = await until_stage(env, engine, cycle_id, player, StageKind.PUBLIC_NOTICE, opened="notice")
        assert status.notice is not None
        published = await service.notice_status(env.client, status.notice)
        text = pdf_text(await download(coordinator, notice, exports.PDF, "公示"))
        assert f"关于{programme.name_zh}拟授奖名单的公示" in text and "演练文件，不作正式公布" in text
        assert f"公示期：{zh_date(published.starts_at)}至" in text and "（7个工作日）" in text
        assert "匿名异议及超出公示期的异议不予受理" in text and f"/notices/{cycle_id}" in text
        assert f"周期编号：{cycle_id}" in text and any(f"生成日期：{day}" in text for day in today())
        for candidate in published.candidates:
            assert f"{candidate.name}{candidate.category}{candidate.region}" in text
        assert all(form.contact_email not in text for form in applied.values())
        public = await anonymous.get(f"/notices/{cycle_id}")
        assert f"公示期：{zh_date(published.starts_at)}至" in public.text, "the same period as the public page"
        unannounced = await coordinator.get(approved)
        assert unannounced.status_code == 409 and "尚未获批准" in unannounced.json()["detail"]

        feed = await anonymous.get("/notices.atom")
        assert feed.status_code == 200 and feed.headers["content-type"] == exports.ATOM
        root = ET.fromstring(feed.content)
        page = f"{settings.public_base_url}/notices/{cycle_id}"
        [entry] = [e for e in root.findall("a:entry", ATOM) if link(e) == page]
        assert entry.findtext("a:title", namespaces=ATOM) == f"关于{programme.name_zh}拟授奖名单的公示（演练）"
        assert entry.findtext("a:id", namespaces=ATOM) == page
        summary = entry.findtext("a:summary", namespaces=ATOM) or ""
        assert all(
            c.name in summary and award_label(c.proposed_award, programme.name_zh) in summary
            for c in published.candidates
        )
        assert f"公示期：{zh_date(published.starts_at)}至" in summary
        assert not any(
            form.contact_email in feed.text or (form.credit_code or "-") in feed.text for form in applied.values()
        ), "nothing the public page does not show"

        status = await play(env, engine, cycle_id, player)
        assert status.approval is not None and status.completed
        with session(engine) as s:
            results = queries.list_results(s, cycle_id=cycle_id)
        assert {r.award for r in results} == {Outcome.WINNER.value, Outcome.NOMINATION.value}
        text = pdf_text(await download(coordinator, approved, exports.PDF, "获奖名单"))
        assert f"2026年度{programme.name_zh}获奖名单" in text and status.approval.document_number in text
        assert f"经{programme.approval_authority_zh}批准" in text and zh_date(status.approval.approved_on) in text
        ordered = sorted(results, key=lambda r: (r.award != "winner", -(r.final_score or 0), r.application_id))
        views = {v.application_id: v for v in read_model(engine, cycle_id)}
        lines = [
            f"{number}{r.name}{views[r.application_id].category}{views[r.application_id].region}"
            f"{award_label(r.award, programme.name_zh)}"
            for number, r in enumerate(ordered, start=1)
        ]
        assert all(line in text for line in lines) and [text.index(line) for line in lines] == sorted(
            text.index(line) for line in lines
        ), "winners first, each in the order of its score"

        concluded = read_model(engine, cycle_id)
        for reader in (coordinator, onsite):  # once review has closed the on-site team sees the scores too
            book = load_workbook(io.BytesIO(await download(reader, xlsx, exports.XLSX, "评审结果")))
            sheet = book["评审结果"]
            title = sheet["A1"].value
            assert isinstance(title, str) and title.startswith(f"{programme.name_zh}评审结果（演练）　周期：{cycle_id}")
            assert any(title.endswith(f"生成日期：{day}") for day in today())
            assert [c.value for c in sheet[2]] == list(exports.RESULT_HEADERS) and sheet.freeze_panes == "A3"
            assert rows(sheet) == expected_results(concluded, programme)
            assert rows(book["专家评分表"]) == await expected_scores(env, concluded)
