"""Applicants' files, kept by the SHA-256 of their content: `DocumentStore` is what the web app needs of a store,
`LocalDocumentStore` keeps them under the state directory.

A file is checked while it streams in: its size against a limit, its type by its first bytes (never by its
name), and its name for paths and control characters. A refused file leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import filetype

from schemas.application import Document

# Only what a reviewer's browser shows without a plug-in, and what filetype tells apart by content. OFD
# (GB/T 33190) is left out: filetype sees only a ZIP, and the OFD readers on PyPI (easyofd, ofdkit) are
# one-person projects that render rather than validate, so nothing maintained would check the content.
MEDIA_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
SNIFF_BYTES = 8192  # what filetype reads of a file's head
NAME_LIMIT = 200  # Document.name's max_length
SHA256 = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")
# Control and invisible format characters (a right-to-left override turns "fdp.exe" into "exe.pdf" on screen).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


class DocumentRefused(Exception):
    """A file not stored, with one line saying why; `field` names the form field it came in, when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DocumentTooLarge(DocumentRefused):
    """A file over the limit it was stored under; the caller may know a better reason (the upload's total)."""


@dataclass(frozen=True)
class StoredDocument:
    name: str
    sha256: str
    size: int
    media_type: str
    created: bool  # this put wrote the blob; an identical one already stored is kept and not ours to discard

    def document(self, requirement: str | None = None) -> Document:
        return Document(
            name=self.name, sha256=self.sha256, size=self.size, media_type=self.media_type, requirement=requirement
        )


class DocumentStore(Protocol):
    """Blobs named by their content's SHA-256. Nothing here assumes a file system: an S3-compatible store can
    implement it with a multipart upload to a temporary key, then a copy to the digest's key."""

    async def put(self, name: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> StoredDocument:
        """Check and keep a file; `DocumentRefused` (and nothing kept) for a bad name, size or type."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """The blob for reading; `FileNotFoundError` if there is none."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def discard(self, stored: StoredDocument) -> None:
        """Undo a put whose application was refused: the blob goes only if that put created it."""
        ...


def safe_name(name: str) -> str:
    """The file name as shown to reviewers, or `DocumentRefused`: a path is refused, not rewritten."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise DocumentRefused("缺少文件名 (the file has no name)")
    if len(name) > NAME_LIMIT:
        raise DocumentRefused(f"文件名过长，最多 {NAME_LIMIT} 个字符 ({name[:40]}…: the name is over {NAME_LIMIT})")
    if any(unicodedata.category(c) in _HIDDEN_CATEGORIES for c in name):
        raise DocumentRefused(f"文件名含控制字符 ({name[:40]!r}: the name has control or invisible characters)")
    # A browser sends the base name; anything else came from a path, or is one.
    if "/" in name or "\\" in name or set(name) == {"."} or _DRIVE.match(name):
        raise DocumentRefused(f"文件名不能包含路径 ({name[:80]!r}: a file name, not a path)")
    return name


def sniff(head: bytes) -> str | None:
    """The media type the first bytes show, if it is one that may be stored and served."""
    kind = filetype.guess(head[:SNIFF_BYTES])
    return kind.mime if kind is not None and kind.mime in MEDIA_TYPES else None


def megabytes(limit: int) -> str:
    """A limit as people read it: 20 MB, 64 KB."""
    return f"{limit / 1024**2:g} MB" if limit >= 1024**2 else f"{limit / 1024:g} KB"


class LocalDocumentStore:
    """`root/ab/cd/<sha256>`, each blob written once through a temporary file in `root` and readable by the owner."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not SHA256.fullmatch(sha256):
            raise FileNotFoundError(f"not a SHA-256: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, name: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> StoredDocument:
        name = safe_name(name)
        await asyncio.to_thread(self.root.mkdir, mode=0o700, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self.root, prefix=".upload-")  # mode 0600
        try:
            with os.fdopen(descriptor, "wb") as file:
                digest, size, head, media_type = hashlib.sha256(), 0, b"", None
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise DocumentTooLarge(f"文件超过 {megabytes(max_bytes)} ({name}: over {max_bytes} bytes)")
                    if media_type is None:
                        head += chunk[: SNIFF_BYTES - len(head)]
                        if len(head) >= SNIFF_BYTES:  # refused at once, before the rest is read
                            media_type = _media_type(name, head)
                    digest.update(chunk)
                    await asyncio.to_thread(file.write, chunk)
                if size == 0:
                    raise DocumentRefused(f"文件为空 ({name}: the file has no content)")
                media_type = media_type or _media_type(name, head)
                await asyncio.to_thread(_flush, file)
            sha256 = digest.hexdigest()
            created = await asyncio.to_thread(self._keep, temporary, self.path(sha256))
        finally:
            _remove(temporary)  # in place, not in a thread: a cancelled upload must not leave its file
        return StoredDocument(name, sha256, size, media_type, created)

    def _keep(self, temporary: str, target: Path) -> bool:
        """Link the checked file in under its digest; an identical blob already there is kept as it is."""
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.link(temporary, target)  # unlike a rename, never replaces a blob another upload may rely on
        except FileExistsError:
            return False
        return True

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        try:
            return self.path(sha256).is_file()
        except FileNotFoundError:
            return False

    def discard(self, stored: StoredDocument) -> None:
        if stored.created:
            self.path(stored.sha256).unlink(missing_ok=True)


def _media_type(name: str, head: bytes) -> str:
    media_type = sniff(head)
    if media_type is None:
        raise DocumentRefused(f"文件不是 PDF、JPEG 或 PNG ({name}: the content is not a PDF, JPEG or PNG file)")
    return media_type


def _remove(path: str) -> None:
    Path(path).unlink(missing_ok=True)


def _flush(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())
