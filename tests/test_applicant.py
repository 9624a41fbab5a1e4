"""Applicants online: the call page, the confirmation link, the form with real files, the status link with
its supplement and withdrawal, and paper entry by the secretariat; each bad input refused with its reason
and nothing stored."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from activities.notify import token_sha256
from awardcycle import service
from config.settings import Settings
from programmes import get_programme
from schemas.application import ApplicationState
from schemas.common import Channel, Role
from store import queries
from store.db import session
from tests.applicant_flow import (
    MISSING,
    SupplementPlayer,
    csrf_of,
    form_fields,
    play_until,
    request_link,
    simulator,
)
from tests.conftest import Inbox, login
from tests.console import console_session
from tests.scenario import apply_all, forms, small, start, terminate
from tests.test_documents import WINDOWS_EXE, files_in, pdf_bytes
from web.main import create_app
from web.routes.applicant import APPLICATION_KIND

QINGDAO = "qingdao-mayor-quality-award"


def pdfs(tag: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The two required documents as real PDFs whose content is new to the store."""
    return [
        ("document-application_form", ("申报表.pdf", pdf_bytes(f"申报表 {tag}"), "application/pdf")),
        ("document-self_assessment", ("自评报告.pdf", pdf_bytes(f"自评报告 {tag}"), "application/pdf")),
    ]


async def form_page(client: httpx.AsyncClient, token: str) -> str:
    shown = await client.get(f"/a/{token}")
    assert shown.status_code == 200, shown.text
    return csrf_of(shown.text)


