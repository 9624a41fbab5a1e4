"""A form's files into the store, all or none: posted as multipart to a small app that parses the form the way
the applicant pages do, then hands its files to `store_uploads`."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from config.settings import KIB, Settings
from store.documents import DocumentRefused, LocalDocumentStore
from tests.test_documents import Chunks, files_in, pdf_bytes, png_bytes
from web.uploads import discard_all, store_uploads

REQUIREMENTS = {"file-form": "application_form", "file-report": "self_assessment", "file-extra": None}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, document_max_bytes=200 * KIB, application_max_bytes=300 * KIB, _env_file=None)


@pytest.fixture
def store(settings: Settings) -> LocalDocumentStore:
    return LocalDocumentStore(settings.documents_dir)


@pytest.fixture
async def browser(settings: Settings, store: LocalDocumentStore) -> AsyncIterator[httpx.AsyncClient]:
    async def upload(request: Request) -> JSONResponse:
        form = await request.form()
        files = [
            (name, REQUIREMENTS[name], value) for name, value in form.multi_items() if isinstance(value, UploadFile)
        ]
        try:
            stored = await store_uploads(store, files, settings)
        except DocumentRefused as refused:
            return JSONResponse({"field": refused.field, "reason": str(refused)}, status_code=422)
        finally:
            await form.close()
        return JSONResponse(
            [
                s.document(REQUIREMENTS[f]).model_dump() | {"created": s.created}
                for (f, _, _), s in zip(files, stored, strict=True)
            ]
        )

    app = Starlette(routes=[Route("/upload", upload, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


async def test_every_file_is_stored_with_its_requirement(browser: httpx.AsyncClient, store: LocalDocumentStore) -> None:
    pdf, png = pdf_bytes(), png_bytes()
    files = [("file-form", ("申报表.pdf", pdf, "application/pdf")), ("file-report", ("自评.png", png, "image/png"))]
    answer = await browser.post("/upload", files=files)
    assert answer.status_code == 200, answer.text
    form, report = answer.json()
    assert (form["name"], form["size"], form["media_type"], form["requirement"]) == (
        "申报表.pdf",
        len(pdf),
        "application/pdf",
        "application_form",
    )
    assert (report["media_type"], report["requirement"], report["created"]) == ("image/png", "self_assessment", True)
    assert store.exists(form["sha256"]) and store.exists(report["sha256"])
    assert len(files_in(store.root)) == 2


async def test_a_bad_second_file_takes_the_first_one_with_it(
    browser: httpx.AsyncClient, store: LocalDocumentStore
) -> None:
    files = [
        ("file-form", ("申报表.pdf", pdf_bytes(), "application/pdf")),
        ("file-report", ("自评报告.pdf", b"MZ\x90\x00" + b"\x00" * 300, "application/pdf")),
    ]
    answer = await browser.post("/upload", files=files)
    assert answer.status_code == 422
    assert answer.json() == {
        "field": "file-report",
        "reason": "文件不是 PDF、JPEG 或 PNG (自评报告.pdf: the content is not a PDF, JPEG or PNG file)",
    }
    assert files_in(store.root) == [], "the first file, stored before the second was refused, is gone"


async def test_a_blob_another_upload_stored_stays_when_this_one_is_refused(
    browser: httpx.AsyncClient, store: LocalDocumentStore
) -> None:
    earlier = await store.put("别人的.pdf", Chunks(pdf_bytes()), max_bytes=10**6)
    files = [
        ("file-form", ("申报表.pdf", pdf_bytes(), "application/pdf")),
        ("file-report", ("空.pdf", b"", "application/pdf")),
    ]
    answer = await browser.post("/upload", files=files)
    assert answer.status_code == 422 and answer.json()["field"] == "file-report"
    assert answer.json()["reason"].startswith("文件为空")
    assert store.exists(earlier.sha256), "another application's file is not this upload's to discard"


async def test_limits_per_file_and_per_upload(browser: httpx.AsyncClient, store: LocalDocumentStore) -> None:
    big = pdf_bytes() + b"\x00" * (200 * KIB)
    one = await browser.post("/upload", files=[("file-form", ("大.pdf", big, "application/pdf"))])
    assert one.status_code == 422
    assert one.json() == {"field": "file-form", "reason": "文件超过 200 KB (大.pdf: over 204800 bytes)"}

    part = pdf_bytes() + b"\x00" * (60 * KIB)  # each under 200 KiB, the three over 300 KiB together
    files = [
        ("file-form", ("一.pdf", part, "application/pdf")),
        ("file-report", ("二.pdf", part + b"\x01", "application/pdf")),
        ("file-extra", ("三.pdf", part + b"\x02", "application/pdf")),
    ]
    total = await browser.post("/upload", files=files)
    assert total.status_code == 422
    assert total.json() == {
        "field": "file-extra",
        "reason": "本次上传的文件合计超过 300 KB (三.pdf: the files together are over 307200 bytes)",
    }
    assert files_in(store.root) == []

    path = await browser.post("/upload", files=[("file-extra", ("..\\..\\x.pdf", pdf_bytes(), "application/pdf"))])
    assert path.status_code == 422 and path.json()["field"] == "file-extra"
    assert path.json()["reason"].startswith("文件名不能包含路径")


async def test_discard_all_undoes_an_upload_whose_act_was_refused(
    settings: Settings, store: LocalDocumentStore
) -> None:
    uploads = [
        ("file-form", "application_form", UploadFile(io.BytesIO(pdf_bytes()), filename="申报表.pdf")),
        ("file-report", "self_assessment", UploadFile(io.BytesIO(png_bytes()), filename="自评.png")),
    ]
    stored = await store_uploads(store, uploads, settings)
    assert [s.created for s in stored] == [True, True] and len(files_in(store.root)) == 2
    discard_all(store, stored)
    assert files_in(store.root) == []
