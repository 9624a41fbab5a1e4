"""Logging in and out: `POST /login/access-token` takes the OAuth2 password form and returns a bearer token."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import Field
from sqlmodel import Session

from config.settings import Settings
from schemas.common import Channel, Model
from schemas.identity import Principal
from store import accounts
from store.db import session
from web.auth import principal_of, token_holder, unauthorized
from web.ratelimit import client_address, too_many
from web.schemas import AUTH_ERRORS, AccessTokenPublic, Detail

router = APIRouter(tags=["login"])

CLI_CLIENT_ID = "awardcycle-cli"
LOGIN_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Detail},
    403: {"model": Detail},
    429: {"model": Detail},
}


def _authenticate(request: Request, username: str, password: str) -> accounts.Account:
    settings: Settings = request.app.state.settings
    with Session(request.app.state.engine, expire_on_commit=False) as s:
        try:
            return accounts.authenticate(
                s,
                username,
                password,
                address=client_address(request),
                lock_after=settings.lockout_failures,
                lock_for=timedelta(minutes=settings.lockout_minutes),
            )
        finally:
            s.commit()  # a failure is recorded, and counts towards the lock, as much as a success


def _issue(request: Request, username: str, channel: Channel) -> tuple[str, int]:
    settings: Settings = request.app.state.settings
    lifetime = timedelta(minutes=settings.token_minutes)
    with session(request.app.state.engine) as s:
        token, _ = accounts.issue_token(
            s, username, channel=channel.value, address=client_address(request), lifetime=lifetime
        )
    return token, int(lifetime.total_seconds())


async def log_in(request: Request, username: str, password: str, channel: Channel) -> tuple[str, int]:
    """A new token for the right password; a wrong one counts against the name and the address."""
    limits, address = request.app.state.rate_limits, client_address(request)
    if limits.exhausted(limits.login_failure, "login-address", address):
        raise too_many()
    # Counted for any name, known or not, so a lock-out says nothing about whether the name exists.
    if limits.exhausted(limits.login_user, "login-user", username):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, accounts.locked_reason(limits.login_lock))
    try:
        account = await run_in_threadpool(_authenticate, request, username, password)
    except accounts.AccountError as error:
        if error.kind == "unauthorized":
            limits.hit(limits.login_failure, "login-address", address)
            limits.hit(limits.login_user, "login-user", username)
            raise unauthorized(str(error)) from error
        code = status.HTTP_429_TOO_MANY_REQUESTS if error.kind == "locked" else status.HTTP_403_FORBIDDEN
        raise HTTPException(code, str(error)) from error
    return await run_in_threadpool(_issue, request, account.username, channel)


@router.post("/login/access-token", responses=LOGIN_ERRORS)
async def login_access_token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> AccessTokenPublic:
    """OAuth2 password flow; `client_id=awardcycle-cli` marks the token as the command line's."""
    channel = Channel.CLI if form.client_id == CLI_CLIENT_ID else Channel.API
    token, expires_in = await log_in(request, form.username[:64], form.password, channel)
    return AccessTokenPublic(access_token=token, token_type="bearer", expires_in=expires_in)  # noqa: S106


def revoke_session(request: Request, digest: str) -> None:
    with session(request.app.state.engine) as s:
        accounts.revoke_token(s, digest, address=client_address(request))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=AUTH_ERRORS)
async def logout(request: Request, holder: Annotated[accounts.TokenHolder, Depends(token_holder)]) -> None:
    """Revoke the token this request carries."""
    await run_in_threadpool(revoke_session, request, holder.token_sha256)


@router.get("/users/me", responses=AUTH_ERRORS, tags=["users"])
def who_am_i(holder: Annotated[accounts.TokenHolder, Depends(token_holder)]) -> Principal:
    """The signed-in account and its grants (also while its one-time password awaits a change)."""
    return principal_of(holder)


class PasswordChange(Model):
    current_password: str = Field(max_length=accounts.MAX_PASSWORD)
    new_password: str = Field(max_length=accounts.MAX_PASSWORD)


def change_own_password(request: Request, username: str, change: PasswordChange) -> None:
    with session(request.app.state.engine) as s:
        accounts.change_password(
            s, username, change.current_password, change.new_password, address=client_address(request)
        )


@router.post("/users/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=AUTH_ERRORS, tags=["users"])
async def change_password(
    change: PasswordChange, request: Request, holder: Annotated[accounts.TokenHolder, Depends(token_holder)]
) -> None:
    """Replace the password; every token of the account, this one included, stops working: log in again."""
    await run_in_threadpool(change_own_password, request, holder.account.username, change)
