"""A title held after the award (award, nomination award or brand): its grant, acts and status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.common import SHANGHAI, Actor, Model, RehearsalClock
from schemas.ladder import holder_key
from schemas.notification import EMAIL_PATTERN


class TitleKind(StrEnum):
    WINNER = "winner"  # the programme's award itself
    NOMINATION = "nomination"  # its nomination award (提名奖)
    BRAND = "brand"  # a brand programme's brand (e.g. 好品山东)


KIND_ZH = {TitleKind.WINNER: "获奖", TitleKind.NOMINATION: "提名奖", TitleKind.BRAND: "品牌"}


class TitleState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ComplaintSubject(StrEnum):
    LOGO_MISUSE = "logo_misuse"  # 标识违规使用
    QUALITY = "quality"
    OTHER = "other"


def title_kind(*, brand: bool, award: str) -> TitleKind:
    """A brand programme's winners hold a brand; otherwise the award they won ("winner" or "nomination")."""
    return TitleKind.BRAND if brand else TitleKind(award)


def add_years(instant: datetime, years: int) -> datetime:
    """The same month, day and time `years` calendar years on, in Shanghai; 29 February becomes the 28th."""
    local = instant.astimezone(SHANGHAI)
    try:
        return local.replace(year=local.year + years)
    except ValueError:  # 29 February in a year that has none
        return local.replace(year=local.year + years, day=28)


def anniversaries(granted_at: datetime, expires_at: datetime) -> list[datetime]:
    """The anniversaries of the grant strictly before expiry: when a self-inspection is due."""
    instants: list[datetime] = []
    years = 1
    while (instant := add_years(granted_at, years)) < expires_at:
        instants.append(instant)
        years += 1
    return instants


class TitleHolder(Model):
    application_id: str
    name: str = Field(min_length=1, max_length=200)
    applicant_kind: str
    credit_code: str | None = Field(default=None, description="normalised upper-case, for organisations")
    contact_email: str = Field(pattern=EMAIL_PATTERN)
    award: str = Field(description='"winner" or "nomination"')

    @property
    def key(self) -> str:
        return holder_key(self.applicant_kind, self.credit_code, self.name)


class TitleGrant(Model):
    """Input of `start_titles`: a cycle announced, and each of its winners now holds a title."""

    cycle_id: str
    programme_id: str
    programme_name_zh: str
    brand: bool
    year: int = Field(description="the cycle's year")
    granted_at: datetime = Field(description="cycle time of the announcement")
    validity_years: int = Field(ge=1)
    self_inspection: bool
    clock: RehearsalClock
    holders: list[TitleHolder]


class TitlesStarted(Model):
    started: list[str] = Field(description="title ids whose TitleWorkflow this call started")
    existing: list[str] = Field(description="title ids started earlier (by a previous attempt)")


class TitleInput(Model):
    """One title, for its validity period."""

    cycle_id: str
    programme_id: str
    programme_name_zh: str
    year: int = Field(description="the year of the cycle that granted it")
    kind: TitleKind
    holder: TitleHolder
    granted_at: datetime
    expires_at: datetime = Field(description="granted_at plus the validity period, same month and day")
    self_inspection: bool
    clock: RehearsalClock


class SpotCheck(Model):
    """抽查: the result of a spot check of the holder."""

    actor: Actor
    finding: str = Field(min_length=1, max_length=2000)
    passed: bool


class Complaint(Model):
    """投诉举报: a complaint about the holder, such as misuse of the title's logo."""

    actor: Actor
    subject: ComplaintSubject
    detail: str = Field(min_length=1, max_length=2000)
    complainant: str = Field(min_length=1, max_length=200)


class Revocation(Model):
    """撤销称号: the coordinator revokes the title; the reason is published."""

    actor: Actor
    public_reason: str = Field(min_length=1, max_length=2000)


class SpotCheckRecord(Model):
    number: int
    recorded_at: datetime
    actor: Actor
    finding: str
    passed: bool


class ComplaintRecord(Model):
    number: int
    recorded_at: datetime
    actor: Actor
    subject: ComplaintSubject
    detail: str
    complainant: str


class TitleStatus(Model):
    title_id: str
    programme_id: str
    kind: TitleKind
    holder: TitleHolder
    state: TitleState
    granted_at: datetime
    expires_at: datetime
    self_inspections_requested: int
    spot_checks: list[SpotCheckRecord]
    complaints: list[ComplaintRecord]
    revoked_at: datetime | None = None
    revoked_by: Actor | None = None
    public_reason: str | None = None


class TitleResult(Model):
    title_id: str
    state: TitleState
    ended_at: datetime


class TitleRecord(Model):
    """Input of `record_title`: the title's row in the store, as it stands now."""

    title_id: str
    holder_key: str
    programme_id: str
    cycle_id: str
    year: int
    name: str
    applicant_kind: str
    credit_code: str | None
    kind: TitleKind
    state: TitleState
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    public_reason: str | None = None


class TitleRecorded(Model):
    title_id: str
    state: TitleState