async def test_an_applicant_applies_online_and_follows_the_application_by_link(
    env: WorkflowEnvironment, task_queue: str, settings: Settings, engine: Engine, inbox: Inbox
) -> None:
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"online-{uuid.uuid4().hex[:6]}")
    await apply_all(env.client, cycle_id, forms(programme))
    app = create_app(settings, env.client, engine, task_queue=task_queue)
    email = f"apply-{uuid.uuid4().hex[:6]}@applicant.example.cn"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        call = await client.get(f"/calls/{cycle_id}")
        assert call.status_code == 200
        assert "正在受理申报" in call.text and programme.conditions[0].text in call.text
        assert "申报表（盖章扫描件）" in call.text and "Content-Security-Policy" in call.headers
        assert (await client.get("/calls/no-such-cycle-2026")).status_code == 404

        token = await request_link(client, inbox, cycle_id, email)
        csrf = await form_page(client, token)
        before = files_in(settings.documents_dir)

        # A wrong check digit comes back beside its field, with the values kept; nothing is stored.
        fields = form_fields(programme, 51)
        wrong = fields["credit_code"][:-1] + ("0" if fields["credit_code"][-1] != "0" else "1")
        refused = await client.post(
            f"/a/{token}", data={**fields, "credit_code": wrong, "csrf": csrf}, files=pdfs("wrong-digit")
        )
        assert refused.status_code == 422 and "校验码错误" in refused.text and fields["name"] in refused.text
        assert files_in(settings.documents_dir) == before

        # An executable renamed .pdf is refused by its content; the other file goes with it.
        exe = [pdfs("exe")[0], ("document-self_assessment", ("自评报告.pdf", WINDOWS_EXE, "application/pdf"))]
        refused = await client.post(f"/a/{token}", data={**fields, "csrf": csrf}, files=exe)
        assert refused.status_code == 422 and "PDF" in refused.text, refused.text
        assert files_in(settings.documents_dir) == before

        # The form sent twice at once (a double click) makes one application.
        counted = (await service.cycle_status(env.client, cycle_id)).application_count
        sent = await asyncio.gather(
            *(client.post(f"/a/{token}", data={**fields, "csrf": csrf}, files=pdfs("online")) for _ in range(2))
        )
        assert sorted(r.status_code for r in sent) == [303, 303], [r.text for r in sent]
        assert any(r.headers["location"] == f"/a/{token}?done=submitted" for r in sent)
        assert (await service.cycle_status(env.client, cycle_id)).application_count == counted + 1
        with session(engine) as s:
            link = queries.find_task_link(s, token_sha256=token_sha256(token))
        assert link is not None and link.task_kind == APPLICATION_KIND
        application_id = link.task_id

        # The status page: the stage, the documents with their digests, and the record in the workflow.
        shown = await client.get(f"/a/{token}?done=submitted")
        assert shown.status_code == 200 and "申报已提交" in shown.text and "申报表.pdf" in shown.text
        form = await service.application_form(env.client, application_id)
        assert form.contact_email == email and form.contact_phone == "0532-88886666"
        assert [(d.name, d.media_type, d.requirement) for d in form.documents] == [
            ("申报表.pdf", "application/pdf", "application_form"),
            ("自评报告.pdf", "application/pdf", "self_assessment"),
        ]
        assert all(d.size and (settings.documents_dir / d.sha256[:2]).exists() for d in form.documents)
        downloaded = await client.get(f"/a/{token}/documents/{form.documents[0].sha256}")
        assert downloaded.status_code == 200 and downloaded.content == pdf_bytes("申报表 online")
        assert downloaded.headers["x-content-type-options"] == "nosniff"
        assert (await client.get(f"/a/{token}/documents/{'0' * 64}")).status_code == 404

        # The same applicant again, through a second link: a duplicate, and nothing stored.
        second = await request_link(client, inbox, cycle_id, email)
        before = files_in(settings.documents_dir)
        duplicate = await client.post(
            f"/a/{second}", data={**fields, "csrf": await form_page(client, second)}, files=pdfs("duplicate")
        )
        assert duplicate.status_code == 409 and "重复申报" in duplicate.text
        assert files_in(settings.documents_dir) == before

        # A link no one was sent, and an expired one.
        assert (await client.get("/a/" + "x" * 43)).status_code == 404
        with session(engine) as s:
            queries.move_task_link(
                s,
                token_sha256=token_sha256(second),
                from_kind="call",
                task_kind="call",
                expires_at=datetime.now(UTC) - timedelta(minutes=1),
            )
        expired = await client.get(f"/a/{second}")
        assert expired.status_code == 410 and "链接无效或已过期" in expired.text

        # The secretariat asks for a supplement; the applicant uploads it by the status link.
        player = SupplementPlayer(programme=programme, asking=application_id)
        others = simulator(env, engine, cycle_id, player)
        await play_until(env, others, application_id, ApplicationState.SUPPLEMENT_REQUESTED)
        shown = await client.get(f"/a/{token}")
        assert "请补充材料" in shown.text and MISSING in shown.text
        supplement = [("supplement", ("审计报告.pdf", pdf_bytes("审计报告"), "application/pdf"))]
        added = await client.post(f"/a/{token}/supplement", data={"csrf": csrf_of(shown.text)}, files=supplement)
        assert added.status_code == 303 and added.headers["location"] == f"/a/{token}?done=supplement"
        status = await service.application_status(env.client, application_id)
        assert [d.name for d in status.documents][-1] == "审计报告.pdf"

        # A second supplement, now that none is asked for, is refused and its file not kept.
        before = files_in(settings.documents_dir)
        late = [("supplement", ("补充说明.pdf", pdf_bytes("补充说明"), "application/pdf"))]
        again = await client.post(f"/a/{token}/supplement", data={"csrf": csrf_of(shown.text)}, files=late)
        assert again.status_code == 409 and "当前环节不受理此操作" in again.text, again.text
        assert files_in(settings.documents_dir) == before

        # The applicant withdraws: the outcome is on the page.
        refused = await client.post(f"/a/{token}/withdraw", data={"csrf": csrf_of(shown.text), "reason": "x"})
        assert refused.status_code == 422 and "勾选确认" in refused.text
        withdrawn = await client.post(
            f"/a/{token}/withdraw", data={"csrf": csrf_of(shown.text), "reason": "企业战略调整", "confirm": "yes"}
        )
        assert withdrawn.status_code == 303
        await play_until(env, others, application_id, ApplicationState.CONCLUDED)
        shown = await client.get(f"/a/{token}")
        assert "评审结果通知" in shown.text and "企业战略调整" in shown.text
    await terminate(env.client, cycle_id)


