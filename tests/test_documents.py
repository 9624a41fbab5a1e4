"""The local document store: real PDF and PNG files in, by content; executables, empty files, oversized files and
paths refused, each leaving nothing in the store's directory."""

from __future__ import annotations

import hashlib
import io
import stat
import struct
import zlib
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path

import pytest
from pypdf import PdfReader

from store.documents import DocumentRefused, LocalDocumentStore, StoredDocument, safe_name


@cache
def pdf_bytes(text: str = "自评报告") -> bytes:
    """A real one-page PDF, as WeasyPrint writes it."""
    from weasyprint import HTML  # slow to import: only the tests that need a PDF pay for it

    return bytes(HTML(string=f"<html lang='zh'><body><p>{text}</p></body></html>").write_pdf())


def png_bytes(width: int = 3, height: int = 2) -> bytes:
    """A real RGB PNG: signature, IHDR, one zlib IDAT, IEND, each chunk with its CRC."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xc0\x30\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + b"\x00" * 64 + b"\xff\xd9"
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 240 + b"PE\x00\x00"
LINUX_ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 248


class Chunks:
    """An upload as it streams in, counting how much of it the store asked for."""

    def __init__(self, data: bytes, size: int = 1024) -> None:
        self.parts = [data[i : i + size] for i in range(0, len(data), size)]
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.taken += 1
            yield part


def files_in(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def store(tmp_path: Path) -> LocalDocumentStore:
    return LocalDocumentStore(tmp_path / "documents")


async def test_a_pdf_goes_in_by_its_digest_and_comes_back_unchanged(store: LocalDocumentStore) -> None:
    pdf = pdf_bytes()
    assert PdfReader(io.BytesIO(pdf)).pages, "a real PDF"
    stored = await store.put("  申报表（盖章扫描件）.pdf ", Chunks(pdf), max_bytes=len(pdf))
    sha = hashlib.sha256(pdf).hexdigest()
    assert stored == StoredDocument("申报表（盖章扫描件）.pdf", sha, len(pdf), "application/pdf", created=True)
    assert store.exists(sha) and not store.exists("0" * 64) and not store.exists("../etc")
    with store.open(sha) as file:
        assert file.read() == pdf
    blob = store.root / sha[:2] / sha[2:4] / sha
    assert files_in(store.root) == [blob], "no temporary file is left beside it"
    assert stat.S_IMODE(blob.stat().st_mode) & 0o077 == 0, "readable by the owner only"
    document = stored.document("application_form")
    assert (document.name, document.sha256, document.size) == (stored.name, sha, len(pdf))
    assert (document.media_type, document.requirement) == ("application/pdf", "application_form")

    # The same content again, under another name: the blob is kept, and this put did not create it.
    again = await store.put("副本.pdf", Chunks(pdf, 7), max_bytes=len(pdf))
    assert (again.sha256, again.name, again.created) == (sha, "副本.pdf", False)
    store.discard(again)
    assert store.exists(sha), "discarding a put that found the blob leaves it"
    store.discard(stored)
    assert not store.exists(sha) and files_in(store.root) == []
    with pytest.raises(FileNotFoundError):
        store.open(sha)
    with pytest.raises(FileNotFoundError):
        store.open("../../link.key")


async def test_images_are_typed_by_content_not_by_name(store: LocalDocumentStore) -> None:
    png = await store.put("scan.pdf", Chunks(png_bytes()), max_bytes=10_000)
    jpeg = await store.put("现场照片", Chunks(JPEG), max_bytes=10_000)
    assert (png.media_type, jpeg.media_type) == ("image/png", "image/jpeg")
    assert png.name == "scan.pdf", "the name is the applicant's; the type is the content's"


@pytest.mark.parametrize(
    "content",
    [WINDOWS_EXE, LINUX_ELF, b"<html><script>alert(1)</script></html>", b"PK\x03\x04" + b"\x00" * 100],
    ids=["exe", "elf", "html", "zip"],
)
async def test_an_executable_renamed_pdf_is_refused_and_nothing_stays(
    store: LocalDocumentStore, content: bytes
) -> None:
    with pytest.raises(DocumentRefused, match=r"^文件不是 PDF、JPEG 或 PNG \(报告\.pdf: the content is not a PDF"):
        await store.put("报告.pdf", Chunks(content), max_bytes=10_000)
    assert files_in(store.root) == []


async def test_the_type_is_refused_before_the_rest_is_read(store: LocalDocumentStore) -> None:
    upload = Chunks(WINDOWS_EXE + b"\x00" * 100_000, size=4096)
    with pytest.raises(DocumentRefused, match="不是 PDF"):
        await store.put("setup.pdf", upload, max_bytes=10**6)
    assert upload.taken == 2 < len(upload.parts) and files_in(store.root) == []


async def test_an_empty_file_is_refused(store: LocalDocumentStore) -> None:
    with pytest.raises(DocumentRefused, match=r"^文件为空 \(空\.pdf: the file has no content\)$"):
        await store.put("空.pdf", Chunks(b""), max_bytes=10_000)
    assert files_in(store.root) == []


async def test_a_file_over_the_limit_is_refused_mid_stream(store: LocalDocumentStore) -> None:
    limit = 256 * 1024
    upload = Chunks(pdf_bytes() + b"\x00" * (4 * limit), size=8192)
    with pytest.raises(DocumentRefused, match=r"^文件超过 256 KB \(大\.pdf: over 262144 bytes\)$"):
        await store.put("大.pdf", upload, max_bytes=limit)
    assert upload.taken <= limit // 8192 + 1 < len(upload.parts), "it stopped reading once over"
    assert files_in(store.root) == []
    exact = pdf_bytes() + b"\x00" * (limit - len(pdf_bytes()))
    assert (await store.put("刚好.pdf", Chunks(exact), max_bytes=limit)).size == limit, "the limit itself is allowed"


@pytest.mark.parametrize(
    "name",
    [
        "../报告.pdf",
        "材料/报告.pdf",
        "C:\\Users\\张三\\报告.pdf",
        "C:报告.pdf",
        "..",
        "/etc/passwd",
        "报告\x00.pdf",
        "报告\n.pdf",
        "\u202efdp.exe",
        "",
        "   ",
        "很" * 197 + ".pdf",
    ],
)
async def test_names_with_a_path_or_hidden_characters_are_refused(store: LocalDocumentStore, name: str) -> None:
    with pytest.raises(DocumentRefused, match=r"^(文件名|缺少文件名)"):
        safe_name(name)
    with pytest.raises(DocumentRefused) as refused:
        await store.put(name, Chunks(pdf_bytes()), max_bytes=10**6)
    assert refused.value.field is None and "\n" not in str(refused.value)
    assert files_in(store.root) == []


def test_plain_names_are_kept() -> None:
    assert safe_name("  2025年度 审计报告..终版(1).pdf\t") == "2025年度 审计报告..终版(1).pdf"
    assert safe_name("很" * 196 + ".pdf") == "很" * 196 + ".pdf"
    assert safe_name("e\u0301.pdf") == "é.pdf", "composed as NFC, as another browser would send it"
