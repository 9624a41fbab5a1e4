"""Accounts, grants, tokens and the sign-in record: the store's side of identity.

Every function takes a session the caller commits; errors carry a `kind` the web layer maps to a status.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import Session, col, select

from programmes import load_catalogue
from schemas.identity import ALL_PROGRAMMES, USERNAME_PATTERN, Grant
from store.tables import AccessToken, AuthEvent, UserAccount, UserGrant

PASSWORDS = PasswordHash((Argon2Hasher(),))
MIN_PASSWORD = 10
MAX_PASSWORD = 256
OPERATOR = "operator"  # who acted when an account command ran with local access to the store
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@cache
def _dummy_hash() -> str:
    """Verified when a username is unknown, so a wrong name costs the same time as a wrong password;
    made on first use, not at import, which every CLI command would pay for."""
    return PASSWORDS.hash(secrets.token_urlsafe(16))


class AuthEventKind(StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOCKED = "locked"
    LOGOUT = "logout"
    USER_ADDED = "user_added"
    GRANTED = "granted"
    REVOKED = "revoked"
    DISABLED = "disabled"
    PASSWORD_RESET = "password_reset"  # noqa: S105  (an event name, not a password)


class AccountError(Exception):
    """A refused account operation; `kind` is one of invalid, not_found, conflict, unauthorized, locked, disabled."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.kind = kind


WRONG_LOGIN = "用户名或密码错误 (wrong username or password)"


@dataclass(frozen=True)
class Account:
    """An account as the callers see it: no hash."""

    username: str
    name_zh: str
    email: str
    disabled: bool
    grants: list[Grant]
    must_change_password: bool = False


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(12)


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(
            f"密码长度须为 {MIN_PASSWORD}–{MAX_PASSWORD} 个字符 "
            f"(a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters)",
            "invalid",
        )


def check_grant(grant: Grant) -> None:
    if grant.programme != ALL_PROGRAMMES and grant.programme not in load_catalogue():
        raise AccountError(f"未知项目 (unknown programme {grant.programme!r} in grant {grant})", "invalid")


def record(session: Session, kind: AuthEventKind, username: str, by: str, address: str, detail: str = "") -> None:
    session.add(
        AuthEvent(
            at=datetime.now().astimezone(), kind=kind, username=username, by=by, client_address=address, detail=detail
        )
    )


def _account(session: Session, username: str) -> UserAccount:
    found = session.get(UserAccount, username)
    if found is None:
        raise AccountError(f"无此用户 (no user {username!r})", "not_found")
    return found


def _grants(session: Session, username: str) -> list[Grant]:
    rows = session.exec(select(UserGrant).where(UserGrant.username == username).order_by(col(UserGrant.id)))
    return [Grant(role=row.role, programme=row.programme) for row in rows]


def _public(session: Session, row: UserAccount) -> Account:
    grants = _grants(session, row.username)
    return Account(row.username, row.name_zh, row.email, row.disabled, grants, row.must_change_password)


def get_account(session: Session, username: str) -> Account:
    return _public(session, _account(session, username))


def list_accounts(session: Session) -> list[Account]:
    rows = session.exec(select(UserAccount).order_by(col(UserAccount.username)))
    return [_public(session, row) for row in rows]


def add_account(
    session: Session,
    username: str,
    *,
    name_zh: str,
    email: str,
    password: str,
    grants: list[Grant],
    by: str,
    address: str,
    one_time: bool = False,
) -> Account:
    """A new account; a `one_time` password must be changed at the first login."""
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise AccountError(
            f"用户名只能含小写字母、数字和 . _ - (username {username!r}: 2–64 of a-z 0-9 . _ -)", "invalid"
        )
    if not name_zh.strip() or len(name_zh) > 100:
        raise AccountError("姓名不能为空且不超过 100 字 (a name of 1 to 100 characters)", "invalid")
    if not _EMAIL.fullmatch(email) or len(email) > 200:
        raise AccountError(f"邮箱格式有误 (not an email address: {email!r})", "invalid")
    check_password(password)
    for grant in grants:
        check_grant(grant)
    if session.get(UserAccount, username) is not None:
        raise AccountError(f"用户已存在 (user {username!r} already exists)", "conflict")
    now = datetime.now().astimezone()
    session.add(
        UserAccount(
            username=username,
            name_zh=name_zh.strip(),
            email=email,
            password_hash=PASSWORDS.hash(password),
            must_change_password=one_time,
            created_at=now,
        )
    )
    session.flush()
    record(session, AuthEventKind.USER_ADDED, username, by, address)
    for grant in grants:
        _add_grant(session, username, grant, by, address)
    return get_account(session, username)


def any_admin(session: Session) -> bool:
    return session.exec(select(UserGrant).where(UserGrant.role == "admin")).first() is not None


def _add_grant(session: Session, username: str, grant: Grant, by: str, address: str) -> bool:
    exists = session.exec(
        select(UserGrant).where(
            UserGrant.username == username, UserGrant.role == grant.role.value, UserGrant.programme == grant.programme
        )
    ).first()
    if exists is not None:
        return False
    session.add(
        UserGrant(
            username=username,
            role=grant.role.value,
            programme=grant.programme,
            granted_by=by,
            granted_at=datetime.now().astimezone(),
        )
    )
    record(session, AuthEventKind.GRANTED, username, by, address, str(grant))
    return True


def grant(session: Session, username: str, given: Grant, *, by: str, address: str) -> Account:
    _account(session, username)
    check_grant(given)
    _add_grant(session, username, given, by, address)
    return get_account(session, username)


