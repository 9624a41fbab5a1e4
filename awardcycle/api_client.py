"""The web API as the CLI and the simulator call it: a bearer token, one-line refusals, and patience
with a busy or restarting server."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel

from awardcycle.service import RefusalKind, Refused

M = TypeVar("M", bound=BaseModel)

API_PREFIX = "/api/v1"
TRANSIENT = frozenset({502, 503, 504})
ATTEMPTS = 6
FIRST_PAUSE_SECONDS = 0.5
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
# The web app's answers read back as the kind of refusal it made (web/errors.py maps the kinds to these statuses);
# any other status is a plain refusal.
KIND_OF_STATUS = {
    400: RefusalKind.REFUSED,
    401: RefusalKind.UNAUTHORIZED,
    403: RefusalKind.FORBIDDEN,
    404: RefusalKind.NOT_FOUND,
    409: RefusalKind.CONFLICT,
    422: RefusalKind.INVALID,
    503: RefusalKind.BUSY,
}
NOT_LOGGED_IN = "未登录或登录已失效 (not logged in, or the token expired): run `awardcycle login USERNAME`"


class ApiClient:
    """One connection pool to the web app; every call raises `Refused` with the server's reason."""

    def __init__(self, base_url: str, token: str | None, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=TIMEOUT, transport=transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **options: Any) -> Any:
        """The JSON answer; a 502/503/504 or a refused connection is tried again with backoff."""
        pause = FIRST_PAUSE_SECONDS
        for attempt in range(ATTEMPTS):
            try:
                response = await self._http.request(method, f"{API_PREFIX}{path}", **options)
            except httpx.TransportError as error:
                if attempt == ATTEMPTS - 1:
                    raise Refused(
                        f"无法连接 {self.base_url} ({type(error).__name__}); is `awardcycle up` running?",
                        RefusalKind.BUSY,
                    ) from error
            else:
                if response.status_code not in TRANSIENT or attempt == ATTEMPTS - 1:
                    return _answer(response)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 8.0)
        raise AssertionError("unreachable")

    async def get(self, path: str, model: type[M], **params: Any) -> M:
        return model.model_validate(await self.request("GET", path, params=_present(params)))

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return await self.request("POST", path, json=body, params=_present(params))

    async def login(self, username: str, password: str, client_id: str) -> dict[str, Any]:
        form = {"username": username, "password": password, "client_id": client_id}
        answer: dict[str, Any] = await self.request("POST", "/login/access-token", data=form)
        return answer


def _present(params: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


def _answer(response: httpx.Response) -> Any:
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return body
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's own 422: where and what, for the first problem
        first = detail[0] if detail else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        detail = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg")
    if response.status_code == 401:
        detail = f"{detail} — {NOT_LOGGED_IN}" if detail else NOT_LOGGED_IN
    kind = KIND_OF_STATUS.get(response.status_code, RefusalKind.REFUSED)
    raise Refused(str(detail or f"HTTP {response.status_code}"), kind)
