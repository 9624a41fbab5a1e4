"""Email through the outbox: written before the SMTP send, marked sent after it, never sent twice."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
from jinja2 import TemplateError
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from config.settings import Settings
from notifications.mailer import Mailer
from notifications.render import RenderedMessage, render
from schemas.notification import MessageRequest, MessageSent, TaskLinkExpiry, TaskLinkRequest, TaskLinkSent
from store import queries
from store.db import session
from store.tables import OutboxMessage, OutboxStatus

# The outbox keeps a task-link message with this in place of the token, which is derived again at send.
LINK_SLOT = "TASK-LINK-TOKEN"


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_token(key: bytes, message_id: str) -> str:
    """The message's task-link token: 256 bits no one can guess without the key, the same on every retry."""
    digest = hmac.new(key, f"task-link:{message_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _render(template: str, context: Mapping[str, Any]) -> RenderedMessage:
    try:
        return render(template, context)
    except (TemplateError, ValueError, TypeError) as exc:
        # A bad template or context stays bad on every retry.
        raise ApplicationError(f"cannot render {template}: {exc}", type="TemplateError", non_retryable=True) from exc


class NotificationActivities:
    def __init__(self, settings: Settings, engine: Engine, mailer: Mailer) -> None:
        self._settings = settings
        self._engine = engine
        self._mailer = mailer
        self._link_key = settings.link_key_bytes()

    @activity.defn(name="send_task_link")
    async def send_task_link(self, request: TaskLinkRequest) -> TaskLinkSent:
        sent = await self.send_link(request, activity.info().workflow_id)
        return TaskLinkSent(message_id=request.message_id, sent=sent)

    async def send_link(self, request: TaskLinkRequest, workflow_id: str | None) -> bool:
        """Store the link and its message, then send it; also used by the web app for links no workflow sends."""
        outbox = await asyncio.to_thread(self._prepare_task_link, request, workflow_id)
        return await self._deliver(outbox)

    @activity.defn(name="send_message")
    async def send_message(self, request: MessageRequest) -> MessageSent:
        outbox = await asyncio.to_thread(self._prepare_message, request, activity.info().workflow_id)
        return MessageSent(message_id=request.message_id, sent=await self._deliver(outbox))

    @activity.defn(name="move_task_links")
    async def move_task_links(self, request: TaskLinkExpiry) -> None:
        expires_at = request.closes_at + timedelta(days=self._settings.link_grace_days)
        await asyncio.to_thread(self._move_task_links, request.task_id, expires_at)

    def _move_task_links(self, task_id: str, expires_at: datetime) -> None:
        with session(self._engine) as s:
            queries.extend_task_links(s, task_id=task_id, expires_at=expires_at)

    def _prepare_task_link(self, request: TaskLinkRequest, workflow_id: str | None) -> OutboxMessage:
        """The stored message, or a new one with a new link; only the token's hash is stored."""
        with session(self._engine) as s:
            stored = queries.get_outbox_message(s, message_id=request.message_id)
            if stored is not None:
                return stored
            token = link_token(self._link_key, request.message_id)
            link = f"{self._settings.public_base_url.rstrip('/')}{request.link_path}{LINK_SLOT}"
            rendered = _render(request.template, {**request.context, "deadline": request.deadline, "link": link})
            now = datetime.now(UTC)
            # One live link per task and recipient: a re-sent or moved link replaces the earlier ones.
            queries.revoke_task_links(s, task_id=request.task_id, recipient_id=request.recipient_id)
            queries.add_task_link(
                s,
                token_sha256=token_sha256(token),
                task_id=request.task_id,
                task_kind=request.task_kind,
                recipient_id=request.recipient_id,
                recipient_email=request.recipient_email,
                expires_at=request.expires_at or request.closes_at + timedelta(days=self._settings.link_grace_days),
                created_at=now,
            )
            return queries.add_outbox_message(
                s,
                message_id=request.message_id,
                workflow_id=workflow_id,
                purpose=request.template,
                recipient=request.recipient_email,
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
                in_reply_to=request.in_reply_to,
                created_at=now,
            )

    def _prepare_message(self, request: MessageRequest, workflow_id: str | None) -> OutboxMessage:
        with session(self._engine) as s:
            stored = queries.get_outbox_message(s, message_id=request.message_id)
            if stored is not None:
                return stored
            rendered = _render(request.template, request.context)
            return queries.add_outbox_message(
                s,
                message_id=request.message_id,
                workflow_id=workflow_id,
                purpose=request.template,
                recipient=request.recipient_email or self._settings.mail_reply_to or self._settings.mail_from,
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
                in_reply_to=request.in_reply_to,
                created_at=datetime.now(UTC),
            )

    async def _deliver(self, outbox: OutboxMessage) -> bool:
        """Sends a stored message unless it is recorded as sent; True when this call sent it."""
        if outbox.status == OutboxStatus.SENT:
            return False
        token = link_token(self._link_key, outbox.message_id)
        message = self._mailer.compose(
            message_id=outbox.message_id,
            recipient=outbox.recipient,
            subject=outbox.subject,
            text=outbox.body_text.replace(LINK_SLOT, token),
            html=outbox.body_html.replace(LINK_SLOT, token),
            sent_at=datetime.now(UTC),
            in_reply_to=outbox.in_reply_to,
        )
        try:
            await self._mailer.send(message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            await asyncio.to_thread(self._mark_failed, outbox.message_id, error)
            # Retryable: Temporal retries with backoff under the caller's retry policy.
            raise ApplicationError(
                f"SMTP send of message {outbox.message_id} failed: {error}", type="SMTPError"
            ) from exc
        await asyncio.to_thread(self._mark_sent, outbox.message_id)
        activity.logger.info("sent message %s (%s)", outbox.message_id, outbox.purpose)
        return True

    def _mark_sent(self, message_id: str) -> None:
        with session(self._engine) as s:
            queries.mark_outbox_sent(s, message_id=message_id, sent_at=datetime.now(UTC))

    def _mark_failed(self, message_id: str, error: str) -> None:
        with session(self._engine) as s:
            queries.mark_outbox_failed(s, message_id=message_id, error=error)
