"""Email through the outbox, against a real SMTP server on loopback."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import NotificationActivities
from config.settings import Settings
from notifications.mailer import Mailer
from notifications.render import zh_datetime
from schemas.common import SHANGHAI
from schemas.notification import MessageRequest, TaskLinkRequest
from store import queries
from store.db import make_engine, session, upgrade
from store.tables import OutboxMessage, OutboxStatus, TaskLink
from tests.conftest import free_port, smtp_server

DEADLINE = datetime(2026, 3, 21, tzinfo=SHANGHAI)  # the end of Friday 20 March


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path, database_url=database_url, smtp_port=free_port(), public_base_url="https://awards.example.cn/"
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def activities(settings: Settings, engine: Engine) -> NotificationActivities:
    return NotificationActivities(settings, engine, Mailer(settings))


def link_request(message_id: str = "sd-2026.consultation-gaj/request") -> TaskLinkRequest:
    return TaskLinkRequest(
        message_id=message_id,
        task_id="sd-2026.consultation-gaj",
        task_kind="consultation",
        recipient_id="gaj",
        recipient_email="quality@gaj.shandong.example.cn",
        deadline=DEADLINE,
        closes_at=DEADLINE,
        template="consultation_request",
        context={
            "programme": "山东省质量奖",
            "cycle": "2026年度",
            "department": "山东省公安厅",
            "candidates": [
                {
                    "name": "<script>alert(1)</script>有限公司",
                    "category": "制造业",
                    "region": "济南市",
                    "proposed_award": "winner",
                },
                {
                    "name": "青岛某某股份有限公司",
                    "category": "服务业",
                    "region": "",
                    "proposed_award": "nomination",
                },
            ],
        },
    )


def stored_links(engine: Engine) -> list[TaskLink]:
    with session(engine) as s:
        return list(s.exec(select(TaskLink)))


def stored_outbox(engine: Engine) -> list[OutboxMessage]:
    with session(engine) as s:
        return list(s.exec(select(OutboxMessage)))


def outbox_status(engine: Engine, message_id: str) -> tuple[str, int, str | None]:
    with session(engine) as s:
        row = queries.get_outbox_message(s, message_id=message_id)
    assert row is not None
    return row.status, row.attempts, row.last_error


def test_deadline_at_midnight_reads_as_the_end_of_the_day_before() -> None:
    assert zh_datetime(DEADLINE) == "2026年3月20日（星期五）24:00"
    assert zh_datetime("2026-03-20T01:30:00+00:00") == "2026年3月20日（星期五）09:30"


async def test_task_link_is_sent_once_escaped_and_hashed_at_rest(
    settings: Settings, engine: Engine, activities: NotificationActivities, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = ActivityEnvironment()
    with smtp_server(settings.smtp_port) as inbox:
        first = await env.run(activities.send_task_link, link_request())
        again = await env.run(activities.send_task_link, link_request())

    assert (first.sent, again.sent) == (True, False)
    [message] = inbox.messages
    assert message["Message-ID"] == "<sd-2026.consultation-gaj/request@awardcycle>"
    assert message["To"] == "quality@gaj.shandong.example.cn"
    assert "2026年3月20日（星期五）24:00" in message["Subject"]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;有限公司" in html and "<script>" not in html
    assert "山东省质量奖提名奖" in text

    [token] = set(re.findall(r"https://awards\.example\.cn/t/([A-Za-z0-9_-]+)", text + html))
    assert len(token) >= 43  # at least 256 bits, base64url
    [link] = stored_links(engine)
    assert link.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    [stored] = stored_outbox(engine)
    assert token not in link.model_dump_json() + stored.model_dump_json() + first.model_dump_json() + caplog.text
    assert (link.task_id, link.recipient_id) == ("sd-2026.consultation-gaj", "gaj")
    assert link.expires_at == DEADLINE + timedelta(days=settings.link_grace_days)
    assert outbox_status(engine, first.message_id) == (OutboxStatus.SENT, 1, None)


async def test_smtp_down_marks_failed_then_a_retry_sends_the_same_link(
    settings: Settings, engine: Engine, activities: NotificationActivities
) -> None:
    env = ActivityEnvironment()
    request = link_request()
    with pytest.raises(ApplicationError) as raised:
        await env.run(activities.send_task_link, request)
    assert raised.value.type == "SMTPError" and not raised.value.non_retryable
    status, attempts, error = outbox_status(engine, request.message_id)
    assert (status, attempts) == (OutboxStatus.FAILED, 1) and error

    with smtp_server(settings.smtp_port) as inbox:
        result = await env.run(activities.send_task_link, request)
    assert result.sent
    [message] = inbox.messages
    [link] = stored_links(engine)  # the retry reused the stored message, with its link
    token = re.findall(r"/t/([A-Za-z0-9_-]+)", message.get_body(("plain",)).get_content())[0]  # type: ignore[union-attr]
    assert link.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert outbox_status(engine, request.message_id) == (OutboxStatus.SENT, 2, None)


class Refusing:
    """An SMTP server that answers every message with a permanent refusal."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "550 5.7.1 relaying denied"


