"""`/dev/mail` shows the embedded sink's messages, with clickable links, and exists only in embedded mode."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import httpx
import pytest

from awardcycle.embedded import start_mail_sink
from config.settings import Settings
from store.db import make_engine, upgrade
from tests.conftest import add_users, login
from web.main import create_app

LINK = "https://awards.example.cn/t/tok-123?a=1&b=2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def message(subject: str, text: str, html: str | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "质量奖评审办公室 <awards@quality.example.cn>"
    m["To"] = "office@dept.example.cn"
    m["Subject"] = subject
    m["Date"] = "Fri, 20 Mar 2026 08:00:00 +0000"
    m["Message-ID"] = make_msgid(domain="awardcycle")
    m.set_content(text)
    if html is not None:
        m.add_alternative(html, subtype="html")
    return m


def app_client(settings: Settings) -> httpx.AsyncClient:
    # The lifespan (which would connect to Temporal) does not run under ASGITransport.
    engine = make_engine(settings)
    upgrade(engine)
    add_users(engine)
    app = create_app(settings, client=None, engine=engine)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The web app in embedded mode, after the real sink has received two messages."""
    settings = Settings(home=tmp_path, database_url=database_url, smtp_port=free_port(), _env_file=None)
    async with start_mail_sink(settings):
        await aiosmtplib.send(
            message("征求意见：2026年度山东省质量奖", f"请点击链接填写意见：\n{LINK}\n谢谢。"), port=settings.smtp_port
        )
        await aiosmtplib.send(
            message("逾期提醒", "请尽快处理。", "<p>正文</p><script>alert(1)</script>"), port=settings.smtp_port
        )
    async with app_client(settings) as client:
        assert (await client.get("/dev/mail")).status_code == 303, "the links in the mail are for signed-in users"
        client.headers.update(await login(client, "staff"))
        yield client


async def test_list_shows_decoded_subjects_newest_first(api: httpx.AsyncClient) -> None:
    response = await api.get("/dev/mail")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "开发邮箱（仅嵌入模式）" in response.text
    assert "2026-03-20 16:00:00" in response.text  # Asia/Shanghai
    newest, older = response.text.index("逾期提醒"), response.text.index("征求意见：2026年度山东省质量奖")
    assert newest < older


async def test_message_page_links_urls_and_escapes_html(api: httpx.AsyncClient) -> None:
    listing = (await api.get("/dev/mail")).text
    names = re.findall(r'href="/dev/mail/([^"]+\.eml)"', listing)
    assert len(names) == 2
    newest, older = names

    page = await api.get(f"/dev/mail/{older}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "征求意见：2026年度山东省质量奖" in page.text
    assert "office@dept.example.cn" in page.text
    escaped = LINK.replace("&", "&amp;")
    assert f'<a href="{escaped}">{escaped}</a>' in page.text

    page = await api.get(f"/dev/mail/{newest}")
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text  # inside the sandboxed iframe's srcdoc
    assert "<iframe sandbox srcdoc=" in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/dev/mail/..%2F..%2Fetc%2Fpasswd",
        "/dev/mail/..%2Fawardcycle.db",
        "/dev/mail/nothing.eml",
        "/dev/mail/..eml",
        "/dev/mail/notes.txt",
    ],
)
async def test_unknown_or_outside_names_are_404(api: httpx.AsyncClient, path: str) -> None:
    assert (await api.get(path)).status_code == 404


async def test_no_dev_mail_with_a_real_relay(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, smtp_host="smtp.example.cn", _env_file=None)
    async with app_client(settings) as client:
        assert (await client.get("/dev/mail")).status_code == 404


async def test_the_list_pages(api: httpx.AsyncClient) -> None:
    first = await api.get("/dev/mail", params={"limit": 1})
    assert "逾期提醒" in first.text and "征求意见" not in first.text
    assert "第 1–1 封" in first.text and 'href="/dev/mail?offset=1&amp;limit=1">较早' in first.text
    second = await api.get("/dev/mail", params={"offset": 1, "limit": 1})
    assert "征求意见" in second.text and "逾期提醒" not in second.text
    assert 'href="/dev/mail?offset=0&amp;limit=1">较新' in second.text and "较早" not in second.text
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        assert (await api.get("/dev/mail", params=bad)).status_code == 422, bad
