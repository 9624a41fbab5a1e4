"""Reviewers open an application's files: readers of its programme from the console, and each drawn expert
through the scoring link. Only a file the application holds is served, and only as an attachment."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from awardcycle import service
from awardcycle.service import Refused
from config.settings import Settings
from web.deps import ClientDep
from web.errors import refusal_status
from web.routes.application_page import PAGE, TEMPLATE, _reader, _shown
from web.routes.console import SignedIn, html_page
from web.routes.links import INVALID_ZH, TOO_MANY_PAGE_ZH
from web.routes.tasks import EXPERT_REVIEW, gone_if_missing, open_task_link
from web.templating import templates
from web.uploads import DocumentStoreDep, document_response, find_document

router = APIRouter(include_in_schema=False)

MISSING_ZH = "未找到该文件，请联系评审办公室。"


@router.get(PAGE + "/documents/{sha256}")
async def console_document(
    request: Request, application_id: str, sha256: str, holder: SignedIn, client: ClientDep, store: DocumentStoreDep
) -> Response:
    """For whoever may read the application's form: the secretariat, coordinators, the on-site team, auditors."""
    shown = _shown(request, holder)
    reader = await _reader(request, shown, application_id)
    if isinstance(reader, Response):
        return reader
    try:
        documents = (await service.application_status(client, application_id)).documents
        return await run_in_threadpool(document_response, store, find_document(documents, sha256))
    except Refused as refused:
        return html_page(TEMPLATE, refusal_status(refused), **shown, error=str(refused))
    except HTTPException as missing:
        return html_page(TEMPLATE, missing.status_code, **shown, error=str(missing.detail))


def _link_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    contact = settings.mail_reply_to or settings.mail_from
    page = templates.get_template("link_invalid.html").render(message=message, contact=contact)
    return HTMLResponse(page, status_code=status_code)


@router.get("/t/{token}/documents/{sha256}")
async def expert_document(
    token: str, sha256: str, request: Request, client: ClientDep, store: DocumentStoreDep
) -> Response:
    """For an expert drawn to score the application, through the link of that task."""
    try:
        link = await open_task_link(token, request, (EXPERT_REVIEW,))
        application = await gone_if_missing(service.application_status(client, link.task_id))
        if link.recipient_id not in application.experts:
            raise HTTPException(status.HTTP_404_NOT_FOUND, INVALID_ZH)
    except HTTPException as error:
        if error.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
            return _link_page(request, error.status_code, TOO_MANY_PAGE_ZH)
        return _link_page(request, error.status_code, INVALID_ZH)
    try:
        document = find_document(application.documents, sha256)
        return await run_in_threadpool(document_response, store, document)
    except HTTPException as missing:
        return _link_page(request, missing.status_code, MISSING_ZH)
