"""Checks made before a cycle starts, and the kinds of refusal, without a server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from activities import cycle_start
from awardcycle import api_client
from awardcycle.service import RefusalKind, Refused, check_calendar
from programmes import get_programme
from schemas.calendar import CalendarSpec
from schemas.holiday_file import load_holiday_file
from web.errors import REFUSAL_STATUS


def test_a_schedule_running_into_a_year_without_holiday_data_is_refused(data_dir: Path) -> None:
    december = get_programme("qingdao-mayor-quality-award").model_copy(update={"opening": "12-01"})
    with pytest.raises(Refused, match=r"2027.*--holidays") as refused:
        check_calendar(december, 2026, CalendarSpec(), rehearsal=True)
    assert refused.value.kind is RefusalKind.REFUSED
    with pytest.raises(cycle_start.CalendarMissing, match=r"2027.*--holidays"):
        cycle_start.check_calendar(december, 2026, CalendarSpec(), rehearsal=True)
    supplied = CalendarSpec(supplied=[load_holiday_file(data_dir / "holidays-2027.toml")])
    check_calendar(december, 2026, supplied, rehearsal=True)


def test_a_year_without_an_edition_is_refused() -> None:
    with pytest.raises(Refused, match="holds no edition in 2026") as refused:
        check_calendar(get_programme("china-quality-award"), 2026, CalendarSpec(), rehearsal=True)
    assert refused.value.kind is RefusalKind.REFUSED
    with pytest.raises(cycle_start.NoEdition):
        cycle_start.check_calendar(get_programme("china-quality-award"), 2026, CalendarSpec(), rehearsal=True)


def test_every_kind_of_refusal_has_a_status_the_api_client_reads_back() -> None:
    assert set(REFUSAL_STATUS) == set(RefusalKind)
    for status, kind in api_client.KIND_OF_STATUS.items():
        assert REFUSAL_STATUS[kind] == status, kind
    for kind, status in REFUSAL_STATUS.items():
        assert REFUSAL_STATUS[api_client.KIND_OF_STATUS[status]] == status, kind


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, RefusalKind.REFUSED),
        (401, RefusalKind.UNAUTHORIZED),
        (403, RefusalKind.FORBIDDEN),
        (404, RefusalKind.NOT_FOUND),
        (409, RefusalKind.CONFLICT),
        (422, RefusalKind.INVALID),
        (429, RefusalKind.REFUSED),
        (503, RefusalKind.BUSY),
        (504, RefusalKind.REFUSED),
    ],
)
def test_the_api_client_refuses_with_the_servers_reason_and_kind(status: int, kind: RefusalKind) -> None:
    with pytest.raises(Refused, match=r"^why") as refused:
        api_client._answer(httpx.Response(status, json={"detail": "why"}))
    assert refused.value.kind is kind
    assert str(refused.value).endswith(api_client.NOT_LOGGED_IN) == (status == 401)
