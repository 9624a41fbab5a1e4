"""The department's HTML task page at /t/{token}, on the time-skipping server."""

from __future__ import annotations

import re
import secrets
import uuid

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from awardcycle import service
from programmes import get_programme
from schemas import ids
from schemas.consultation import Opinion
from schemas.programme import StageKind
from tests.conftest import Inbox
from tests.scenario import StrongPlayer, apply_all, forms, link_token, small, start, until_stage
from tests.test_api import QINGDAO
from web.routes.links import HEADERS

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def assert_private(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers[name] == value, name


async def test_task_page(
    api: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str, inbox: Inbox, engine: Engine
) -> None:
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"links-{uuid.uuid4().hex[:6]}")
    await apply_all(env.client, cycle_id, forms(programme))
    status = await until_stage(
        env, engine, cycle_id, StrongPlayer(programme=programme), StageKind.CONSULTATION, opened="consultations"
    )
    candidates = status.shortlist
    assert candidates
    consultation_id = ids.consultation_id(cycle_id, programme.departments[0].id)
    token = await link_token(inbox, f"{consultation_id}/request")
    path = f"/t/{token}"

    shown = await api.get(path)
    assert shown.status_code == 200, shown.text
    assert_private(shown)
    assert "无异议" in shown.text and "有异议" in shown.text and programme.departments[0].name_zh in shown.text
    for candidate in candidates:  # what a department looks its records up by
        assert candidate.name in shown.text and candidate.credit_code and candidate.credit_code in shown.text
    scanned = await api.head(path)  # a mail scanner following the link
    assert scanned.status_code == 200 and scanned.content == b""
    current = await service.consultation_status(env.client, consultation_id)
    assert (current.revision, current.answered) == (0, False), "GET and HEAD change nothing"
    match = CSRF.search(shown.text)
    assert match is not None
    csrf = match.group(1)

    first = candidates[0].application_id
    objecting = {"expected_revision": "0"}
    for c in candidates:
        objecting[f"opinion-{c.application_id}"] = "objection" if c.application_id == first else "no_objection"

    for forged in ({}, {"csrf": "0" * 64}):
        refused = await api.post(path, data={**objecting, **forged, f"reason-{first}": "x"})
        assert refused.status_code == 403
        assert_private(refused)
    assert (await service.consultation_status(env.client, consultation_id)).revision == 0, "nothing recorded"

    too_long = await api.post(path, data={**objecting, "csrf": csrf, f"reason-{first}": "长" * 2001})
    assert too_long.status_code == 422 and "理由不得超过 2000 字" in too_long.text

    bare = await api.post(path, data={**objecting, "csrf": csrf, f"reason-{first}": "  "})
    assert bare.status_code == 409
    assert_private(bare)
    assert "提出异议须说明理由" in bare.text and 'value="objection" checked' in bare.text
    assert (await service.consultation_status(env.client, consultation_id)).revision == 0

    answered = await api.post(path, data={**objecting, "csrf": csrf, f"reason-{first}": "<b>x</b>"})
    assert answered.status_code == 200, answered.text
    assert_private(answered)
    assert "第 1 版" in answered.text
    assert "&lt;b&gt;x&lt;/b&gt;" in answered.text and "<b>x</b>" not in answered.text
    current = await service.consultation_status(env.client, consultation_id)
    assert current.revision == 1 and current.answered_by is not None
    assert (current.answered_by.role.value, current.answered_by.channel.value) == ("department", "link")
    # The answer holds the objection; `objections` is only filled in when the deadline closes the consultation.
    objections = [(a.application_id, a.reason) for a in current.answers if a.opinion is Opinion.OBJECTION]
    assert objections == [(first, "<b>x</b>")]

    again = await api.get(path)
    assert again.status_code == 200
    assert "第 1 版" in again.text and 'name="expected_revision" value="1"' in again.text
    assert "&lt;b&gt;x&lt;/b&gt;" in again.text and "<b>x</b>" not in again.text


async def test_invalid_links(api: httpx.AsyncClient) -> None:
    for response in (
        await api.get("/t/short"),
        await api.get(f"/t/{secrets.token_urlsafe(32)}"),
        await api.post(f"/t/{secrets.token_urlsafe(32)}", data={"csrf": "x"}),
    ):
        assert response.status_code == 404
        assert "链接无效或已过期" in response.text and response.headers["content-type"].startswith("text/html")
        assert_private(response)
