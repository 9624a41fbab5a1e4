"""Who is asking: the principal from a bearer token or the console's session cookie, and what it may see.

A request names a workflow; its cycle's programme decides which of the principal's grants count.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from cachetools import LRUCache
from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from awardcycle import service
from awardcycle.service import RefusalKind, Refused
from schemas.common import Channel
from schemas.identity import AccountRole, Principal
from store import accounts, queries
from store.db import session

SESSION_COOKIE = "awardcycle_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READERS = (AccountRole.COORDINATOR, AccountRole.SECRETARIAT, AccountRole.ONSITE, AccountRole.AUDITOR)
PERSONAL_DATA = frozenset({AccountRole.COORDINATOR, AccountRole.AUDITOR})
SCORES = frozenset({AccountRole.COORDINATOR, AccountRole.SECRETARIAT, AccountRole.AUDITOR})
UNAUTHENTICATED = "需要登录 (authentication required: log in for a token)"
EXPIRED = "登录已失效，请重新登录 (the token is expired, revoked or unknown; log in again)"
CSRF_FAILED = "安全校验未通过，请刷新页面后重试 (CSRF check failed; reload the page and try again)"
CYCLE_FACTS_CACHE = 4096


@dataclass(frozen=True)
class CycleFacts:
    """What never changes about a cycle once started: its programme, and whether it is a rehearsal."""

    cycle_id: str
    programme_id: str
    rehearsal: bool


@dataclass(frozen=True)
class Access:
    """A principal's roles on the programme of the cycle a request names."""

    principal: Principal
    cycle: CycleFacts
    roles: frozenset[AccountRole]

    def require(self, *allowed: AccountRole) -> AccountRole:
        """The first of `allowed` the principal holds here, else 403 naming what is needed."""
        held = next((role for role in allowed if role in self.roles), None)
        if held is None:
            needed = " / ".join(f"{r.value}@{self.cycle.programme_id}" for r in allowed) or "a task link"
            raise forbidden(f"无权执行此操作 (this needs {needed}; {self.principal.username} holds no such grant)")
        return held

    @property
    def sees_personal_data(self) -> bool:
        return bool(self.roles & PERSONAL_DATA)

    @property
    def sees_scores(self) -> bool:
        return bool(self.roles & SCORES)


def unauthorized(reason: str = UNAUTHENTICATED) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "Bearer"})


def forbidden(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=reason)


def csrf_value(key: bytes, digest: str) -> str:
    """A form's CSRF value, bound to what the form belongs to (a link, a nonce cookie, a session)."""
    return hmac.new(key, digest.encode(), "sha256").hexdigest()


class FormNonce:
    """CSRF for a form shown before any login: its value is bound to a random nonce in a SameSite=Strict cookie."""

    def __init__(self, cookie: str, purpose: str, path: str) -> None:
        self.cookie, self.purpose, self.path = cookie, purpose, path

    def value(self, request: Request, nonce: str) -> str:
        return csrf_value(request.app.state.csrf_key, f"{self.purpose}:{nonce}")

    def issue(self, request: Request) -> tuple[str, str]:
        """The nonce (the browser's, or a new one) and the form's CSRF value for it."""
        nonce = request.cookies.get(self.cookie) or secrets.token_urlsafe(16)
        return nonce, self.value(request, nonce)

    def keep(self, request: Request, response: Response, nonce: str) -> None:
        secure = request.url.scheme == "https"
        response.set_cookie(self.cookie, nonce, httponly=True, samesite="strict", secure=secure, path=self.path)

    def matches(self, request: Request, sent: object) -> bool:
        nonce = request.cookies.get(self.cookie)
        expected = self.value(request, nonce or "")
        return bool(nonce) and isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


def csrf_for(request: Request, token_digest: str) -> str:
    """The CSRF value of a console session, bound to its token."""
    return csrf_value(request.app.state.csrf_key, f"session:{token_digest}")


def reader_roles(principal: Principal, programme_id: str) -> frozenset[AccountRole]:
    """The principal's roles that read this programme's cycles; empty: none of them may be seen."""
    return frozenset(principal.roles_on(programme_id) & set(READERS))


