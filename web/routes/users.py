"""Accounts for administrators (`admin@*`), and the sign-in record for auditors of every programme."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import Field
from sqlmodel import Session

from schemas.common import Model
from schemas.identity import USERNAME_PATTERN, AccountRole, Grant, Principal
from store import accounts
from web.auth import PrincipalDep, forbidden
from web.deps import SessionDep
from web.ratelimit import client_address
from web.schemas import AUTH_ERRORS, Detail

router = APIRouter(tags=["users"])
ERRORS = {**AUTH_ERRORS, 409: {"model": Detail}, 422: {"model": Detail}}


class AccountPublic(Model):
    username: str
    name_zh: str
    email: str
    disabled: bool
    grants: list[str]


class AccountsPublic(Model):
    data: list[AccountPublic]
    count: int


class AccountCreate(Model):
    username: str = Field(pattern=USERNAME_PATTERN)
    name_zh: str = Field(min_length=1, max_length=100)
    email: str = Field(max_length=200)
    grants: list[str] = Field(default_factory=list, max_length=50, description="ROLE@PROGRAMME each")


class AccountCreated(Model):
    account: AccountPublic
    password: str = Field(description="the one-time password, shown only in this answer")


class GrantChange(Model):
    grant: str = Field(max_length=120, description="ROLE@PROGRAMME")


class AuthEventPublic(Model):
    at: str
    kind: str
    username: str
    by: str
    client_address: str
    detail: str


class AuthEventsPublic(Model):
    data: list[AuthEventPublic]
    count: int


def _admin(principal: Principal) -> str:
    if not principal.holds_everywhere(AccountRole.ADMIN):
        raise forbidden("只有管理员可以管理账号 (managing accounts needs admin@*)")
    return principal.username


def _public(account: accounts.Account) -> AccountPublic:
    return AccountPublic(
        username=account.username,
        name_zh=account.name_zh,
        email=account.email,
        disabled=account.disabled,
        grants=[str(g) for g in account.grants],
    )


@router.get("/users", responses=AUTH_ERRORS)
def list_users(session: SessionDep, principal: PrincipalDep) -> AccountsPublic:
    _admin(principal)
    data = [_public(a) for a in accounts.list_accounts(session)]
    return AccountsPublic(data=data, count=len(data))


@router.post("/users", status_code=status.HTTP_201_CREATED, responses=ERRORS)
def add_user(body: AccountCreate, request: Request, session: SessionDep, principal: PrincipalDep) -> AccountCreated:
    by = _admin(principal)
    password = accounts.new_password()
    account = accounts.add_account(
        session,
        body.username,
        name_zh=body.name_zh,
        email=body.email,
        password=password,
        grants=[Grant.parse(g) for g in body.grants],
        by=by,
        address=client_address(request),
        one_time=True,
    )
    session.commit()
    return AccountCreated(account=_public(account), password=password)


GrantChanger = Callable[..., accounts.Account]


def _change_grant(
    change: GrantChanger, username: str, body: GrantChange, request: Request, session: Session, principal: Principal
) -> AccountPublic:
    by = _admin(principal)
    account = change(session, username, Grant.parse(body.grant), by=by, address=client_address(request))
    session.commit()
    return _public(account)


@router.post("/users/{username}/grant", responses=ERRORS)
def grant(
    username: str, body: GrantChange, request: Request, session: SessionDep, principal: PrincipalDep
) -> AccountPublic:
    return _change_grant(accounts.grant, username, body, request, session, principal)


@router.post("/users/{username}/revoke", responses=ERRORS)
def revoke(
    username: str, body: GrantChange, request: Request, session: SessionDep, principal: PrincipalDep
) -> AccountPublic:
    return _change_grant(accounts.revoke, username, body, request, session, principal)


@router.post("/users/{username}/disable", responses=ERRORS)
def disable(username: str, request: Request, session: SessionDep, principal: PrincipalDep) -> AccountPublic:
    by = _admin(principal)
    if username == by:
        raise accounts.AccountError(
            "不能停用自己的账号 (an administrator cannot disable their own account)", "conflict"
        )
    account = accounts.disable(session, username, by=by, address=client_address(request))
    session.commit()
    return _public(account)


@router.get("/auth/events", responses=AUTH_ERRORS)
def auth_events(
    session: SessionDep,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    username: Annotated[str | None, Query(max_length=64)] = None,
) -> AuthEventsPublic:
    """Logins, failures, lock-outs, logouts, grants and revocations, newest first (auditor@* or admin@*)."""
    if not (principal.holds_everywhere(AccountRole.AUDITOR) or principal.holds_everywhere(AccountRole.ADMIN)):
        raise forbidden("只有全局审计员或管理员可以查看登录记录 (the sign-in record needs auditor@* or admin@*)")
    rows = accounts.list_events(session, offset=offset, limit=limit, username=username)
    data = [
        AuthEventPublic(
            at=row.at.isoformat(),
            kind=row.kind,
            username=row.username,
            by=row.by,
            client_address=row.client_address,
            detail=row.detail,
        )
        for row in rows
    ]
    return AuthEventsPublic(data=data, count=len(data))
