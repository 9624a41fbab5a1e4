"""The application read model on SQLite: the sequence guard, pages, counts, and refused paging input."""

from __future__ import annotations

import random
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from awardcycle import service
from awardcycle.service import RefusalKind, Refused
from config.settings import Settings
from schemas.application import ApplicationState, ApplicationView, Outcome
from schemas.common import Channel
from schemas.identity import AccountRole, Principal
from schemas.programme import StageKind
from store import queries
from store.db import make_engine, session, upgrade
from tests.conftest import add_users, login
from web import visibility
from web.auth import Access, CycleFacts
from web.main import create_app

CYCLE = "qingdao-mayor-quality-award-2026"
NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "state", database_url=database_url, _env_file=None)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    upgrade(engine)
    yield engine
    engine.dispose()


def view(number: int, sequence: int = 0, **changes: object) -> ApplicationView:
    values: dict[str, object] = {
        "cycle_id": CYCLE,
        "application_id": f"{CYCLE}.app-{number:04d}",
        "sequence": sequence,
        "name": f"企业{number}",
        "applicant_kind": "organisation",
        "credit_code": None,
        "category": "manufacturing",
        "state": ApplicationState.QUALIFICATION,
        "waiting_for": ["secretariat"],
    }
    return ApplicationView.model_validate({**values, **changes})


def write(engine: Engine, written: ApplicationView) -> bool:
    with session(engine) as s:
        return queries.upsert_application_view(s, written)


def stored(engine: Engine, number: int) -> ApplicationView:
    with session(engine) as s:
        [found] = [
            v for v in queries.application_views(s, cycle_id=CYCLE) if v.application_id.endswith(f"{number:04d}")
        ]
    return found


def test_an_older_write_never_replaces_a_newer_one(engine: Engine) -> None:
    assert write(engine, view(1, 0))
    review = view(
        1, 2, state=ApplicationState.EXPERT_REVIEW, stage=StageKind.EXPERT_REVIEW, deadline=NOW,
        waiting_for=["expert:qdm-01", "expert:qdm-02"], experts=["qdm-01", "qdm-02"], expert_score=81.5,
    )  # fmt: skip
    assert write(engine, review)
    assert not write(engine, view(1, 1, state=ApplicationState.MATERIAL_REVIEW)), "older: ignored"
    assert not write(engine, review.model_copy(update={"name": "重试"})), "the same sequence: a retry, ignored"
    assert stored(engine, 1) == review
    assert stored(engine, 1).deadline == NOW and stored(engine, 1).deadline.tzinfo is not None  # type: ignore[union-attr]

    concluded = view(1, 3, state=ApplicationState.CONCLUDED, outcome=Outcome.WINNER, waiting_for=[], final_score=90.0)
    assert write(engine, concluded)
    assert stored(engine, 1) == concluded