async def test_a_refusing_server_keeps_the_message_until_it_accepts(
    settings: Settings, engine: Engine, activities: NotificationActivities
) -> None:
    env = ActivityEnvironment()
    request = link_request()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=settings.smtp_port)
    controller.start()
    try:
        with pytest.raises(ApplicationError, match="550"):
            await env.run(activities.send_task_link, request)
    finally:
        controller.stop()
    status, attempts, error = outbox_status(engine, request.message_id)
    assert (status, attempts) == (OutboxStatus.FAILED, 1) and error and "relaying denied" in error

    with smtp_server(settings.smtp_port) as inbox:
        assert (await env.run(activities.send_task_link, request)).sent
    assert len(inbox.messages) == 1 and outbox_status(engine, request.message_id)[0] == OutboxStatus.SENT


async def test_message_threads_under_the_request_and_sends_once(
    settings: Settings, activities: NotificationActivities
) -> None:
    request = MessageRequest(
        message_id="sd-2026.consultation-gaj/reminder-1",
        recipient_email="quality@gaj.shandong.example.cn",
        template="consultation_reminder",
        # Datetimes in a free-form context arrive as ISO strings through the data converter.
        context={
            "programme": "山东省质量奖",
            "cycle": "2026年度",
            "department": "山东省公安厅",
            "deadline": DEADLINE.isoformat(),
        },
        in_reply_to="sd-2026.consultation-gaj/request",
    )
    env = ActivityEnvironment()
    with smtp_server(settings.smtp_port) as inbox:
        assert (await env.run(activities.send_message, request)).sent
        assert not (await env.run(activities.send_message, request)).sent
    [message] = inbox.messages
    assert message["In-Reply-To"] == "<sd-2026.consultation-gaj/request@awardcycle>"
    assert "此前征求意见邮件中的链接" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_missing_context_is_not_retried(activities: NotificationActivities) -> None:
    request = MessageRequest(
        message_id="wf/overdue-1",
        recipient_email="office@quality.example.cn",
        template="consultation_overdue",
        context={"programme": "山东省质量奖"},
    )
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.send_message, request)
    assert raised.value.non_retryable and raised.value.type == "TemplateError"


async def test_overdue_notice_without_recipient_goes_to_the_office(
    settings: Settings, activities: NotificationActivities
) -> None:
    request = MessageRequest(
        message_id="sd-2026.consultation-gaj/overdue-0-0",
        recipient_email="",
        template="consultation_overdue",
        context={
            "programme": "山东省质量奖",
            "cycle": "2026年度",
            "department": "山东省公安厅",
            "deadline": DEADLINE.isoformat(),
        },
    )
    with smtp_server(settings.smtp_port) as inbox:
        await ActivityEnvironment().run(activities.send_message, request)
    [message] = inbox.messages
    assert message["To"].addresses[0].addr_spec == "awards@quality.example.cn"
    assert (
        message["Subject"]
        == "【逾期】山东省公安厅未在2026年3月20日（星期五）24:00前反馈山东省质量奖（2026年度）征求意见"
    )
