"""Types shared by every workflow: who acted, and the rehearsal clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Model(BaseModel):
    """Strict base: unknown fields are an error, so a typo in a file or request is never ignored."""

    model_config = ConfigDict(extra="forbid")


class Role(StrEnum):
    COORDINATOR = "coordinator"
    SECRETARIAT = "secretariat"
    EXPERT = "expert"
    ONSITE_TEAM = "onsite_team"
    DEPARTMENT = "department"
    APPLICANT = "applicant"
    PUBLIC = "public"
    SYSTEM = "system"


class Channel(StrEnum):
    LINK = "link"
    WEB = "web"  # a public page, such as the notice's objection form
    API = "api"
    CLI = "cli"
    CONSOLE = "console"
    PAPER = "paper"
    SIMULATION = "simulation"
    POLICY = "policy"


class Actor(Model):
    """Who performed a human act, and through which channel; recorded in every Update."""

    role: Role
    identity: str = Field(min_length=1, max_length=200)
    channel: Channel
    principal: str | None = Field(
        default=None, max_length=64, description="the logged-in user who recorded this act for someone else"
    )


class RehearsalClock(Model):
    """Maps workflow time to cycle time; with day_seconds set, one cycle day lasts that many seconds."""

    origin_real: datetime
    origin_cycle: datetime
    day_seconds: float | None = None

    @property
    def scale(self) -> float:
        return 1.0 if self.day_seconds is None else 86400.0 / self.day_seconds

    def cycle_time(self, real: datetime) -> datetime:
        return self.origin_cycle + (real - self.origin_real) * self.scale

    def real_time(self, cycle: datetime) -> datetime:
        """The real instant at which the cycle clock shows `cycle`."""
        return self.origin_real + (cycle - self.origin_cycle) / self.scale

    def real_delay(self, cycle_now: datetime, cycle_deadline: datetime) -> timedelta:
        """Real time to wait from cycle_now until cycle_deadline (never negative)."""
        return max(cycle_deadline - cycle_now, timedelta(0)) / self.scale


class HolidayCalendar(Model):
    """A coordinator-supplied calendar for a year the holiday library does not cover yet."""

    year: int
    holidays: list[date] = Field(description="statutory days off")
    workdays: list[date] = Field(
        default_factory=list, description="weekend dates that are adjusted working days (调休)"
    )
