"""The console's cycle page, against a real cycle on the time-skipping server and the real store."""

from __future__ import annotations

import html
import re
import uuid
from datetime import date, datetime

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from activities.calendar import WorkingDayCalendar
from awardcycle import service
from awardcycle.simulation import Simulator, TemporalDesk
from programmes import get_programme
from schemas.application import ApplicationState
from schemas.calendar import CalendarSpec
from schemas.common import SHANGHAI, HolidayCalendar
from schemas.cycle import CycleStatus, StageRecord
from schemas.programme import Programme, StageKind
from store import queries
from store.db import session
from tests.conftest import login
from tests.console import page_until, section
from tests.scenario import (
    ScriptedPlayer,
    apply_all,
    day_sleeper,
    forms,
    overview_showing,
    small,
    start,
    terminate,
    until_stage,
)
from web.calendar_chart import DayKind, Span, SpanState, chart, day_kinds
from web.cycle_calendar import cycle_calendar_spec, working_days
from web.cycle_page import SCORES_HIDDEN, schedule

QINGDAO = "qingdao-mayor-quality-award"
CALENDAR = WorkingDayCalendar(CalendarSpec())


def test_a_break_is_shaded_whole_and_adjusted_workdays_apart() -> None:
    kinds, missing = day_kinds(date(2026, 4, 1), date(2026, 5, 12), CALENDAR)
    assert missing == []
    assert [kinds[date(2026, 5, d)] for d in range(1, 6)] == [DayKind.HOLIDAY] * 5, "五一: 1–5 May, weekend included"
    assert [kinds[date(2026, 4, d)] for d in (4, 5, 6)] == [DayKind.HOLIDAY] * 3, "清明: Saturday to Monday"
    assert kinds[date(2026, 5, 9)] is DayKind.WORKDAY, "Saturday 9 May is worked (调休)"
    assert kinds[date(2026, 4, 11)] is DayKind.WEEKEND and kinds[date(2026, 5, 10)] is DayKind.WEEKEND
    assert kinds[date(2026, 4, 7)] is DayKind.WORKING


def opened_in_december(programme: Programme, year: int) -> CycleStatus:
    """A cycle whose call for applications opened on 1 December: its next stages run into the next year."""
    opened = datetime(year, 12, 1, 9, tzinfo=SHANGHAI)
    deadline = datetime(year, 12, 15, tzinfo=SHANGHAI)
    return CycleStatus(
        cycle_id=f"{QINGDAO}-{year}-late", programme_id=QINGDAO, programme_name_zh=programme.name_zh, year=year,
        stage=StageKind.APPLICATION, stage_deadline=deadline, cycle_time=opened, day_seconds=None,
        stages=[StageRecord(stage=StageKind.APPLICATION, started_at=opened, deadline=deadline)], application_count=0,
        shortlist=[], consultations=[], notice=None, approval=None, awards=[], recommendations=[], completed=False,
    )  # fmt: skip


def test_a_year_without_holiday_data_gets_a_note_not_a_guess() -> None:
    span = Span("专家评审", date(2026, 12, 20), date(2027, 1, 20), SpanState.OPEN, "")
    drawn = chart([span], date(2026, 12, 25), CALENDAR, [])
    assert any("没有 2027 年的节假日数据" in note for note in drawn.notes), drawn.notes
    kinds = {day.iso: day.kind for day in drawn.shaded}
    assert kinds["2027-01-01"] is DayKind.UNKNOWN, "New Year's Day 2027 is not guessed to be a holiday"
    assert kinds["2027-01-02"] is DayKind.UNKNOWN_WEEKEND, "nor a 2027 Saturday guessed to be a day off"
    assert kinds["2026-12-26"] is DayKind.WEEKEND

    # A cycle whose next stages would run into 2027: planned as far as the data goes, then said so.
    programme = get_programme(QINGDAO)
    planned = schedule(opened_in_december(programme, 2026), programme)
    assert planned.chart is not None
    assert any("无法推算" in note and "2027" in note for note in planned.chart.notes), planned.chart.notes
    lines = {line.kind: line for line in planned.lines}
    assert lines["qualification"].state_zh == "预计" and "2026年12月22日" in lines["qualification"].deadline_zh
    assert (lines["material"].state_zh, lines["material"].deadline_zh) == ("待定", "无法推算")
    assert lines["announcement"].state_zh == "待定"


