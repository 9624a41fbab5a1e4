"""Request bodies bounded before anything reads them: 413 for a declared Content-Length over the limit, and for a
chunked body once more than the limit has arrived. A form with files may carry a whole upload; any other body
is small.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.settings import MIB, Settings
from store.documents import megabytes

MULTIPART = "multipart/form-data"
FORM_OVERHEAD = MIB  # the form's text fields and the multipart boundaries around the files
PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>提交内容过大</title></head>
<body><h1>提交内容过大</h1><p>本次提交超过 {limit} 的上限，未作任何保存。请减小或分次上传文件后重试。</p></body></html>
"""


class _TooLarge(Exception):
    """Raised to the app from `receive`, so that it stops reading."""


@dataclass
class _Progress:
    received: int = 0
    over: bool = False
    started: bool = False  # the response's first message went out


class BodyLimit:
    """Pure ASGI, so that it sees the body as it arrives, before any form parser spools it."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.files = settings.application_max_bytes + FORM_OVERHEAD
        self.other = settings.request_max_bytes

    def limit(self, scope: Scope) -> int:
        content_type = _header(scope, b"content-type") or ""
        return self.files if content_type.split(";", 1)[0].strip().lower() == MULTIPART else self.other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refusal(scope, limit)(scope, receive, send)
            return
        progress = _Progress()

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                progress.received += len(message.get("body", b""))
                if progress.received > limit:
                    progress.over = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            if progress.over:
                return  # whatever the app makes of the interrupted body, the answer is the 413
            progress.started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            # The app may re-raise the interruption in its own words (or a group of them); only that is ours.
            if not progress.over:
                raise
        if progress.over and not progress.started:
            await _refusal(scope, limit)(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _refusal(scope: Scope, limit: int) -> Response:
    if str(scope["path"]).startswith("/api/"):
        return JSONResponse({"detail": f"请求内容过大 (request body over {limit} bytes)"}, status_code=413)
    return HTMLResponse(PAGE.format(limit=megabytes(limit)), status_code=413)
