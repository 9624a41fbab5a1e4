"""`awardcycle users ...`: accounts and their grants, written straight to the local store (operator access).

Imported at the bottom of awardcycle/cli.py, whose helpers it uses; import that module, not this one, first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from awardcycle.cli import JsonFlag, fail, out, print_json, read_password, store
from schemas.identity import Grant, GrantError

if TYPE_CHECKING:
    from sqlmodel import Session

    from store.accounts import Account

# The store is imported where used: loading it (sqlmodel, argon2) adds about 0.2 s to every other command.

users_app: typer.Typer = typer.Typer(
    help="Accounts and their grants, in the local store (operator access).", no_args_is_help=True
)

LOCAL = "local"  # the client address recorded for commands run on this machine
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from stdin instead of generating one")
]


def _grants(texts: list[str]) -> list[Grant]:
    try:
        return [Grant.parse(text) for text in texts]
    except GrantError as error:
        fail(str(error))


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password, and whether it was generated here: shown once, and changed at the first login."""
    from store import accounts

    if from_stdin:
        return read_password(from_stdin=True), False
    return accounts.new_password(), True


def _change(work: Callable[[Session], Account]) -> Account:
    """Run one account change in its own transaction; a refusal changes nothing and is one line."""
    from store import accounts
    from store.db import session

    try:
        with session(store()) as s:
            return work(s)
    except accounts.AccountError as error:
        fail(str(error))


def _public(account: Account) -> dict[str, object]:
    return {
        "username": account.username,
        "name_zh": account.name_zh,
        "email": account.email,
        "disabled": account.disabled,
        "one_time_password": account.must_change_password,
        "grants": [str(g) for g in account.grants],
    }


def _show(verb: str, account: Account) -> None:
    grants = ", ".join(str(g) for g in account.grants) or "no grants"
    state = " (disabled)" if account.disabled else ""
    out.print(f"{verb} {account.username} {account.name_zh}{state}: {grants}", highlight=False, soft_wrap=True)


def _show_password(password: str) -> None:
    out.print(f"one-time password (shown once): {password}", highlight=False, soft_wrap=True)
    out.print("it must be changed with `awardcycle passwd` after `awardcycle login`", highlight=False, soft_wrap=True)


@users_app.command("add")
def users_add(
    username: str,
    name: Annotated[str, typer.Option("--name", help="the person's name, 姓名")],
    email: Annotated[str, typer.Option("--email", help="where the person is reached")],
    grant: Annotated[list[str] | None, typer.Option("--grant", help="ROLE@PROGRAMME; repeat for more")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add an account; prints a one-time password unless one is given on stdin."""
    from store import accounts

    grants = _grants(grant or [])
    password, generated = _password(password_stdin)
    added = _change(
        lambda s: accounts.add_account(
            s,
            username,
            name_zh=name,
            email=email,
            password=password,
            grants=grants,
            by=accounts.OPERATOR,
            address=LOCAL,
            one_time=generated,
        )
    )
    _show("added", added)
    if generated:
        _show_password(password)


@users_app.command("list")
def users_list(as_json: JsonFlag = False) -> None:
    """Every account with its grants."""
    from store import accounts
    from store.db import session

    with session(store()) as s:
        found = accounts.list_accounts(s)
    if as_json:
        print_json([_public(a) for a in found])
        return
    table = Table("username", "姓名", "email", "disabled", "one-time password", "grants")
    for a in found:
        table.add_row(
            a.username,
            a.name_zh,
            a.email,
            "yes" if a.disabled else "",
            "to change" if a.must_change_password else "",
            "\n".join(str(g) for g in a.grants),
        )
    out.print(table)


@users_app.command("grant")
def users_grant(username: str, grant: Annotated[str, typer.Argument(metavar="ROLE@PROGRAMME")]) -> None:
    """Give an account a role on a programme (or on every programme, `*`)."""
    from store import accounts

    (given,) = _grants([grant])
    _show("granted", _change(lambda s: accounts.grant(s, username, given, by=accounts.OPERATOR, address=LOCAL)))


@users_app.command("revoke")
def users_revoke(username: str, grant: Annotated[str, typer.Argument(metavar="ROLE@PROGRAMME")]) -> None:
    """Take a grant away."""
    from store import accounts

    (taken,) = _grants([grant])
    _show("revoked", _change(lambda s: accounts.revoke(s, username, taken, by=accounts.OPERATOR, address=LOCAL)))


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Disable an account: it can no longer log in, and its tokens stop working at once."""
    from store import accounts

    _show("disabled", _change(lambda s: accounts.disable(s, username, by=accounts.OPERATOR, address=LOCAL)))


@users_app.command("reset-password")
def users_reset_password(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a new password (generated unless given on stdin); the account's tokens stop working."""
    from store import accounts

    password, generated = _password(password_stdin)
    reset = _change(
        lambda s: accounts.reset_password(
            s, username, password, by=accounts.OPERATOR, address=LOCAL, one_time=generated
        )
    )
    _show("reset", reset)
    if generated:
        _show_password(password)
