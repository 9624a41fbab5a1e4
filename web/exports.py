"""The documents the award office uses: results and score sheets as .xlsx, the public notice and the approved
list as PDF, and the Atom feed of published notices.

Pure functions from the frozen classes here to bytes; web/routes/exports.py gathers the data.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parseaddr
from io import BytesIO
from urllib.parse import quote

from feedgen.feed import FeedGenerator
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from notifications.render import outcome_label, zh_date, zh_datetime
from schemas.application import STATE_ZH, ApplicationView
from schemas.programme import Rubric
from web.templating import templates
from workflows.rules import expert_total

FEED_TITLE = "质量奖评审公示"
REHEARSAL_ZH = "演练"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"
ATOM = "application/atom+xml; charset=utf-8"
RESULT_HEADERS = ("申报编号", "名称", "统一社会信用代码", "类别", "地区", "状态", "总分", "排名", "结果")
WIDEST_COLUMN = 60  # characters; a long name wraps instead of widening the sheet past a screen
_HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
# Nothing in a document is fetched: every resource is inline and the fonts come from fontconfig.
_NO_FETCHING = URLFetcher(allowed_protocols=())


@dataclass(frozen=True)
class Produced:
    """Which cycle a document is of, and when it was produced."""

    programme_zh: str
    cycle_id: str
    at: datetime
    rehearsal: bool

    @property
    def on_zh(self) -> str:
        return zh_date(self.at)


@dataclass(frozen=True)
class ResultLine:
    application_id: str
    name: str
    credit_code: str
    category: str
    region: str
    state_zh: str
    final_score: float | None
    rank: int | None
    outcome_zh: str


@dataclass(frozen=True)
class IndicatorColumn:
    indicator_id: str
    header: str


@dataclass(frozen=True)
class ScoreLine:
    """One expert's score of one application, indicator by indicator."""

    application_id: str
    name: str
    expert_id: str
    points: tuple[float | None, ...]
    total: float
    expert_score: float | None


@dataclass(frozen=True)
class ResultsBook:
    produced: Produced
    results: tuple[ResultLine, ...]
    indicators: tuple[IndicatorColumn, ...]
    scores: tuple[ScoreLine, ...]
    withheld: int  # applications under expert review, whose scores this reader may not see yet


@dataclass(frozen=True)
class Listed:
    """One line of a list on notice or announced."""

    name: str
    category: str
    region: str
    award_zh: str


@dataclass(frozen=True)
class NoticeDocument:
    produced: Produced
    publisher_zh: str
    starts_at: datetime
    ends_at: datetime
    days: str
    contact: str
    url: str
    listed: tuple[Listed, ...]


@dataclass(frozen=True)
class ApprovedDocument:
    produced: Produced
    year: int
    publisher_zh: str
    authority_zh: str
    document_number: str
    approved_on: date
    listed: tuple[Listed, ...]


@dataclass(frozen=True)
class FeedEntry:
    cycle_id: str
    url: str
    programme_zh: str
    publisher_zh: str
    starts_at: datetime
    ends_at: datetime
    days: str
    listed: tuple[Listed, ...]
    rehearsal: bool


@dataclass(frozen=True)
class NoticeFeed:
    url: str
    office: str  # "名称 <address>", as the office signs its mail
    produced_at: datetime
    entries: tuple[FeedEntry, ...]


def notice_title(programme_zh: str) -> str:
    return f"关于{programme_zh}拟授奖名单的公示"


def approved_title(programme_zh: str, year: int) -> str:
    return f"{year}年度{programme_zh}获奖名单"


def attachment(name: str, fallback: str) -> str:
    """A Content-Disposition naming the file; `filename*` (RFC 5987) carries the Chinese name."""
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in fallback)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def ranks(views: Sequence[ApplicationView]) -> dict[str, int]:
    """Rank by final score, highest first; equal scores share a rank (1, 2, 2, 4); the unscored have none."""
    scores = sorted((v.final_score for v in views if v.final_score is not None), reverse=True)
    first: dict[float, int] = {}
    for place, score in enumerate(scores, start=1):
        first.setdefault(score, place)
    return {v.application_id: first[v.final_score] for v in views if v.final_score is not None}


def result_lines(views: Sequence[ApplicationView], programme_zh: str) -> tuple[ResultLine, ...]:
    ranked = ranks(views)
    return tuple(
        ResultLine(
            application_id=v.application_id,
            name=v.name,
            credit_code=v.credit_code or "",
            category=v.category,
            region=v.region,
            state_zh=STATE_ZH[v.state],
            final_score=v.final_score,
            rank=ranked.get(v.application_id),
            outcome_zh=outcome_label(v.outcome.value, programme_zh) if v.outcome else "",
        )
        for v in views
    )


def indicator_columns(rubric: Rubric) -> tuple[IndicatorColumn, ...]:
    return tuple(
        IndicatorColumn(indicator.id, f"{indicator.id} {indicator.name_zh}（{indicator.points}分）")
        for group in rubric.groups
        for indicator in group.indicators
    )


