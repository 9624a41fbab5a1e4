"""Accounts' grants and the principal a request acts as: who, with which grants, through which channel."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field

from schemas.common import Channel, Model, Role

ALL_PROGRAMMES = "*"
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"
_GRANT = re.compile(r"^(?P<role>[a-z]+)@(?P<programme>\*|[a-z0-9][a-z0-9-]{0,99})$")


class AccountRole(StrEnum):
    ADMIN = "admin"  # accounts only; no cycle
    COORDINATOR = "coordinator"
    SECRETARIAT = "secretariat"
    ONSITE = "onsite"
    AUDITOR = "auditor"  # read-only, sees personal data


# The role an account's grant acts in inside a workflow; admin and auditor never act.
WORKFLOW_ROLE = {
    AccountRole.COORDINATOR: Role.COORDINATOR,
    AccountRole.SECRETARIAT: Role.SECRETARIAT,
    AccountRole.ONSITE: Role.ONSITE_TEAM,
}


class GrantError(ValueError):
    """A grant that is not `ROLE@PROGRAMME` with a known role."""


class Grant(Model):
    role: AccountRole
    programme: str = Field(description='a programme id, or "*" for every programme')

    @classmethod
    def parse(cls, text: str) -> Grant:
        match = _GRANT.fullmatch(text.strip())
        if match is None:
            raise GrantError(f"授权格式应为 ROLE@PROGRAMME (a grant is ROLE@PROGRAMME, not {text!r})")
        roles = ", ".join(r.value for r in AccountRole)
        try:
            role = AccountRole(match["role"])
        except ValueError:
            raise GrantError(f"未知角色 (unknown role {match['role']!r}; known: {roles})") from None
        if role is AccountRole.ADMIN and match["programme"] != ALL_PROGRAMMES:
            raise GrantError("管理员授权只能是 admin@* (admin is granted for every programme: admin@*)")
        return cls(role=role, programme=match["programme"])

    def covers(self, programme_id: str) -> bool:
        return self.programme in (ALL_PROGRAMMES, programme_id)

    def __str__(self) -> str:
        return f"{self.role.value}@{self.programme}"


class Principal(Model):
    """The logged-in person behind a request, built by the server from a credential, never from a body."""

    username: str
    name_zh: str
    email: str
    grants: list[Grant]
    channel: Channel = Field(description="api, cli or console: how the credential was issued")

    def roles_on(self, programme_id: str) -> set[AccountRole]:
        return {g.role for g in self.grants if g.covers(programme_id)}

    def holds(self, role: AccountRole) -> bool:
        """Any grant of the role, on some programme."""
        return any(g.role is role for g in self.grants)

    def holds_everywhere(self, role: AccountRole) -> bool:
        return any(g.role is role and g.programme == ALL_PROGRAMMES for g in self.grants)
