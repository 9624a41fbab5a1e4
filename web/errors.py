"""Refusals become JSON `{"detail": "..."}` with one line saying why."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from awardcycle.service import RefusalKind, Refused
from programmes import CatalogueError, UnknownProgrammeError
from schemas.identity import GrantError
from store.accounts import AccountError

log = logging.getLogger(__name__)


def _detail(status: int, reason: str) -> JSONResponse:
    # Reasons may quote multi-line server messages; a refusal is one line.
    return JSONResponse(status_code=status, content={"detail": " ".join(reason.split())})


# Every kind of refusal, with the status the web app answers it with (awardcycle/api_client.py reads them back).
REFUSAL_STATUS = {
    RefusalKind.REFUSED: 400,
    RefusalKind.INVALID: 422,
    RefusalKind.UNAUTHORIZED: 401,
    RefusalKind.FORBIDDEN: 403,
    RefusalKind.NOT_FOUND: 404,
    RefusalKind.CONFLICT: 409,
    RefusalKind.CLOSED: 409,
    RefusalKind.BUSY: 503,
}


def refusal_status(refused: Refused) -> int:
    return REFUSAL_STATUS[refused.kind]


async def _refused(request: Request, error: Exception) -> JSONResponse:
    status = refusal_status(error) if isinstance(error, Refused) else 400
    return _detail(status, str(error))


async def _catalogue(request: Request, error: Exception) -> JSONResponse:
    return _detail(404 if isinstance(error, UnknownProgrammeError) else 422, str(error))


ACCOUNT_STATUS = {
    "invalid": 422,
    "not_found": 404,
    "conflict": 409,
    "unauthorized": 401,
    "locked": 429,
    "disabled": 403,
}


async def _account(request: Request, error: Exception) -> JSONResponse:
    status = ACCOUNT_STATUS.get(error.kind, 400) if isinstance(error, AccountError) else 422
    return _detail(status, str(error))


async def _temporal_failed(request: Request, error: Exception) -> JSONResponse:
    # The path is not logged: a task link's path carries its token.
    log.warning("Temporal call failed during %s: %s", request.method, error)
    status = error.status.name if isinstance(error, RPCError) else "UNKNOWN"
    return _detail(503, f"工作流服务暂不可用 (Temporal call failed: {status}); try again shortly")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(CatalogueError, _catalogue)
    app.add_exception_handler(RPCError, _temporal_failed)
    app.add_exception_handler(AccountError, _account)
    app.add_exception_handler(GrantError, _account)
