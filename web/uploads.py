"""Applicants' files in and out of the web app. In: a form's files into the document store, all or none, within
each file's limit and the upload's total; on the first refusal every blob this upload wrote is discarded again.
Out: a download whose type is read again from the content, never one a browser would run, and the lines that
list the files on the console's and the expert's pages."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, BinaryIO
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from config.settings import Settings
from schemas.application import Document
from store.documents import (
    SHA256,
    SNIFF_BYTES,
    DocumentRefused,
    DocumentStore,
    DocumentTooLarge,
    StoredDocument,
    megabytes,
    sniff,
)

CHUNK_BYTES = 64 * 1024

# (form field name, the programme's required document id or None, the file)
Upload = tuple[str, str | None, UploadFile]


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    await upload.seek(0)  # the form parser leaves it at the start, but a caller may have peeked
    while chunk := await upload.read(CHUNK_BYTES):
        yield chunk


async def store_uploads(store: DocumentStore, uploads: Sequence[Upload], settings: Settings) -> list[StoredDocument]:
    """Each file stored, in order; `DocumentRefused` with the field's name, and nothing kept, if one is refused."""
    stored: list[StoredDocument] = []
    left = settings.application_max_bytes
    for field, _requirement, upload in uploads:
        limit = min(settings.document_max_bytes, left)
        try:
            document = await store.put(upload.filename or "", _chunks(upload), max_bytes=limit)
        except DocumentRefused as refused:
            discard_all(store, stored)
            if isinstance(refused, DocumentTooLarge) and limit < settings.document_max_bytes:
                total = settings.application_max_bytes
                raise DocumentTooLarge(
                    f"本次上传的文件合计超过 {megabytes(total)} ({upload.filename}: the files together are over "
                    f"{total} bytes)",
                    field=field,
                ) from refused
            raise type(refused)(str(refused), field=field) from refused
        stored.append(document)
        left -= document.size
    return stored


def discard_all(store: DocumentStore, stored: Iterable[StoredDocument]) -> None:
    """Undo an upload whose application or supplement was refused: the blobs it created go, shared ones stay."""
    for document in stored:
        store.discard(document)


NOT_FOUND_ZH = "未找到该文件 (no such document)"
TYPE_ZH = {"application/pdf": "PDF", "image/jpeg": "JPEG 图片", "image/png": "PNG 图片"}
# A blob is an applicant's upload: the browser downloads it, sniffs nothing, and runs nothing in it.
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
}


@dataclass(frozen=True)
class DocumentLine:
    name: str
    sha256: str
    href: str | None  # None: only a name and a digest were recorded, no file was uploaded
    size_zh: str
    type_zh: str
    requirement_zh: str


def size_text(size: int | None) -> str:
    if size is None:
        return "—"
    if size < 1024**2:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / 1024**2:.1f} MB"


def document_lines(
    documents: Sequence[Document], href_prefix: str, requirements: Mapping[str, str] | None = None
) -> list[DocumentLine]:
    """Each document with its link (`href_prefix` + digest) when the server stored its file."""
    named = requirements or {}
    return [
        DocumentLine(
            name=d.name,
            sha256=d.sha256,
            href=f"{href_prefix}{d.sha256}" if d.media_type else None,
            size_zh=size_text(d.size),
            type_zh=TYPE_ZH.get(d.media_type or "", d.media_type or "—"),
            requirement_zh=named.get(d.requirement, d.requirement) if d.requirement else "",
        )
        for d in documents
    ]


def find_document(documents: Sequence[Document], sha256: str) -> Document:
    """The application's document with this digest, else 404: a reader opens only what the application holds."""
    if SHA256.fullmatch(sha256):
        for document in documents:
            if document.sha256 == sha256:
                return document
    raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND_ZH)


def _blob_chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


def document_response(store: DocumentStore, document: Document) -> Response:
    """The blob as an attachment (blocking: run it in a thread); 404 if it is absent or not an allowed type."""
    try:
        file = store.open(document.sha256)
    except FileNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND_ZH) from error
    try:
        media_type = sniff(file.read(SNIFF_BYTES))
        if media_type is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND_ZH)
        size = file.seek(0, os.SEEK_END)
        file.seek(0)
    except BaseException:
        file.close()
        raise
    headers = {
        **HEADERS,
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(document.name, safe='')}",
        "Content-Length": str(size),
    }
    return StreamingResponse(_blob_chunks(file), media_type=media_type, headers=headers)


def get_document_store(request: Request) -> DocumentStore:
    store: DocumentStore = request.app.state.documents
    return store


DocumentStoreDep = Annotated[DocumentStore, Depends(get_document_store)]
