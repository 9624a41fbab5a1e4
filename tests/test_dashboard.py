"""The console's dashboard, against a real cycle on the time-skipping server and the real store."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from activities.calendar import WorkingDayCalendar
from awardcycle import samples
from config.settings import Settings
from programmes import get_programme
from schemas.calendar import CalendarSpec
from schemas.common import SHANGHAI
from store import queries
from store.db import session
from tests.conftest import login
from tests.console import console_session, page_until
from web.main import create_app

QINGDAO = "qingdao-mayor-quality-award"
YEAR_PAGE = "/console?year=2026"


def row(page: str, cycle_id: str) -> str:
    found = re.search(rf'<tr id="cycle-{re.escape(cycle_id)}">(.*?)</tr>', page, re.S)
    assert found, f"{cycle_id} is not on the page"
    return found[1]


def block(page: str, element_id: str) -> str:
    """The text of the element with this id, up to its first closing </div> (tracks and waiting boxes)."""
    found = re.search(rf'id="{re.escape(element_id)}"(.*?)</div>', page, re.S)
    return found[1] if found else ""


def stored_cycle(engine: Engine, cycle_id: str, programme_id: str, *, completed: bool) -> None:
    """A cycle as the read model holds it; with no workflow behind it, a running one never answers."""
    now = datetime.now(UTC)
    with session(engine) as s:
        queries.upsert_cycle(
            s, cycle_id=cycle_id, programme_id=programme_id, year=2026, started_at=now, day_seconds=86400,
            stage="closed" if completed else "expert_review", completed=completed, updated_at=now,
        )  # fmt: skip


def failed_message(engine: Engine, sender: str, message_id: str) -> None:
    with session(engine) as s:
        queries.add_outbox_message(
            s, message_id=message_id, workflow_id=sender, purpose="objection_received",
            recipient="quality@gaj.example.cn", subject="异议", body_text="-", body_html="-", in_reply_to=None,
            created_at=datetime.now(UTC),
        )  # fmt: skip
        queries.mark_outbox_failed(s, message_id=message_id, error="SMTP send failed: connection refused")


def test_working_days_left_count_today_and_the_adjusted_workdays() -> None:
    calendar = WorkingDayCalendar(CalendarSpec())
    # 2025's National Day: 1–8 October off, Sunday 28 September and Saturday 11 October worked.
    now = datetime(2025, 9, 28, 10, tzinfo=SHANGHAI)
    assert calendar.working_days_left(now, datetime(2025, 10, 12, tzinfo=SHANGHAI)) == 6
    assert calendar.working_days_left(now, datetime(2025, 9, 29, tzinfo=SHANGHAI)) == 1, "today, to 24:00"
    assert calendar.working_days_left(now, now) == 0


async def test_the_dashboard_shows_each_cycle_under_its_tier_and_what_waits(
    api: httpx.AsyncClient, env: WorkflowEnvironment, engine: Engine
) -> None:
    tag = uuid.uuid4().hex[:6]
    cycle_id = f"{QINGDAO}-2026-dash-{tag}"
    body = {"programme": QINGDAO, "year": 2026, "day_seconds": 86400, "cycle_id": cycle_id}
    assert (await api.post("/api/v1/cycles", json=body)).status_code == 201
    brand, province, silent = (
        f"quancheng-haopin-2026-dash-{tag}",
        f"shandong-governor-quality-award-2026-dash-{tag}",
        f"{QINGDAO}-2026-silent-{tag}",
    )
    stored_cycle(engine, brand, "quancheng-haopin", completed=True)
    stored_cycle(engine, province, "shandong-governor-quality-award", completed=True)
    stored_cycle(engine, silent, QINGDAO, completed=False)
    failed_message(engine, cycle_id, f"{cycle_id}/recommended-{tag}")
    failed_message(engine, f"{cycle_id}.app-0001", f"{cycle_id}.app-0001/received-{tag}")
    failed_message(engine, f"{cycle_id}-other.app-0001", f"{cycle_id}-other.app-0001/received-{tag}")
    undelivered = (await api.get(f"/api/v1/cycles/{cycle_id}/undelivered")).json()
    assert undelivered["count"] == 2, "the cycle's own and its children's, not another cycle's with a longer id"

    page = await page_until(api, YEAR_PAGE, lambda text: f'id="cycle-{cycle_id}"' in text, answered=False)
    with session(engine) as s:
        latest = max(stored.year for stored in queries.list_cycles(s))  # staff may read every programme
    default = (await api.get("/console")).text
    assert f'<strong aria-current="page">{latest}</strong>' in default, "the latest year with a cycle is the default"
    assert page.index('id="tier-city"') < page.index('id="tier-province"')
    assert f"cycle-{cycle_id}" in block(page, "tier-city-awards")
    assert f"cycle-{brand}" in block(page, "tier-city-brands"), "a brand programme is on the brand track"
    assert f"cycle-{province}" in block(page, "tier-province-awards")
    opened = row(page, cycle_id)
    assert "青岛市市长质量奖（2026年度）" in opened and "自愿申报与区市推荐" in opened
    assert "2026年3月27日（星期五）24:00" in opened and "剩余 20 个工作日" in opened
    assert "暂无申报" in opened and "2 封" in opened, "the cycle's own undelivered mail and its children's"
    assert f'href="/audit/{cycle_id}"' in opened
    assert "状态暂不可用" in row(page, silent) and "专家评审" in row(page, silent)
    assert "已完成" in row(page, brand) and "泉城好品" in row(page, brand)

    programme = get_programme(QINGDAO)
    submitted = await api.post(
        f"/api/v1/cycles/{cycle_id}/applications", json=samples.application(programme, 1).model_dump(mode="json")
    )
    assert submitted.status_code == 201, submitted.text
    application_id = submitted.json()["application_id"]
    await env.sleep(timedelta(days=27))  # past the application stage's 20 working days: qualification opens

    async with console_session(api, "qd-secretariat") as secretariat:
        page = await page_until(secretariat, YEAR_PAGE, lambda text: f'id="waiting-{cycle_id}"' in text, answered=False)
    waiting = block(page, f"waiting-{cycle_id}")
    assert "秘书处：资格审查或材料审查 <strong>1</strong> 件" in waiting
    assert application_id in waiting and samples.application(programme, 1).name in waiting
    qualifying = row(page, cycle_id)
    assert "资格审查" in qualifying and "共 1 件：资格审查 1" in qualifying
    assert re.search(r"剩余 \d+ 个工作日", qualifying)
    assert "封" not in qualifying and "/audit/" not in qualifying, "no outbox or timeline for the secretariat"
    assert "测试qd-secretariat" in page and "secretariat@qingdao-mayor-quality-award" in page
    assert 'action="/logout"' in page

    onsite = await login(api, "qd-onsite")
    page = (await api.get(YEAR_PAGE, headers=onsite)).text
    assert f"cycle-{cycle_id}" in page and f"waiting-{cycle_id}" not in page, "nothing waits for the on-site team"
    stranger = await login(api, "jn-coord")
    for url in ("/console", YEAR_PAGE):
        page = (await api.get(url, headers=stranger)).text
        assert QINGDAO not in page and brand not in page and province not in page, url


async def test_the_dashboard_needs_a_login_and_a_sensible_year(settings: Settings, engine: Engine) -> None:
    app = create_app(settings, client=None, engine=engine)  # neither check reaches Temporal
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        anonymous = await client.get("/console")
        assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/login?next=/console")
        staff = await login(client, "staff")
        for year in ("1999", "abc", "2101", "２０２６"):
            refused = await client.get(f"/console?year={year}", headers=staff)
            assert refused.status_code == 422, year
            assert "年度须为 2000 至 2100 之间的整数" in refused.text and 'role="alert"' in refused.text
            assert "退出登录" in refused.text, "the page still says who is logged in"