def _credential(request: Request) -> tuple[str, bool] | None:
    """The token and whether it came from the session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else None


def _holder(engine: Engine, token: str) -> accounts.TokenHolder | None:
    with session(engine) as s:
        return accounts.holder_of(s, token)


async def _csrf_sent(request: Request) -> str:
    if header := request.headers.get(CSRF_HEADER):
        return header
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def optional_holder(request: Request) -> accounts.TokenHolder | None:
    """The live token's holder, or None without a credential; a dead credential is a 401."""
    credential = _credential(request)
    if credential is None or len(credential[0]) > 256:
        return None
    token, from_cookie = credential
    holder = await run_in_threadpool(_holder, request.app.state.engine, token)
    if holder is None:
        raise unauthorized(EXPIRED)
    if from_cookie and request.method not in SAFE_METHODS:
        sent = await _csrf_sent(request)
        if not hmac.compare_digest(sent.encode(), csrf_for(request, holder.token_sha256).encode()):
            raise forbidden(CSRF_FAILED)
    return holder


async def token_holder(
    holder: Annotated[accounts.TokenHolder | None, Depends(optional_holder)],
) -> accounts.TokenHolder:
    if holder is None:
        raise unauthorized()
    return holder


def principal_of(holder: accounts.TokenHolder) -> Principal:
    account = holder.account
    return Principal(
        username=account.username,
        name_zh=account.name_zh,
        email=account.email,
        grants=account.grants,
        channel=Channel(holder.channel),
    )


MUST_CHANGE = (
    "请先修改一次性初始密码 (change the one-time password first: `awardcycle passwd`, "
    "POST /api/v1/users/me/password, or the console)"
)


async def current_principal(holder: Annotated[accounts.TokenHolder, Depends(token_holder)]) -> Principal:
    if holder.account.must_change_password:
        raise forbidden(MUST_CHANGE)
    return principal_of(holder)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_anywhere(*roles: AccountRole) -> Any:
    """A route dependency: the principal holds one of the roles on some programme."""

    async def check(principal: PrincipalDep) -> Principal:
        if not any(principal.holds(role) for role in roles):
            raise forbidden(f"无权访问 (this needs one of: {', '.join(r.value for r in roles)})")
        return principal

    return Depends(check)


def _stored_facts(engine: Engine, cycle_id: str) -> CycleFacts | None:
    with session(engine) as s:
        row = queries.get_cycle(s, cycle_id=cycle_id)
    return None if row is None else CycleFacts(cycle_id, row.programme_id, row.day_seconds is not None)


async def cycle_facts(request: Request, cycle_id: str) -> CycleFacts:
    """From the read model, or from the cycle itself before its first record is written; 404 if neither."""
    cache: LRUCache[str, CycleFacts] = request.app.state.cycle_facts
    if cycle_id not in cache:
        facts = await run_in_threadpool(_stored_facts, request.app.state.engine, cycle_id)
        if facts is None:
            try:
                live = await service.cycle_status(request.app.state.client, cycle_id)
            except Refused as error:
                raise Refused(f"未找到 (no cycle has the id {cycle_id!r})", RefusalKind.NOT_FOUND) from error
            facts = CycleFacts(cycle_id, live.programme_id, live.day_seconds is not None)
        cache[cycle_id] = facts
    return cache[cycle_id]


def cycle_of(workflow_id: str) -> str:
    """Every workflow's id starts with its cycle's: `{cycle}.app-0001`, `{cycle}.notice`, ..."""
    return workflow_id.split(".", 1)[0]


async def access_to(request: Request, principal: Principal, workflow_id: str) -> Access:
    facts = await cycle_facts(request, cycle_of(workflow_id))
    roles = reader_roles(principal, facts.programme_id)
    if not roles:
        raise forbidden(
            f"无权访问该项目 ({principal.username} holds no grant on {facts.programme_id}, which runs {workflow_id})"
        )
    return Access(principal, facts, roles)


def access(parameter: str) -> Any:
    """A route dependency: the principal's access to the workflow named by a path parameter."""

    async def check(request: Request, principal: PrincipalDep) -> Access:
        return await access_to(request, principal, request.path_params[parameter])

    return Depends(check)