def score_lines(
    views: Sequence[ApplicationView],
    indicators: Sequence[IndicatorColumn],
    scored: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> tuple[ScoreLine, ...]:
    """A line per application and expert in `scored` (application id → expert id → points by indicator)."""
    return tuple(
        ScoreLine(
            application_id=v.application_id,
            name=v.name,
            expert_id=expert_id,
            points=tuple(points.get(column.indicator_id) for column in indicators),
            total=expert_total(dict(points)),
            expert_score=v.expert_score,
        )
        for v in views
        for expert_id, points in sorted(scored.get(v.application_id, {}).items())
    )


def _title_of(produced: Produced, what: str) -> str:
    rehearsal = f"（{REHEARSAL_ZH}）" if produced.rehearsal else ""
    return f"{produced.programme_zh}{what}{rehearsal}　周期：{produced.cycle_id}　生成日期：{produced.on_zh}"


def _display_width(value: object) -> int:
    text = "" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _sheet(sheet: Worksheet, title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A title row across the table, a frozen and filterable header row, then the rows."""
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(list(headers))
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in rows:
        sheet.append(list(row))
    for line in sheet.iter_rows(min_row=3):
        for cell in line:
            if isinstance(cell.value, float):
                cell.number_format = "0.00"
    sheet.freeze_panes = "A3"
    sheet.auto_filter.ref = f"A2:{get_column_letter(len(headers))}{max(sheet.max_row, 2)}"
    for index, header in enumerate(headers, start=1):
        widest = max([_display_width(header), *(_display_width(row[index - 1]) for row in rows)])
        sheet.column_dimensions[get_column_letter(index)].width = min(widest + 2, WIDEST_COLUMN)


def results_xlsx(book: ResultsBook) -> bytes:
    workbook = Workbook()
    results = workbook.active
    assert results is not None, "a new workbook has its first sheet"
    results.title = "评审结果"
    _sheet(
        results,
        _title_of(book.produced, "评审结果"),
        RESULT_HEADERS,
        [
            [
                r.application_id,
                r.name,
                r.credit_code,
                r.category,
                r.region,
                r.state_zh,
                r.final_score,
                r.rank,
                r.outcome_zh,
            ]
            for r in book.results
        ],
    )
    scores = workbook.create_sheet("专家评分表")
    headers = ("申报编号", "名称", "专家编号", *(c.header for c in book.indicators), "专家合计", "专家评审得分")
    rows = [(s.application_id, s.name, s.expert_id, *s.points, s.total, s.expert_score) for s in book.scores]
    _sheet(scores, _title_of(book.produced, "专家评分表"), headers, rows)
    if book.withheld:
        scores.append([])
        scores.append([f"注：{book.withheld}件申报正在专家评审中，评审结束前不向您的角色显示专家评分。"])
    workbook.properties.title = _title_of(book.produced, "评审结果")
    workbook.properties.creator = "awardcycle"
    out = BytesIO()
    workbook.save(out)
    return out.getvalue()


def _pdf(template: str, **context: object) -> bytes:
    html = templates.get_template(template).render(**context)
    pdf: bytes = HTML(string=html, url_fetcher=_NO_FETCHING).write_pdf()
    return pdf


def notice_pdf(document: NoticeDocument) -> bytes:
    return _pdf(
        "doc_notice.html",
        title=notice_title(document.produced.programme_zh),
        produced=document.produced,
        document=document,
        starts=zh_date(document.starts_at),
        # The notice ends at 24:00 of its last day, shown as that day (as on the public page).
        ends=zh_datetime(document.ends_at),
    )


def approved_pdf(document: ApprovedDocument) -> bytes:
    return _pdf(
        "doc_approved.html",
        title=approved_title(document.produced.programme_zh, document.year),
        produced=document.produced,
        document=document,
        approved_on=zh_date(document.approved_on),
    )


def _summary(entry: FeedEntry) -> str:
    period = f"公示期：{zh_date(entry.starts_at)}至{zh_datetime(entry.ends_at)}" + (
        f"（{entry.days}）。" if entry.days else "。"
    )
    listed = "；".join(
        f"{number}. {c.name}（{'，'.join(filter(None, (c.category, c.region)))}），拟授{c.award_zh}"
        for number, c in enumerate(entry.listed, start=1)
    )
    return f"{period}公示名单：{listed}。异议请在公示期内通过公示页面实名提出。"


def notices_atom(feed: NoticeFeed) -> bytes:
    generator = FeedGenerator()
    generator.id(feed.url)
    generator.title(FEED_TITLE)
    generator.link(href=feed.url, rel="self")
    generator.language("zh-CN")
    name, address = parseaddr(feed.office)
    generator.author({"name": name or feed.office, **({"email": address} if address else {})})
    generator.updated(max((e.starts_at for e in feed.entries), default=feed.produced_at))
    for entry in feed.entries:
        item = generator.add_entry(order="append")
        item.id(entry.url)
        rehearsal = f"（{REHEARSAL_ZH}）" if entry.rehearsal else ""
        item.title(f"{notice_title(entry.programme_zh)}{rehearsal}")
        item.link(href=entry.url, rel="alternate", type="text/html")
        item.author({"name": entry.publisher_zh or entry.programme_zh})
        item.published(entry.starts_at)
        item.updated(entry.starts_at)
        item.summary(_summary(entry))
    atom: bytes = generator.atom_str(pretty=True)
    return atom
