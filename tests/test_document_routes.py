"""Reviewers open an application's files: the console's readers of its programme, and its drawn experts through
their scoring links. Real PDF and PNG files in the app's store, a real cycle on the time-skipping server."""

from __future__ import annotations

import html
import re
import secrets
import uuid
from urllib.parse import quote

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from awardcycle import service
from config.settings import Settings
from programmes import get_programme
from schemas.application import ApplicationForm
from schemas.programme import StageKind
from store.documents import LocalDocumentStore, StoredDocument
from tests.conftest import Inbox
from tests.scenario import (
    StrongPlayer,
    apply_all,
    forms,
    in_expert_review,
    link_token,
    overview_showing,
    small,
    start,
    terminate,
    until_stage,
)
from tests.test_dashboard import console_session
from tests.test_documents import Chunks, pdf_bytes, png_bytes

QINGDAO = "qingdao-mayor-quality-award"
PROGRAMME = small(get_programme(QINGDAO))
DOCUMENT = "/console/applications/{}/documents/{}"
SAFE_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox; default-src 'none'",
    "cache-control": "private, no-store",
}


async def stored_files(settings: Settings) -> tuple[StoredDocument, StoredDocument, StoredDocument]:
    """An application form and a self-assessment, as uploaded, and a file of no application here."""
    store = LocalDocumentStore(settings.documents_dir)
    form = await store.put("申报表（盖章扫描件）.pdf", Chunks(pdf_bytes("申报表")), max_bytes=10**7)
    report = await store.put("自评 报告.png", Chunks(png_bytes()), max_bytes=10**7)
    other = await store.put("别家的.pdf", Chunks(pdf_bytes("别家的申报表")), max_bytes=10**7)
    return form, report, other


def with_files(form: ApplicationForm, *files: StoredDocument) -> ApplicationForm:
    requirements = [d.id for d in PROGRAMME.documents]
    documents = [f.document(r) for f, r in zip(files, requirements, strict=True)]
    return form.model_copy(update={"documents": documents})


def assert_download(response: httpx.Response, stored: StoredDocument, content: bytes) -> None:
    assert response.status_code == 200, response.text
    assert response.content == content
    assert response.headers["content-type"] == stored.media_type
    assert response.headers["content-disposition"] == f"attachment; filename*=UTF-8''{quote(stored.name, safe='')}"
    assert {name: response.headers.get(name) for name in SAFE_HEADERS} == SAFE_HEADERS


