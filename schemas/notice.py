"""The public notice (公示) of the candidates, and objections from the public."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas.common import Actor, Model, RehearsalClock
from schemas.consultation import Candidate


class NoticeInput(Model):
    cycle_id: str
    programme_name_zh: str
    publisher_zh: str
    candidates: list[Candidate]
    starts_at: datetime
    ends_at: datetime
    clock: RehearsalClock


class PublicObjection(Model):
    actor: Actor
    contact: str = Field(min_length=3, max_length=200, description="phone or email of the objector")
    application_id: str
    reason: str = Field(min_length=1, max_length=2000)
    client_address: str | None = Field(default=None, max_length=100, description="where a web objection came from")


class ObjectionAck(Model):
    objection_id: str
    received_at: datetime


class ObjectionResolution(Model):
    actor: Actor
    objection_id: str
    upheld: bool
    reason: str = Field(min_length=1, max_length=2000)


class NoticeObjection(Model):
    objection_id: str
    application_id: str
    objector: str
    received_at: datetime
    reason: str
    resolved: bool = False
    upheld: bool | None = None
    resolution_reason: str = ""


class NoticeStatus(Model):
    workflow_id: str
    programme_name_zh: str = ""
    publisher_zh: str = ""
    starts_at: datetime
    ends_at: datetime
    open: bool
    candidates: list[Candidate]
    objections: list[NoticeObjection]
    waiting_for: list[str]


class NoticeResult(Model):
    objections: list[NoticeObjection]
    dropped: list[str]
