"""What each reader may see of a live status: personal data for coordinators and auditors only, and
experts' scores for the secretariat, coordinators and auditors only while the review is open."""

from __future__ import annotations

from schemas.application import ApplicationForm, ApplicationState, ApplicationStatus
from schemas.consultation import ConsultationStatus
from schemas.cycle import CycleStatus
from schemas.notice import NoticeStatus
from web.auth import Access

HIDDEN = "（已隐去）"


class ApplicationFormView(ApplicationForm):
    """An application as a reader sees it: without the contact for those who may not see it."""

    contact_email: str | None = None  # type: ignore[assignment]


def cycle_status(access: Access, status: CycleStatus) -> CycleStatus:
    if access.sees_personal_data:
        return status
    recommended = [
        entry.model_copy(update={"applicant": entry.applicant.model_copy(update={"contact_email": HIDDEN})})
        for entry in status.recommended
    ]
    return status.model_copy(update={"recommended": recommended})


def application_status(access: Access, status: ApplicationStatus) -> ApplicationStatus:
    if access.sees_scores or status.state is not ApplicationState.EXPERT_REVIEW:
        return status
    return status.model_copy(update={"scores": {}, "expert_score": None})


def application_form(access: Access, form: ApplicationForm) -> ApplicationFormView:
    view = ApplicationFormView.model_validate(form.model_dump())
    return view if access.sees_personal_data else view.model_copy(update={"contact_email": None})


def consultation_status(access: Access, status: ConsultationStatus) -> ConsultationStatus:
    return status if access.sees_personal_data else status.model_copy(update={"recipient_email": None})


def notice_status(access: Access, status: NoticeStatus) -> NoticeStatus:
    if access.sees_personal_data:
        return status
    objections = [o.model_copy(update={"objector": HIDDEN}) for o in status.objections]
    return status.model_copy(update={"objections": objections})