async def test_the_console_readers_of_the_programme_open_its_files(
    api: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
) -> None:
    form_file, report_file, other = await stored_files(settings)
    cycle_id = await start(env.client, PROGRAMME, task_queue, f"docs-{uuid.uuid4().hex[:6]}")
    applied = forms(PROGRAMME)
    labels = await apply_all(
        env.client,
        cycle_id,
        {"winner-1": with_files(applied["winner-1"], form_file, report_file), "winner-2": applied["winner-2"]},
    )
    uploaded, recorded = (a for a, label in sorted(labels.items(), key=lambda item: item[1]))
    path = DOCUMENT.format(uploaded, form_file.sha256)
    try:
        for username in ("qd-secretariat", "qd-coord", "qd-onsite", "auditor"):
            async with console_session(api, username) as reader:
                assert_download(await reader.get(path), form_file, pdf_bytes("申报表"))
        async with console_session(api, "qd-secretariat") as secretariat:
            image = await secretariat.get(DOCUMENT.format(uploaded, report_file.sha256))
            assert_download(image, report_file, png_bytes())
            assert image.headers["content-disposition"].endswith("''%E8%87%AA%E8%AF%84%20%E6%8A%A5%E5%91%8A.png")

            # The page lists each file with its link, type and size; a recorded digest without a file has no link.
            page = html.unescape((await secretariat.get(f"/console/applications/{uploaded}")).text)
            section = re.search(r'<section id="documents"(.*?)</section>', page, re.S)
            assert section is not None
            listed = section[1]
            assert f'href="{path}"' in listed and "申报表（盖章扫描件）.pdf" in listed and "PDF" in listed
            assert f"{round(form_file.size / 1024)} KB" in listed and "PNG 图片" in listed
            assert "自评报告" in listed, "the programme's name of the required document"
            bare = html.unescape((await secretariat.get(f"/console/applications/{recorded}")).text)
            assert "/documents/" not in bare and "仅记录了摘要" in bare

            # Only the application's own files, and only files that are there.
            for wrong in (
                DOCUMENT.format(uploaded, other.sha256),
                DOCUMENT.format(recorded, form_file.sha256),
                DOCUMENT.format(uploaded, "g" * 64),
                DOCUMENT.format(uploaded, form_file.sha256.upper()),
                DOCUMENT.format(recorded, applied["winner-2"].documents[0].sha256),
                DOCUMENT.format(f"{cycle_id}.app-9999", form_file.sha256),
            ):
                missing = await secretariat.get(wrong)
                assert missing.status_code == 404, wrong
                assert "content-disposition" not in missing.headers and missing.content != pdf_bytes("申报表")

        async with console_session(api, "jn-coord") as stranger:
            barred = await stranger.get(path)
            assert barred.status_code == 403 and "无权访问该项目" in html.unescape(barred.text)
        assert (await api.get(path)).status_code == 200, "a bearer token of a reader works too"
        signed_out = await anonymous.get(path)
        assert signed_out.status_code == 303 and signed_out.headers["location"] == f"/login?next={quote(path)}"
    finally:
        await terminate(env.client, cycle_id)


async def test_a_drawn_expert_opens_the_files_from_the_scoring_link(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    task_queue: str,
    inbox: Inbox,
    engine: Engine,
    settings: Settings,
) -> None:
    form_file, report_file, other = await stored_files(settings)
    cycle_id = await start(env.client, PROGRAMME, task_queue, f"xdocs-{uuid.uuid4().hex[:6]}")
    try:
        applied = {label: with_files(form, form_file, report_file) for label, form in forms(PROGRAMME).items()}
        await apply_all(env.client, cycle_id, applied)
        player = StrongPlayer(programme=PROGRAMME, departments=True)
        await until_stage(env, engine, cycle_id, player, StageKind.EXPERT_REVIEW)
        # The read model trails the stage change by a moment.
        reviewing = await overview_showing(env.client, engine, cycle_id, in_expert_review, limit=100)
        application_id = next(a.application_id for a in reviewing.applications if a.state == "expert_review")
        expert_id = (await service.application_status(env.client, application_id)).experts[0]
        token = await link_token(inbox, f"{application_id}/expert-{expert_id}")

        page = html.unescape((await api.get(f"/t/{token}")).text)
        hrefs = re.findall(r'<a href="(/t/[^"]+/documents/[0-9a-f]{64})" download>([^<]+)</a>', page)
        assert hrefs == [
            (f"/t/{token}/documents/{form_file.sha256}", form_file.name),
            (f"/t/{token}/documents/{report_file.sha256}", report_file.name),
        ]
        assert "PNG 图片" in page and "申报表（盖章扫描件）" in page

        download = await api.get(hrefs[0][0])
        assert_download(download, form_file, pdf_bytes("申报表"))
        assert download.headers["referrer-policy"] == "no-referrer", "the link's own headers stay where not stricter"
        assert_download(await api.get(hrefs[1][0]), report_file, png_bytes())

        elsewhere = await api.get(f"/t/{token}/documents/{other.sha256}")
        assert elsewhere.status_code == 404 and "未找到该文件" in elsewhere.text
        unknown = await api.get(f"/t/{secrets.token_urlsafe(32)}/documents/{form_file.sha256}")
        assert unknown.status_code == 404 and "链接无效或已过期" in unknown.text
        assert "content-disposition" not in unknown.headers
    finally:
        await terminate(env.client, cycle_id)