def listed(page: str) -> list[str]:
    """The application ids of the table's rows, in order."""
    return re.findall(r'<tr id="application-([^"]+)">', page)


def funnel(page: str) -> dict[str, int]:
    rows = re.findall(r'<tr id="funnel-([a-z_]+)">.*?<td class="count">(\d+)</td>', page, re.S)
    return {state: int(count) for state, count in rows}


def shaded(page: str) -> dict[str, str]:
    return dict((day, kind) for kind, day in re.findall(r'<rect class="day (\w+)" data-date="([\d-]+)"', page))


# A coordinator's calendar for 2027, which the library does not cover: 清明 on Monday 5 April, 五一 from
# Saturday 1 to Wednesday 5 May with Saturday 8 May worked in exchange.
SUPPLIED_2027 = CalendarSpec(
    supplied=[
        HolidayCalendar(
            year=2027,
            holidays=[date(2027, 4, 5), *(date(2027, 5, d) for d in range(1, 6))],
            workdays=[date(2027, 5, 8)],
        )
    ]
)


def test_a_supplied_year_is_shaded_and_a_year_beyond_it_says_it_has_no_data() -> None:
    calendar = working_days(SUPPLIED_2027)
    span = Span("专家评审", date(2027, 12, 20), date(2028, 1, 20), SpanState.OPEN, "")
    drawn = chart([span], date(2027, 12, 25), calendar, [], supplied=[2027])
    kinds = {day.iso: day.kind for day in drawn.shaded}
    assert kinds["2027-12-25"] is DayKind.WEEKEND, "2027 is counted from the supplied calendar"
    assert "2027-12-27" not in kinds, "an ordinary Monday of the supplied year is a working day"
    assert kinds["2028-01-03"] is DayKind.UNKNOWN and kinds["2028-01-01"] is DayKind.UNKNOWN_WEEKEND
    titles = {day.iso: day.title for day in drawn.shaded}
    assert "无节假日数据" in titles["2028-01-03"] and "可能是调休上班日" in titles["2028-01-01"]
    [note] = drawn.notes
    assert "本周期启动时提供了 2027 年的节假日数据，但没有 2028 年的节假日数据" in note, note

    # The plan of a cycle that opens late in the supplied year runs into the year beyond it, and says so.
    programme = get_programme(QINGDAO)
    status = opened_in_december(programme, 2027)
    planned = schedule(status, programme, SUPPLIED_2027)
    assert planned.chart is not None and planned.left_zh.startswith("剩余"), "2027's working days are known"
    assert any("无法推算" in note and "2028" in note for note in planned.chart.notes), planned.chart.notes
    library_only = schedule(status, programme)
    assert library_only.left_zh.startswith("工作日数未知"), "without the supplied calendar 2027 is unknown"


async def test_the_cycle_page_shades_the_holidays_supplied_at_the_start(
    api: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str
) -> None:
    programme = get_programme(QINGDAO)
    cycle_id = await service.start_cycle(
        env.client, programme, 2027, task_queue=task_queue, day_seconds=86400, calendar=SUPPLIED_2027,
        cycle_id=f"{QINGDAO}-2027-supplied-{uuid.uuid4().hex[:6]}",
    )  # fmt: skip
    url = f"/console/cycles/{cycle_id}"
    page = await page_until(api, url, lambda text: 'id="calendar"' in text)
    days = shaded(section(page, "schedule"))
    assert days["2027-04-05"] == days["2027-05-05"] == "holiday" and days["2027-05-08"] == "workday"
    assert "unknown" not in days.values() and "没有 2027 年的节假日数据" not in page
    assert await cycle_calendar_spec(env.client, cycle_id) == SUPPLIED_2027
    board = await page_until(api, "/console?year=2027", lambda text: f'id="cycle-{cycle_id}"' in text, answered=False)
    found = re.search(rf'<tr id="cycle-{re.escape(cycle_id)}">(.*?)</tr>', board, re.S)
    assert found and "剩余" in found[1] and "工作日数未知" not in found[1], "the dashboard counts with it too"
    await terminate(env.client, cycle_id)


