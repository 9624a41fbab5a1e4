"""Inputs and outputs of the notification activities (email through the outbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from schemas.common import Model

# Deterministic per workflow and purpose, e.g. `{workflow_id}/reminder-1`. It is also the left part
# of the Message-ID header, so only characters a dot-atom allows.
MESSAGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/+=-]{0,199}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
TEMPLATE_PATTERN = r"^[a-z][a-z0-9_]*$"  # a name under notifications/templates/, never a path


class TaskLinkRequest(Model):
    """Email a recipient a fresh link to a task; the link's token never leaves the activity."""

    message_id: str = Field(pattern=MESSAGE_ID_PATTERN)
    task_id: str = Field(description="workflow id of the task")
    task_kind: str = Field(description='"consultation", ...')
    recipient_id: str
    recipient_email: str = Field(pattern=EMAIL_PATTERN)
    deadline: datetime
    closes_at: datetime = Field(description="the real instant of the deadline (earlier in a rehearsal)")
    template: str = Field(pattern=TEMPLATE_PATTERN)
    context: dict[str, Any] = Field(description="template context; `deadline` and `link` are added")
    expires_at: datetime | None = Field(default=None, description="the link stops working; none: closes_at + grace")
    link_path: str = Field(default="/t/", pattern=r"^/[a-z]+/$", description="the page the token opens")
    in_reply_to: str | None = Field(
        default=None, pattern=MESSAGE_ID_PATTERN, description="message id this one follows up"
    )


class TaskLinkSent(Model):
    message_id: str
    sent: bool = Field(description="false when an earlier attempt had already sent it")


class MessageRequest(Model):
    """Email a message that carries no task link (reminder, overdue notice)."""

    message_id: str = Field(pattern=MESSAGE_ID_PATTERN)
    recipient_email: str | None = Field(
        default=None,
        pattern=EMAIL_PATTERN,
        description="none or empty: the award office (AWARDCYCLE_MAIL_REPLY_TO, else AWARDCYCLE_MAIL_FROM)",
    )
    template: str = Field(pattern=TEMPLATE_PATTERN)
    context: dict[str, Any]
    in_reply_to: str | None = Field(
        default=None, pattern=MESSAGE_ID_PATTERN, description="message id this one follows up"
    )

    @field_validator("recipient_email", mode="before")
    @classmethod
    def _empty_is_office(cls, value: object) -> object:
        return value or None


class MessageSent(Model):
    message_id: str
    sent: bool = Field(description="false when an earlier attempt had already sent it")


class TaskLinkExpiry(Model):
    """A task's deadline moved: its live links now expire that much later (plus the grace period)."""

    task_id: str
    closes_at: datetime = Field(description="the real instant of the new deadline")