def test_racing_writers_leave_the_highest_sequence(engine: Engine) -> None:
    """Threads insert the same new row and overwrite it in shuffled order; the highest sequence stays."""
    sequences = list(range(40))
    random.Random(7).shuffle(sequences)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(mine: list[int]) -> None:
        try:
            start.wait()
            for sequence in mine:
                write(engine, view(2, sequence, name=f"第{sequence}版"))
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(sequences[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert (stored(engine, 2).sequence, stored(engine, 2).name) == (39, "第39版")


def _fill(engine: Engine) -> None:
    scores = {1: 80.0, 2: None, 3: 92.5, 4: 80.0, 5: None, 6: 70.0}
    for number, score in scores.items():
        state = ApplicationState.CONCLUDED if score is not None else ApplicationState.EXPERT_REVIEW
        write(engine, view(number, 1, state=state, final_score=score))
    write(engine, view(1, 0, cycle_id="other", application_id="other.app-0001"))


def test_pages_total_filter_and_score_order(engine: Engine) -> None:
    _fill(engine)
    with session(engine) as s:
        page, total = queries.application_page(s, cycle_id=CYCLE, state=None, offset=2, limit=3)
        assert total == 6 and [v.application_id[-4:] for v in page] == ["0003", "0004", "0005"]
        page, total = queries.application_page(s, cycle_id=CYCLE, state="expert_review", offset=0, limit=10)
        assert total == 2 and [v.application_id[-4:] for v in page] == ["0002", "0005"]
        page, total = queries.application_page(s, cycle_id=CYCLE, state=None, offset=0, limit=10, order="score")
        # Highest first, a tie by id, the unscored last.
        assert [v.application_id[-4:] for v in page] == ["0003", "0001", "0004", "0006", "0002", "0005"]
        page, total = queries.application_page(s, cycle_id=CYCLE, state=None, offset=10, limit=10)
        assert (page, total) == ([], 6)
        assert len(queries.application_views(s, cycle_id=CYCLE, page=4)) == 6, "read page by page"
        with pytest.raises(ValueError, match="unknown order"):
            queries.application_page(s, cycle_id=CYCLE, state=None, offset=0, limit=1, order="name")


def test_counts_by_state(engine: Engine) -> None:
    _fill(engine)
    with session(engine) as s:
        assert queries.application_counts(s, cycle_id=CYCLE) == {"concluded": 4, "expert_review": 2}
        assert queries.application_counts(s, cycle_id="no-such-cycle") == {}


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        ({"limit": 0}, "limit must be 1 to 500"),
        ({"limit": 10_000}, "limit must be 1 to 500"),
        ({"offset": -1}, "offset must be 0 or more"),
        ({"state": "pending"}, "unknown application state 'pending'"),
        ({"order": "name"}, "unknown order 'name'"),
    ],
)
def test_bad_paging_is_refused(page: dict[str, object], reason: str) -> None:
    asked: dict[str, object] = {"offset": 0, "limit": 50, "state": None, "order": "id", **page}
    with pytest.raises(Refused, match=reason) as refused:
        service.check_page(**asked)  # type: ignore[arg-type]
    assert refused.value.kind is RefusalKind.INVALID
    assert service.check_page(offset=0, limit=500, state="waiting", order="score") is ApplicationState.WAITING


@pytest.fixture
async def api(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The web app on this store with no Temporal at all: a refused page never reaches the workflow."""
    add_users(engine)
    with session(engine) as s:
        queries.upsert_cycle(
            s, cycle_id=CYCLE, programme_id="qingdao-mayor-quality-award", year=2026, started_at=NOW,
            day_seconds=None, stage="application", completed=False, updated_at=NOW,
        )  # fmt: skip
    app = create_app(settings, None, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        client.headers.update(await login(client, "staff"))
        yield client


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"limit": 0}, "每页条数须为 1–500 (limit must be 1 to 500, not 0)"),
        ({"limit": 10_000}, "每页条数须为 1–500 (limit must be 1 to 500, not 10000)"),
        ({"state": "pending"}, "未知申报状态 (unknown application state 'pending'; known: waiting, qualification"),
        ({"offset": -5}, "起始位置不能为负数 (offset must be 0 or more, not -5)"),
    ],
)
async def test_bad_paging_through_the_api_is_a_clear_422(
    api: httpx.AsyncClient, query: dict[str, str | int], reason: str
) -> None:
    answer = await api.get(f"/api/v1/cycles/{CYCLE}", params=query)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(reason)


def _reader(*roles: AccountRole) -> Access:
    principal = Principal(
        username="reader", name_zh="读者", email="r@quality.example.cn", grants=[], channel=Channel.API
    )
    return Access(principal, CycleFacts(CYCLE, "qingdao-mayor-quality-award", rehearsal=False), frozenset(roles))


def test_open_expert_scores_show_only_to_those_who_may_see_them() -> None:
    scoring = view(1, 2, state=ApplicationState.EXPERT_REVIEW, experts=["qdm-01"], expert_score=88.5)
    onsite = _reader(AccountRole.ONSITE)
    assert visibility.application_view(onsite, scoring).expert_score is None
    concluded = scoring.model_copy(update={"state": ApplicationState.CONCLUDED})
    assert visibility.application_view(onsite, concluded).expert_score == 88.5, "after the review closes"
    for role in (AccountRole.SECRETARIAT, AccountRole.AUDITOR, AccountRole.COORDINATOR):
        assert visibility.application_view(_reader(role), scoring).expert_score == 88.5
