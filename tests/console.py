"""What the console's tests share: a browser-like session through the login form, and reading a page
until the workers have written what an act leads to."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from tests.conftest import PASSWORD
from web.page_parts import UNAVAILABLE


@asynccontextmanager
async def console_session(api: httpx.AsyncClient, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client logged in through the console's own form (the session cookie)."""
    async with httpx.AsyncClient(transport=api._transport, base_url="http://test") as browser:
        form = await browser.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf, form.text
        fields = {"username": username, "password": PASSWORD, "csrf": csrf[1], "next": "/console"}
        assert (await browser.post("/login", data=fields)).status_code == 303
        yield browser


async def page_until(
    client: httpx.AsyncClient,
    url: str,
    shown: Callable[[str], bool],
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    answered: bool = True,
) -> str:
    """The page once it shows what the workers write a little after an act (the read model trails it) and,
    with `answered`, every workflow it asks has answered in time (a loaded machine can miss the page's short
    timeout); a test that looks at an unavailable part on purpose passes `answered=False`."""
    for _ in range(200):
        page = await client.get(url, params=params, headers=headers)
        assert page.status_code == 200, page.text
        if shown(page.text) and not (answered and UNAVAILABLE in page.text):
            return page.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never showed it:\n{page.text}")


def section(page: str, element_id: str) -> str:
    found = re.search(rf'<section id="{re.escape(element_id)}"(.*?)</section>', page, re.S)
    assert found, f"no section {element_id}"
    return found[1]
