"""`/dev/mail`: the embedded SMTP sink's `.eml` files as HTML pages, for a developer to follow task links.

Registered only in embedded mode (web.main); the sink writes the files (awardcycle.embedded). The
messages hold live task links, so only a signed-in account reads them.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from web.deps import SettingsDep
from web.routes.console import signed_in
from web.templating import templates

router = APIRouter(prefix="/dev/mail", tags=["dev"], include_in_schema=False, dependencies=[Depends(signed_in)])

# The messages carry task links with tokens: no cache may keep them, no Referer may pass them on.
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
PAGE = 50  # messages per page; a rehearsal of 1,000 applicants sends thousands
SHOWN_HEADERS = ("From", "To", "Reply-To", "Subject", "Date", "Message-ID")
_NAME = re.compile(r"[A-Za-z0-9._-]+\.eml")
# URLs are ASCII: a link ends at whitespace, a quote, an angle bracket or CJK punctuation.
_URL = re.compile(r"(https?://[^\s<>\"'\u0080-\uffff]+)")


@dataclass(frozen=True)
class Listed:
    name: str
    date: datetime | None
    to: str
    subject: str


def _parse(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def _date(message: EmailMessage) -> datetime | None:
    at: datetime | None = getattr(message["Date"], "datetime", None)
    # RFC 5322's "-0000" parses as naive: it is UTC with no claim about the sender's zone.
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _listing(mail_dir: Path, offset: int, limit: int) -> tuple[list[Listed], int]:
    """One page of messages, newest first, and how many there are; only that page is parsed."""
    try:
        names = [entry.name for entry in os.scandir(mail_dir) if _NAME.fullmatch(entry.name) and entry.is_file()]
    except FileNotFoundError:
        return [], 0
    names.sort(reverse=True)  # the sink names each file by its UTC arrival time
    listed = []
    for name in names[offset : offset + limit]:
        message = _parse(mail_dir / name)
        listed.append(Listed(name, _date(message), str(message["To"] or ""), str(message["Subject"] or "")))
    return listed, len(names)


def _path(mail_dir: Path, name: str) -> Path:
    """A message file directly inside mail_dir, or a 404."""
    path = mail_dir / name
    if not _NAME.fullmatch(name) or path.resolve().parent != mail_dir.resolve() or not path.is_file():
        raise HTTPException(status_code=404, detail="未找到该邮件 (no such message)")
    return path


def linkify(text: str) -> Markup:
    """Escaped text whose http(s) URLs are links."""
    pieces = _URL.split(text)  # with the group, odd pieces are the URLs
    return Markup("").join(Markup('<a href="{0}">{0}</a>').format(p) if i % 2 else p for i, p in enumerate(pieces))


def _content(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    return str(part.get_content()) if part is not None else ""


@router.get("", response_class=HTMLResponse)
async def mail_list(
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
) -> HTMLResponse:
    messages, total = await run_in_threadpool(_listing, settings.mail_dir, offset, limit)
    page = templates.get_template("dev_mail.html").render(
        messages=messages,
        total=total,
        offset=offset,
        limit=limit,
        previous=max(offset - limit, 0) if offset else None,
        next=offset + limit if offset + limit < total else None,
        mail_dir=settings.mail_dir,
    )
    return HTMLResponse(page, headers=HEADERS)


@router.get("/{name}", response_class=HTMLResponse)
async def mail_message(name: str, settings: SettingsDep) -> HTMLResponse:
    message = await run_in_threadpool(lambda: _parse(_path(settings.mail_dir, name)))
    page = templates.get_template("dev_mail_message.html").render(
        name=name,
        headers=[(h, str(message[h])) for h in SHOWN_HEADERS if message[h] is not None],
        text=linkify(_content(message, "plain")),
        html=_content(message, "html"),
    )
    return HTMLResponse(page, headers=HEADERS)
