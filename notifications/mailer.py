"""Composes a multipart (text + HTML) UTF-8 email and hands it to the configured SMTP server."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from config.settings import Settings

SMTP_TIMEOUT_SECONDS = 30


def message_id_header(message_id: str) -> str:
    return f"<{message_id}@awardcycle>"


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def compose(
        self,
        *,
        message_id: str,
        recipient: str,
        subject: str,
        text: str,
        html: str,
        sent_at: datetime,
        in_reply_to: str | None = None,
    ) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self._settings.mail_from
        message["To"] = recipient
        if self._settings.mail_reply_to:
            message["Reply-To"] = self._settings.mail_reply_to
        message["Date"] = format_datetime(sent_at)
        # The same id on every attempt lets mail clients fold a rare duplicate into one message.
        message["Message-ID"] = message_id_header(message_id)
        if in_reply_to:
            message["In-Reply-To"] = message["References"] = message_id_header(in_reply_to)
        message.set_content(text, charset="utf-8")
        message.add_alternative(html, subtype="html", charset="utf-8")
        return message

    async def send(self, message: EmailMessage) -> None:
        settings = self._settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_target_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password if settings.smtp_username else None,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=SMTP_TIMEOUT_SECONDS,
        )
