"""Two consecutive years across the four tiers, on the time-skipping server and a store of their own.

2025: Qingdao's mayor award and Haopin Shandong announce; their recommendations wait for the next
editions. 2026: a revoked Qingdao title drops out; the governor award takes in the rest, refuses
what breaks its rules, and runs; Quancheng Haopin takes a Haopin Shandong brand through the direct
channel. 2027: the China Quality Award edition receives the governor winners and the brands.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from awardcycle import samples, service
from awardcycle.ladder import ladder_view
from awardcycle.service import Refused
from config.settings import Settings
from programmes import get_programme
from schemas import ids
from schemas.application import ApplicationForm, Outcome
from schemas.calendar import CalendarSpec
from schemas.common import Actor, Channel, Role
from schemas.cycle import CycleOverview
from schemas.holiday_file import load_holiday_file
from schemas.ladder import DeliveryState, RecommendationBatch, RecommendedApplicant, holder_key
from schemas.programme import Programme
from schemas.title import Revocation
from store import ladder
from store.db import make_engine, session, upgrade
from store.titles import get_title
from tests.conftest import add_users, login
from tests.replay import fetch, replay, workflow_ids
from tests.scenario import APPLICANT, StrongPlayer, forms, play, small
from web.main import create_app
from worker import build_worker

QINGDAO, GOVERNOR = "qingdao-mayor-quality-award", "shandong-governor-quality-award"
HAOPIN, QUANCHENG, CHINA = "haopin-shandong", "quancheng-haopin", "china-quality-award"
COORDINATOR = Actor(role=Role.COORDINATOR, identity="coordinator", channel=Channel.CLI)


@pytest.fixture
def own_engine(tmp_path: Path) -> Engine:
    """A store for this test alone: the ladder reads every cycle of a programme and year in it."""
    engine = make_engine(Settings(home=tmp_path, _env_file=None))
    upgrade(engine)
    add_users(engine)
    return engine


@pytest.fixture
async def queue(env: WorkflowEnvironment, settings: Settings, own_engine: Engine) -> AsyncIterator[str]:
    task_queue = f"ladder-{uuid.uuid4()}"
    async with build_worker(env.client, settings, own_engine, task_queue=task_queue):
        yield task_queue


async def _start(env: WorkflowEnvironment, queue: str, programme: Programme, year: int, **kwargs: object) -> str:
    cycle_id = f"{programme.id}-{year}-{uuid.uuid4().hex[:4]}"
    calendar = kwargs.get("calendar")
    return await service.start_cycle(
        env.client,
        programme,
        year,
        task_queue=queue,
        day_seconds=86400,
        cycle_id=cycle_id,
        calendar=calendar if isinstance(calendar, CalendarSpec) else None,
    )


async def _year(
    env: WorkflowEnvironment, engine: Engine, queue: str, programme_id: str, year: int
) -> tuple[CycleOverview, dict]:
    """A whole edition with ten strong applicants; the forms by application id."""
    programme = small(get_programme(programme_id))
    cycle_id = await _start(env, queue, programme, year)
    applied = {}
    for form in forms(programme).values():
        form = form.model_copy(update={"conditions": [c.model_copy(update={"met": True}) for c in form.conditions]})
        accepted = await service.submit_application(env.client, cycle_id, form, APPLICANT)
        applied[accepted.application_id] = form
    return await play(env, engine, cycle_id, StrongPlayer(programme=programme, departments=True)), applied


async def test_two_years_up_the_ladder(
    env: WorkflowEnvironment, queue: str, own_engine: Engine, data_dir: Path, settings: Settings
) -> None:
    # Test fixtures, not official data: the library covers 2026, and the national edition reaches 2028.
    calendar_2027 = CalendarSpec(
        supplied=[load_holiday_file(data_dir / f"holidays-{year}.toml") for year in (2027, 2028)]
    )

    # 2026: the city award announces in summer, before the governor award opens; its winners wait for it.
    qingdao, qingdao_forms = await _year(env, own_engine, queue, QINGDAO, 2026)
    to_governor = [d for d in qingdao.deliveries if d.target_programme == GOVERNOR]
    assert to_governor and {(d.state, d.target_year) for d in to_governor} == {(DeliveryState.PENDING, 2026)}
    feed = next(f for f in get_programme(QINGDAO).feeds if f.programme == GOVERNOR)
    assert len(to_governor) <= feed.organisations + feed.individuals

    governor = small(get_programme(GOVERNOR))
    governor_id = await _start(env, queue, governor, 2026)
    status = await service.cycle_status(env.client, governor_id)
    recommended = {r.applicant.name for r in status.recommended}
    assert recommended == {d.name for d in to_governor}
    assert {(r.from_programme, r.from_cycle) for r in status.recommended} == {(QINGDAO, qingdao.cycle_id)}
    with session(own_engine) as s:
        assert {d.state for d in ladder.list_deliveries(s, from_cycle=qingdao.cycle_id)} == {"delivered"}

    # What the governor award refuses, changing nothing: an applicant nobody recommended, a recommender
    # over its quota, a programme that does not feed it, and a candidate who won nothing.
    stranger = samples.as_applicant(governor, qingdao_forms[next(iter(qingdao_forms))], 1).model_copy(
        update={"name": "未经推荐有限公司", "credit_code": samples.credit_code(random.Random("stranger"))}
    )
    with pytest.raises(Refused, match="has not been recommended"):
        await service.submit_application(env.client, governor_id, stranger, APPLICANT)
    recommended_ids = {r.application_id for r in qingdao.recommendations}
    unrecommended = [_recommended(qingdao_forms, a) for a in qingdao_forms if a not in recommended_ids]
    loser = next(a.application_id for a in qingdao.applications if a.outcome is Outcome.NOT_SELECTED)
    haopin_like = _recommended(qingdao_forms, next(iter(recommended_ids)))
    for batch, reason in (
        (_batch(QINGDAO, qingdao.cycle_id, unrecommended[: feed.organisations + 1]), "over quota"),
        (_batch(HAOPIN, "haopin-shandong-2026", [haopin_like]), "does not feed"),
        (_batch(QINGDAO, qingdao.cycle_id, [_recommended(qingdao_forms, loser, "not_selected")]), "only award holders"),
    ):
        with pytest.raises(Refused, match=reason):
            await service.perform(env.client, governor_id, "recommend", batch)
    assert {r.applicant.name for r in (await service.cycle_status(env.client, governor_id)).recommended} == recommended

    # The recommended candidates confirm by applying through the usual path, and the year runs.
    for index, entry in enumerate(status.recommended, start=1):
        await service.submit_application(
            env.client, governor_id, samples.as_applicant(governor, entry.applicant, index), APPLICANT
        )
    governed = await play(env, own_engine, governor_id, StrongPlayer(programme=governor, departments=True))
    assert {a.name for a in governed.awards} == recommended
    to_china = [d for d in governed.deliveries if d.target_programme == CHINA]
    assert to_china and {(d.state, d.target_year) for d in to_china} == {(DeliveryState.PENDING, 2027)}, "biennial"
    with pytest.raises(Refused, match="is closed"):
        await service.perform(
            env.client, governor_id, "recommend", _batch(QINGDAO, qingdao.cycle_id, unrecommended[:1])
        )

    # Haopin Shandong's brands wait for the same national edition.
    haopin, haopin_forms = await _year(env, own_engine, queue, HAOPIN, 2026)
    brands = [d for d in haopin.deliveries if d.target_programme == CHINA]
    assert brands and {(d.state, d.target_year) for d in brands} == {(DeliveryState.PENDING, 2027)}

    # Quancheng Haopin: a Haopin Shandong brand enters through the direct channel (省市直通).
    quancheng = small(get_programme(QUANCHENG))
    quancheng_id = await _start(env, queue, quancheng, 2026)
    brand_form = haopin_forms[haopin.awards[0].application_id]
    brand = samples.as_applicant(quancheng, brand_form, 1)
    direct = await service.submit_application(env.client, quancheng_id, brand, APPLICANT)
    for label, form in list(forms(quancheng).items())[:4]:
        met = [c.model_copy(update={"met": True}) for c in form.conditions]
        form = form.model_copy(update={"name": f"泉城{label}", "conditions": met})
        await service.submit_application(env.client, quancheng_id, form, APPLICANT)
    city = await play(env, own_engine, quancheng_id, StrongPlayer(programme=quancheng, departments=True))
    entrant = next(a for a in city.applications if a.application_id == direct.application_id)
    assert entrant.experts == [] and entrant.expert_score is None, "no expert review"
    assert entrant.direct and entrant.outcome is Outcome.WINNER
    selected = [a for a in city.awards if a.application_id != direct.application_id]
    assert len(selected) <= quancheng.quotas.winners + quancheng.quotas.nominations, "beside the quota"

    # A governor winner's title is revoked with a public reason (a blank one is refused).
    revoked_app = next(a.application_id for a in governed.awards)
    revoked_form = next(f for f in qingdao_forms.values() if f.name == governed.awards[0].name)
    title_id = ids.title_id(revoked_app)
    with pytest.raises(Refused):
        await service.perform(env.client, title_id, "revoke_title", Revocation(actor=COORDINATOR, public_reason=" "))
    reason = "质量承诺未履行，标识违规使用"
    await service.perform(env.client, title_id, "revoke_title", Revocation(actor=COORDINATOR, public_reason=reason))
    for _ in range(100):  # the title writes its row right after the revocation
        with session(own_engine) as s:
            row = get_title(s, title_id=title_id)
        if row is not None and row.state == "revoked":
            break
        await asyncio.sleep(0.05)
    assert row is not None and (row.state, row.public_reason) == ("revoked", reason)

    # 2027: the city award refuses its 2026 winners within the cool-down, and the revoked holder.
    qingdao_2027 = await _start(env, queue, small(get_programme(QINGDAO)), 2027, calendar=calendar_2027)
    winner = next(a.application_id for a in qingdao.awards if a.award is Outcome.WINNER and a.name != revoked_form.name)
    with pytest.raises(Refused, match="may apply again from 2029"):
        await service.submit_application(env.client, qingdao_2027, qingdao_forms[winner], APPLICANT)
    with pytest.raises(Refused, match="was revoked"):
        await service.submit_application(env.client, qingdao_2027, revoked_form, APPLICANT)
    assert (await service.cycle_status(env.client, qingdao_2027)).application_count == 0, "nothing changed"
    assert (await service.cycle_overview(env.client, own_engine, qingdao_2027)).total == 0

    # The China Quality Award's 2027 edition receives the governor winners and the brands; the revoked
    # title dropped out.
    china_id = await _start(env, queue, small(get_programme(CHINA)), 2027, calendar=calendar_2027)
    received = (await service.cycle_status(env.client, china_id)).recommended
    assert {r.from_programme for r in received} == {GOVERNOR, HAOPIN}
    names = {r.applicant.name for r in received if r.from_programme == GOVERNOR}
    assert names == {d.name for d in to_china} - {revoked_form.name}
    haopin_quota = next(f for f in get_programme(HAOPIN).feeds if f.programme == CHINA).organisations
    assert 0 < len([r for r in received if r.from_programme == HAOPIN]) <= haopin_quota
    claimed = _recommended(qingdao_forms, loser)  # claims a governor award it never won
    with pytest.raises(Refused, match="not an award holder"):
        await service.perform(env.client, china_id, "recommend", _batch(GOVERNOR, governor_id, [claimed]))
    with session(own_engine) as s:
        dropped = [d for d in ladder.list_deliveries(s, from_cycle=governor_id) if d.state == "dropped"]
    assert [d.name for d in dropped] == [revoked_form.name] and "撤销" in dropped[0].reason

    # The climb at a glance, as `GET /api/v1/ladder` answers a signed-in auditor (`awardcycle ladder show`).
    app = create_app(settings, env.client, own_engine, task_queue=queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as api:
        assert (await api.get("/api/v1/ladder", params={"year": 2026})).status_code == 401
        api.headers.update(await login(api, "auditor"))
        answered = await api.get("/api/v1/ladder", params={"year": 2026})
    shown: dict[str, Any] = answered.json()
    assert shown == (await ladder_view(own_engine, 2026)).model_dump(mode="json")
    tiers = {t["level"]: {c["programme_id"] for c in t["cycles"]} for t in shown["tiers"]}
    assert tiers == {"city": {QINGDAO, QUANCHENG}, "province": {GOVERNOR, HAOPIN}, "national": set()}
    [path] = [p for p in shown["paths"] if p["holder_key"] == _key(revoked_form)]
    events = [(step["year"], step["programme_id"], step["event"]) for step in path["steps"]]
    for expected in (
        (2026, QINGDAO, "applied"),
        (2026, GOVERNOR, "recommended"),
        (2026, GOVERNOR, "applied"),
        (2026, GOVERNOR, "won"),
        (2026, GOVERNOR, "revoked"),
        (2027, CHINA, "recommended"),
    ):
        assert expected in events, (expected, events)
    assert events.index((2026, QINGDAO, "applied")) < events.index((2026, GOVERNOR, "recommended"))
    assert next(s["detail"] for s in path["steps"] if s["programme_id"] == CHINA).startswith(f"by {GOVERNOR}: dropped")

    # Every history of the climb replays with the current code, the long-lived title included.
    cycles = [qingdao, governed, haopin, city, await service.cycle_status(env.client, china_id)]
    histories = await fetch(env.client, [i for c in cycles for i in workflow_ids(c, own_engine)] + [title_id])
    results = await replay(histories)
    assert not results.replay_failures, results.replay_failures


def _key(form: ApplicationForm) -> str:
    return holder_key(form.applicant_kind.value, form.credit_code, form.name)


def _recommended(
    applied: dict[str, ApplicationForm], application_id: str, award: str = "winner"
) -> RecommendedApplicant:
    """The applicant as a recommender would put it forward, claiming the award."""
    return RecommendedApplicant.of(applied[application_id], application_id, award)


def _batch(programme_id: str, cycle_id: str, candidates: list[RecommendedApplicant]) -> RecommendationBatch:
    return RecommendationBatch(
        actor=COORDINATOR, from_programme=programme_id, from_cycle=cycle_id, candidates=candidates
    )
