"""Request bodies over the limit get 413: at once when declared, as soon as counted when chunked; JSON under
/api/, a Chinese page elsewhere. Against a small app that reads bodies and forms, and against the real one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from config.settings import KIB, MIB, Settings
from web.bodylimit import BodyLimit
from web.main import create_app

LIMIT = 4 * KIB
FILES_LIMIT = KIB * 8 + MIB  # application_max_bytes + the form's allowance


@pytest.fixture
def tight(settings: Settings) -> Settings:
    return settings.model_copy(update={"request_max_bytes": LIMIT, "application_max_bytes": 8 * KIB})


class Reached:
    count = 0


@pytest.fixture
async def client(tight: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Reached]]:
    reached = Reached()

    async def body(request: Request) -> JSONResponse:
        reached.count += 1
        return JSONResponse({"received": len(await request.body())})

    async def form(request: Request) -> JSONResponse:
        reached.count += 1
        async with request.form() as fields:
            return JSONResponse({"fields": len(fields)})

    routes = [Route("/api/v1/x", body, methods=["POST"]), Route("/x", body, methods=["POST"])]
    app = Starlette(routes=[*routes, Route("/form", form, methods=["POST"])])
    limited = BodyLimit(app, tight)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://test") as client:
        yield client, reached


async def chunked(size: int, step: int = 1024) -> AsyncIterator[bytes]:
    """A body without Content-Length: httpx sends it chunked."""
    for start in range(0, size, step):
        yield b"x" * min(step, size - start)


def assert_json_413(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413
    assert response.json() == {"detail": f"请求内容过大 (request body over {limit} bytes)"}


def assert_page_413(response: httpx.Response) -> None:
    assert response.status_code == 413 and response.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in response.text and "提交内容过大" in response.text and "4 KB" in response.text


async def test_a_declared_length_over_the_limit_is_refused_before_the_app_runs(
    client: tuple[httpx.AsyncClient, Reached],
) -> None:
    browser, reached = client
    assert (await browser.post("/api/v1/x", content=b"x" * LIMIT)).json() == {"received": LIMIT}
    assert reached.count == 1
    assert_json_413(await browser.post("/api/v1/x", content=b"x" * (LIMIT + 1)), LIMIT)
    assert_page_413(await browser.post("/x", content=b"x" * (LIMIT + 1)))
    assert reached.count == 1, "the app never saw the oversized requests"


async def test_a_chunked_body_is_counted_as_it_arrives(client: tuple[httpx.AsyncClient, Reached]) -> None:
    browser, _ = client
    fits = await browser.post("/api/v1/x", content=chunked(LIMIT))
    assert fits.request.headers.get("transfer-encoding") == "chunked" and "content-length" not in fits.request.headers
    assert fits.json() == {"received": LIMIT}
    assert_json_413(await browser.post("/api/v1/x", content=chunked(10 * LIMIT)), LIMIT)
    assert_page_413(await browser.post("/x", content=chunked(LIMIT + 1)))


async def test_a_form_with_files_may_carry_a_whole_upload(client: tuple[httpx.AsyncClient, Reached]) -> None:
    browser, _ = client
    files = {"file": ("a.pdf", b"%PDF" + b"\x00" * (100 * KIB), "application/pdf")}
    assert (await browser.post("/form", files=files)).json() == {"fields": 1}, "over the plain limit, under the files'"
    huge = {"file": ("a.pdf", b"%PDF" + b"\x00" * FILES_LIMIT, "application/pdf")}
    over = await browser.post("/form", files=huge)
    assert over.status_code == 413 and "提交内容过大" in over.text
    urlencoded = await browser.post("/form", data={"note": "x" * LIMIT})
    assert urlencoded.status_code == 413, "a form without files has the plain limit"


async def test_the_web_app_bounds_its_bodies(tight: Settings, engine: Engine) -> None:
    app = create_app(tight, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as browser:
        login = {"username": "staff", "password": "x" * LIMIT}
        assert_json_413(await browser.post("/api/v1/login/access-token", data=login), LIMIT)
        form = {"content-type": "application/x-www-form-urlencoded"}
        chunked_login = await browser.post("/api/v1/login/access-token", content=chunked(2 * LIMIT), headers=form)
        assert_json_413(chunked_login, LIMIT)
        page = await browser.post("/login", content=chunked(2 * LIMIT), headers=form)
        assert_page_413(page)
        assert (await browser.post("/login", data={"username": "staff"})).status_code == 403, "small forms go through"