def revoke(session: Session, username: str, taken: Grant, *, by: str, address: str) -> Account:
    _account(session, username)
    row = session.exec(
        select(UserGrant).where(
            UserGrant.username == username, UserGrant.role == taken.role.value, UserGrant.programme == taken.programme
        )
    ).first()
    if row is None:
        raise AccountError(f"{username} 没有授权 {taken} (user {username!r} does not hold {taken})", "not_found")
    session.delete(row)
    record(session, AuthEventKind.REVOKED, username, by, address, str(taken))
    return get_account(session, username)


def _revoke_tokens(session: Session, username: str, now: datetime) -> None:
    live = select(AccessToken).where(AccessToken.username == username, col(AccessToken.revoked_at).is_(None))
    for token in session.exec(live):
        token.revoked_at = now
        session.add(token)


def disable(session: Session, username: str, *, by: str, address: str) -> Account:
    account = _account(session, username)
    account.disabled = True
    session.add(account)
    _revoke_tokens(session, username, datetime.now().astimezone())
    record(session, AuthEventKind.DISABLED, username, by, address)
    return get_account(session, username)


def reset_password(
    session: Session, username: str, password: str, *, by: str, address: str, one_time: bool = False
) -> Account:
    """A new password; every token of the account stops working and a lock is lifted."""
    account = _account(session, username)
    check_password(password)
    account.password_hash = PASSWORDS.hash(password)
    account.must_change_password = one_time
    account.failed_logins = 0
    account.locked_until = None
    session.add(account)
    _revoke_tokens(session, username, datetime.now().astimezone())
    record(session, AuthEventKind.PASSWORD_RESET, username, by, address)
    return get_account(session, username)


def authenticate(
    session: Session, username: str, password: str, *, address: str, lock_after: int, lock_for: timedelta
) -> Account:
    """The account if the password is right; else an AccountError that never says whether the name exists."""
    now = datetime.now().astimezone()
    account = session.get(UserAccount, username) if len(password) <= MAX_PASSWORD else None
    if account is None:
        PASSWORDS.verify(password[:MAX_PASSWORD], _dummy_hash())
        record(session, AuthEventKind.LOGIN_FAILED, username[:64], username[:64], address, "wrong username or password")
        raise AccountError(WRONG_LOGIN, "unauthorized")
    if account.locked_until is not None and now < account.locked_until:
        record(session, AuthEventKind.LOGIN_FAILED, username, username, address, "locked")
        raise AccountError(locked_reason(lock_for), "locked")
    valid, updated = PASSWORDS.verify_and_update(password, account.password_hash)
    if not valid:
        account.failed_logins += 1
        record(session, AuthEventKind.LOGIN_FAILED, username, username, address, "wrong username or password")
        if account.failed_logins >= lock_after:
            account.failed_logins = 0
            account.locked_until = now + lock_for
            record(session, AuthEventKind.LOCKED, username, username, address, f"until {account.locked_until}")
        session.add(account)
        raise AccountError(WRONG_LOGIN, "unauthorized")
    if account.disabled:
        record(session, AuthEventKind.LOGIN_FAILED, username, username, address, "disabled")
        raise AccountError("账号已停用 (this account is disabled); ask an administrator", "disabled")
    if updated is not None:
        account.password_hash = updated
    account.failed_logins = 0
    account.locked_until = None
    session.add(account)
    return _public(session, account)


def change_password(session: Session, username: str, current: str, new: str, *, address: str) -> Account:
    """The holder's own change: the current password proves it; the account's other tokens stop working."""
    account = _account(session, username)
    if len(current) > MAX_PASSWORD or not PASSWORDS.verify(current, account.password_hash):
        raise AccountError("当前密码不正确 (the current password is wrong)", "invalid")
    if new == current:
        raise AccountError("新密码不能与当前密码相同 (the new password must differ)", "invalid")
    return reset_password(session, username, new, by=username, address=address)


def locked_reason(lock_for: timedelta) -> str:
    minutes = int(lock_for.total_seconds() // 60)
    return f"登录失败次数过多，请 {minutes} 分钟后再试 (too many failed logins; try again in {minutes} minutes)"


def issue_token(
    session: Session, username: str, *, channel: str, address: str, lifetime: timedelta
) -> tuple[str, datetime]:
    """A new random token (only its SHA-256 is kept) and when it expires."""
    token = secrets.token_urlsafe(32)
    now = datetime.now().astimezone()
    expires = now + lifetime
    session.add(
        AccessToken(
            token_sha256=token_sha256(token),
            username=username,
            channel=channel,
            client_address=address,
            created_at=now,
            expires_at=expires,
        )
    )
    record(session, AuthEventKind.LOGIN, username, username, address, channel)
    return token, expires


@dataclass(frozen=True)
class TokenHolder:
    account: Account
    channel: str
    token_sha256: str


def holder_of(session: Session, token: str) -> TokenHolder | None:
    """Who holds a live token: unknown, revoked, expired tokens and disabled accounts give None."""
    digest = token_sha256(token)
    row = session.get(AccessToken, digest)
    if row is None or row.revoked_at is not None or datetime.now().astimezone() >= row.expires_at:
        return None
    account = session.get(UserAccount, row.username)
    if account is None or account.disabled:
        return None
    return TokenHolder(_public(session, account), row.channel, digest)


def revoke_token(session: Session, digest: str, *, address: str) -> None:
    row = session.get(AccessToken, digest)
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = datetime.now().astimezone()
    session.add(row)
    record(session, AuthEventKind.LOGOUT, row.username, row.username, address, row.channel)


def list_events(session: Session, *, offset: int, limit: int, username: str | None = None) -> list[AuthEvent]:
    query = select(AuthEvent)
    if username is not None:
        query = query.where(AuthEvent.username == username)
    return list(session.exec(query.order_by(col(AuthEvent.id).desc()).offset(offset).limit(limit)))