async def test_the_cycle_page_follows_a_real_cycle(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient, env: WorkflowEnvironment, engine: Engine, task_queue: str
) -> None:
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"page-{uuid.uuid4().hex[:6]}")
    labels = await apply_all(env.client, cycle_id, forms(programme))
    url = f"/console/cycles/{cycle_id}"

    page = await page_until(api, url, lambda text: f"共 {len(labels)} 条" in text)
    stages = section(page, "schedule")
    assert re.search(r'<tr id="stage-application"><td>自愿申报与区市推荐</td><td>进行中</td>', stages)
    assert "2026年3月27日（星期五）24:00" in stages and "剩余 20 个工作日" in stages
    assert re.search(r'<tr id="stage-qualification"><td>资格审查</td><td>预计</td>', stages)
    days = shaded(stages)
    assert days["2026-05-01"] == days["2026-05-02"] == days["2026-04-06"] == "holiday", "五一 and 清明 on the plan"
    assert days["2026-05-09"] == "workday" and days["2026-03-07"] == "weekend"
    assert "2026-03-09" not in days, "an ordinary Monday is not shaded"
    with session(engine) as s:
        counts = queries.application_counts(s, cycle_id=cycle_id)
    assert funnel(page) == {state.value: counts.get(state.value, 0) for state in ApplicationState}
    assert "consultation-grid" not in page and 'id="objections"' not in page, "no consultation or notice yet"

    first = await api.get(url, params={"limit": 4})
    assert listed(first.text) == sorted(labels)[:4]
    assert f'href="{url}?offset=4&amp;limit=4"' in first.text and 'rel="prev"' not in first.text
    last = await api.get(url, params={"offset": 8, "limit": 4})
    assert listed(last.text) == sorted(labels)[8:] and "第 9–10 条，共 10 条" in last.text
    assert f'href="{url}?offset=4&amp;limit=4"' in last.text and 'rel="next"' not in last.text
    for query, reason in [
        ({"limit": "0"}, "每页条数须为 1–500"),
        ({"limit": "501"}, "每页条数须为 1–500"),
        ({"offset": "-1"}, "起始位置不能为负数"),
        ({"limit": "abc"}, "limit 须为整数"),
        ({"offset": "１"}, "offset 须为整数"),
        ({"state": "bogus"}, "未知申报状态"),
        ({"order": "name"}, "未知排序方式"),
        ({"scores": f"{QINGDAO}-2026-other.app-0001"}, "不是本周期的申报编号"),
    ]:
        refused = await api.get(url, params=query)
        assert refused.status_code == 422, query
        assert reason in html.unescape(refused.text) and 'role="alert"' in refused.text, query
        assert "退出登录" in refused.text, "the page still says who is logged in"
    unknown = await api.get(f"{url}-nope")
    assert unknown.status_code == 404 and "未找到" in unknown.text and "退出登录" in unknown.text
    assert (await api.get(f"/console/cycles/{cycle_id}.app-0001")).status_code == 404, "a child's id is no cycle"
    assert (await api.get(url, params={"scores": f"{cycle_id}.app-9999"})).status_code == 404
    stranger = await api.get(url, headers=await login(api, "jn-coord"))
    assert stranger.status_code == 403 and "无权访问该项目" in stranger.text and "申报列表" not in stranger.text
    away = await anonymous.get(url)
    assert (away.status_code, away.headers["location"]) == (303, f"/login?next={url}")
    dashboard = await api.get("/console?year=2026")
    assert f'<a href="/console/cycles/{cycle_id}">' in dashboard.text, "the dashboard links each cycle to its page"

    # Expert review: one expert scores; the on-site team may not see it while the review is open.
    player = ScriptedPlayer(programme=programme, labels=labels, departments=True)
    await until_stage(env, engine, cycle_id, player, StageKind.EXPERT_REVIEW)
    reviewed = await overview_showing(
        env.client, engine, cycle_id, lambda o: any(v.waiting_for for v in o.applications), state="expert_review"
    )
    view = next(v for v in reviewed.applications if v.waiting_for)
    expert = view.experts[0]
    score = player.score(view.application_id, expert)
    await service.perform(env.client, view.application_id, "submit_score", score)
    detail = {"scores": view.application_id}
    onsite = await page_until(api, url, lambda _: True, params=detail, headers=await login(api, "qd-onsite"))
    assert SCORES_HIDDEN in html.unescape(onsite) and 'id="score-table"' not in onsite
    secretariat = await login(api, "qd-secretariat")
    scored = section(await page_until(api, url, lambda _: True, params=detail, headers=secretariat), "scores")
    indicator = programme.rubric.indicators[0]
    assert re.search(
        rf"<td>{re.escape(indicator.name_zh)}</td><td>{indicator.points}</td><td class=\"score\">"
        rf"{score.scores[indicator.id]:g}</td>",
        scored,
    ), scored
    names = {e.id: e.name for e in programme.expert_review.pool}
    assert f'<th scope="col">{expert}</th>' in scored and names[expert] not in scored, "no expert names"
    assert "未评分" in scored, "the other drawn experts have not scored"
    assert f"{names[expert]}（{expert}）" in section(
        await page_until(api, url, lambda _: True, params=detail), "scores"
    )
    with session(engine) as s:
        concluded, _ = queries.application_page(s, cycle_id=cycle_id, state="concluded", offset=0, limit=50)
    filtered = await api.get(url, params={"state": "concluded"})
    assert listed(filtered.text) == [v.application_id for v in concluded] and concluded
    assert '<option value="concluded" selected>' in filtered.text

    # Public notice: the consultation is over, and the public has objected.
    await until_stage(env, engine, cycle_id, player, StageKind.PUBLIC_NOTICE, opened="notice")
    simulator = Simulator(TemporalDesk(env.client, engine), cycle_id, player, day_sleeper(env))
    assert await simulator.step(await simulator.overview()), "the scripted public lodges its objection"
    page = await page_until(api, url, lambda text: 'id="objections"' in text)
    grid = section(page, "consultation")
    assert grid.count('<th scope="row">') == len(programme.departments)
    assert "有异议（取消资格）" in grid and "该企业近三年存在严重失信记录" in grid
    assert grid.count("逾期，按规则视为无异议") == player.silent_departments
    assert f"逾期 {player.silent_departments} 个部门" in grid and "异议 1 条" in grid
    objections = section(page, "notice")
    assert "张三" in objections and "该企业产品曾被抽检不合格" in objections and "待处理" in objections
    seen = await page_until(api, url, lambda _: True, headers=secretariat)
    assert "（已隐去）" in section(seen, "notice") and "张三" not in seen, "no objector's name for the secretariat"
    assert "/audit/" not in seen and "/audit/" in page, "nor the audit timeline, which names them"
    with session(engine) as s:
        counts = queries.application_counts(s, cycle_id=cycle_id)
        ranked, _ = queries.application_page(s, cycle_id=cycle_id, state=None, offset=0, limit=50, order="score")
    assert funnel(page) == {state.value: counts.get(state.value, 0) for state in ApplicationState}
    by_score = await api.get(url, params={"order": "score"})
    assert listed(by_score.text) == [v.application_id for v in ranked]
    assert 'class="bar open"' in section(page, "schedule") and "结果公示" in section(page, "schedule")
    await terminate(env.client, cycle_id)