async def test_forms_after_the_deadline_and_oversized_files_are_refused(
    env: WorkflowEnvironment, task_queue: str, settings: Settings, engine: Engine, inbox: Inbox
) -> None:
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"late-{uuid.uuid4().hex[:6]}")
    tight = settings.model_copy(update={"document_max_bytes": 256 * 1024})
    app = create_app(tight, env.client, engine, task_queue=task_queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        token = await request_link(client, inbox, cycle_id, "late@applicant.example.cn")
        csrf = await form_page(client, token)
        fields = {**form_fields(programme, 61), "csrf": csrf}
        before = files_in(settings.documents_dir)

        big = pdf_bytes("过大") + b"%" * (256 * 1024)
        oversized = [pdfs("big")[0], ("document-self_assessment", ("自评报告.pdf", big, "application/pdf"))]
        refused = await client.post(f"/a/{token}", data=fields, files=oversized)
        assert refused.status_code == 422 and "256 KB" in refused.text, refused.text
        zero = [pdfs("zero")[0], ("document-self_assessment", ("自评报告.pdf", b"", "application/pdf"))]
        refused = await client.post(f"/a/{token}", data=fields, files=zero)
        assert refused.status_code == 422, refused.text
        pathed = [pdfs("path")[0], ("document-self_assessment", ("../../etc/自评报告.pdf", pdf_bytes("p"), "x"))]
        refused = await client.post(f"/a/{token}", data=fields, files=pathed)
        assert refused.status_code == 422 and "路径" in refused.text, refused.text
        assert files_in(settings.documents_dir) == before

        # Past the call's deadline the cycle refuses the form; its files are not kept.
        status = await service.cycle_status(env.client, cycle_id)
        assert status.stage_deadline is not None
        await env.sleep(status.stage_deadline - status.cycle_time + timedelta(hours=1))
        app.state.calls.clear()
        late = await client.post(f"/a/{token}", data=fields, files=pdfs("late"))
        assert late.status_code in (409, 400) and "申报已截止" in late.text, late.text
        assert files_in(settings.documents_dir) == before
        closed = await client.get(f"/calls/{cycle_id}")
        assert "申报已截止" in closed.text and 'action="/calls/' not in closed.text
    await terminate(env.client, cycle_id)


async def test_the_secretariat_enters_a_paper_application_with_its_scans(
    api: httpx.AsyncClient, env: WorkflowEnvironment, task_queue: str, settings: Settings
) -> None:
    programme = small(get_programme(QINGDAO))
    cycle_id = await start(env.client, programme, task_queue, f"paper-{uuid.uuid4().hex[:6]}")
    page = f"/console/cycles/{cycle_id}/applications/new"
    # On the console's form, with the scans; a bad field comes back beside it, the values kept.
    async with console_session(api, "qd-secretariat") as desk:
        cycle_page = await desk.get(f"/console/cycles/{cycle_id}")
        assert f'href="{page}"' in cycle_page.text and f'href="/calls/{cycle_id}"' in cycle_page.text
        shown = await desk.get(page)
        assert shown.status_code == 200 and "录入纸质申报" in shown.text and "qd-secretariat" in shown.text
        fields = {**form_fields(programme, 71), "contact_email": "", "csrf": csrf_of(shown.text)}
        before = files_in(settings.documents_dir)
        refused = await desk.post(page, data=fields, files=pdfs("paper-refused"))
        assert refused.status_code == 422 and "请填写申报人的有效联系邮箱" in refused.text
        assert fields["name"] in refused.text and files_in(settings.documents_dir) == before
        entered = await desk.post(
            page, data={**fields, "contact_email": "paper@applicant.example.cn"}, files=pdfs("paper")
        )
        assert entered.status_code == 303, entered.text
        application_id = entered.headers["location"].rpartition("/")[2]
        stored = await service.application_form(env.client, application_id)
        assert stored.contact_email == "paper@applicant.example.cn"
        assert [d.requirement for d in stored.documents] == ["application_form", "self_assessment"]
    async with console_session(api, "qd-onsite") as onsite:
        assert (await onsite.get(page)).status_code == 403

    # Through the API, as `awardcycle apply --document` sends it.
    headers = await login(api, "qd-secretariat")
    form = {
        "applicant_kind": "organisation",
        "name": "纸质申报二有限公司",
        "credit_code": form_fields(programme, 72)["credit_code"],
        "category": programme.categories[0],
        "contact_email": "paper2@applicant.example.cn",
        "conditions": [{"id": c.id, "met": True, "evidence": "纸质材料"} for c in programme.conditions],
    }
    url = f"/api/v1/cycles/{cycle_id}/paper-applications"
    sent = await api.post(url, headers=headers, data={"form": json.dumps(form)}, files=pdfs("paper-api"))
    assert sent.status_code == 201, sent.text
    stored = await service.application_form(env.client, sent.json()["application_id"])
    assert [d.media_type for d in stored.documents] == ["application/pdf", "application/pdf"]
    named = {**form, "name": "纸质申报三有限公司", "documents": [{"name": "a.pdf", "sha256": "0" * 64}]}
    with_names = await api.post(url, headers=headers, data={"form": json.dumps(named)}, files=pdfs("named"))
    assert with_names.status_code == 422 and "材料须以文件上传" in with_names.json()["detail"]
    jinan = await login(api, "jn-coord")
    forbidden = await api.post(url, headers=jinan, data={"form": json.dumps(form)}, files=pdfs("forbidden"))
    assert forbidden.status_code == 403
    await terminate(env.client, cycle_id)

    history = await env.client.get_workflow_handle(cycle_id).fetch_history()
    recorded = [
        json.loads(e.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads[0].data)
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    paper = {"role": Role.SECRETARIAT.value, "identity": "qd-secretariat", "channel": Channel.PAPER.value}
    assert [r["actor"] for r in recorded if paper.items() <= r["actor"].items()], recorded
    assert len(recorded) == 2, "the refused entries left no trace in the cycle"
