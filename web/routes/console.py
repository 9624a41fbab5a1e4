"""The console's door: `/login` sets the session cookie, `/logout` ends it, `/console` is the dashboard.

The session cookie holds a login token (HttpOnly, SameSite=Strict, Secure over https); every form
posted with it carries a CSRF value bound to that token. The login form's own CSRF value is bound to a
nonce cookie, so no other site can log a browser in under someone else's name.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from schemas.common import Channel
from store import accounts
from web.auth import MUST_CHANGE, SESSION_COOKIE, FormNonce, csrf_for, optional_holder, principal_of
from web.dashboard import chosen_year, dashboard, start_form
from web.deps import ClientDep, EngineDep
from web.routes.login import PasswordChange, change_own_password, log_in, revoke_session
from web.templating import templates

router = APIRouter(include_in_schema=False)

LOGIN_FORM = FormNonce("login_csrf", "login", "/login")
CHANGE_PAGE = "/console/password"
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}
FIELD_LIMIT = 256
Holder = Annotated[accounts.TokenHolder | None, Depends(optional_holder)]


def html_page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(template).render(**context), status_code=status_code, headers=HEADERS)


def _safe_next(target: str) -> str:
    """Only a path on this site: never `//elsewhere` or a full URL."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/console"


async def signed_in(request: Request, holder: Holder) -> accounts.TokenHolder:
    """A page's dependency: the session's holder, or a redirect to the login page and back."""
    if holder is None:
        location = f"/login?next={quote(request.url.path)}"
        raise HTTPException(status.HTTP_303_SEE_OTHER, "请先登录 (log in first)", headers={"Location": location})
    if holder.account.must_change_password and request.url.path != CHANGE_PAGE:
        raise HTTPException(status.HTTP_303_SEE_OTHER, MUST_CHANGE, headers={"Location": CHANGE_PAGE})
    return holder


SignedIn = Annotated[accounts.TokenHolder, Depends(signed_in)]


def _login_form(request: Request, next_path: str, error: str = "", username: str = "", code: int = 200) -> Response:
    nonce, csrf = LOGIN_FORM.issue(request)
    response = html_page(
        "login.html",
        code,
        csrf=csrf,
        next=_safe_next(next_path),
        username=username,
        error=error,
    )
    LOGIN_FORM.keep(request, response, nonce)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/console") -> Response:
    return _login_form(request, next)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request) -> Response:
    form = await request.form()
    fields = {name: form.getlist(name) for name in ("username", "password", "csrf", "next")}
    if any(len(values) > 1 for values in fields.values()):
        return _login_form(request, "/console", "表单字段重复 (a field was sent twice)", code=400)
    username, password, sent, next_path = (
        str(values[0]) if values and isinstance(values[0], str) else "" for values in fields.values()
    )
    if not LOGIN_FORM.matches(request, sent):
        return _login_form(request, next_path, "表单已失效，请重新登录 (the form expired; try again)", username, 403)
    if not username or not password or len(username) > FIELD_LIMIT or len(password) > FIELD_LIMIT:
        return _login_form(request, next_path, "请输入用户名和密码 (enter a username and a password)", username, 422)
    try:
        token, expires_in = await log_in(request, username, password, Channel.CONSOLE)
    except HTTPException as error:
        return _login_form(request, next_path, str(error.detail), username, error.status_code)
    response = RedirectResponse(_safe_next(next_path), status_code=status.HTTP_303_SEE_OTHER)
    secure = request.url.scheme == "https" or request.app.state.settings.public_base_url.startswith("https:")
    response.set_cookie(
        SESSION_COOKIE, token, max_age=expires_in, httponly=True, samesite="strict", secure=secure, path="/"
    )
    response.delete_cookie(LOGIN_FORM.cookie, path=LOGIN_FORM.path)
    return response


@router.post("/logout")
async def logout_submit(request: Request, holder: Holder) -> Response:
    # optional_holder has checked the CSRF value of a cookie session before this runs.
    if holder is not None:
        await run_in_threadpool(revoke_session, request, holder.token_sha256)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/console", response_class=HTMLResponse)
async def console_page(
    request: Request, holder: SignedIn, client: ClientDep, engine: EngineDep, year: str | None = None
) -> Response:
    """The dashboard of the chosen year (`?year=`, default the latest with a cycle the user may read)."""
    principal = principal_of(holder)
    shown: dict[str, Any] = {
        "principal": principal,
        "csrf": csrf_for(request, holder.token_sha256),
        "start": start_form(principal),
    }
    try:
        wanted = chosen_year(year)
    except ValueError as error:
        return html_page("console.html", 422, **shown, board=None, error=str(error))
    board = await dashboard(client, engine, principal, wanted)
    return html_page("console.html", **shown, board=board, error="")


def _password_form(request: Request, holder: accounts.TokenHolder, error: str = "", code: int = 200) -> Response:
    return html_page(
        "password.html",
        code,
        principal=principal_of(holder),
        forced=holder.account.must_change_password,
        csrf=csrf_for(request, holder.token_sha256),
        error=error,
    )


@router.get(CHANGE_PAGE, response_class=HTMLResponse)
async def password_page(request: Request, holder: SignedIn) -> Response:
    return _password_form(request, holder)


@router.post(CHANGE_PAGE, response_class=HTMLResponse)
async def password_submit(request: Request, holder: SignedIn) -> Response:
    form = await request.form()
    current, new, again = (str(form.get(name) or "")[:FIELD_LIMIT] for name in ("current", "new", "again"))
    if new != again:
        return _password_form(request, holder, "两次输入的新密码不一致 (the new passwords differ)", 422)
    change = PasswordChange(current_password=current, new_password=new)
    try:
        await run_in_threadpool(change_own_password, request, holder.account.username, change)
    except accounts.AccountError as error:
        return _password_form(request, holder, str(error), 422)
    response = RedirectResponse("/login?next=/console", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
