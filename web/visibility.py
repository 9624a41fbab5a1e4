"""What each reader may see of a live status: personal data for coordinators and auditors only, and
experts' scores for the secretariat, coordinators and auditors only while the review is open."""

from __future__ import annotations

from schemas.application import ApplicationForm, ApplicationState, ApplicationStatus, ApplicationView
from schemas.consultation import ConsultationStatus
from schemas.cycle import CycleOverview
from schemas.notice import NoticeStatus
from web.auth import Access

HIDDEN = "（已隐去）"


class ApplicationFormView(ApplicationForm):
    """An application as a reader sees it: without the contact for those who may not see it."""

    contact_email: str | None = None  # type: ignore[assignment]


def cycle_overview(access: Access, overview: CycleOverview) -> CycleOverview:
    applications = [application_view(access, view) for view in overview.applications]
    if access.sees_personal_data:
        return overview.model_copy(update={"applications": applications})
    recommended = [
        entry.model_copy(update={"applicant": entry.applicant.model_copy(update={"contact_email": HIDDEN})})
        for entry in overview.recommended
    ]
    return overview.model_copy(update={"recommended": recommended, "applications": applications})


def shows_scores(access: Access, state: ApplicationState) -> bool:
    """Experts' scores of an application in this state show to this reader: always, or once review has closed."""
    return access.sees_scores or state is not ApplicationState.EXPERT_REVIEW


def application_view(access: Access, view: ApplicationView) -> ApplicationView:
    """As `application_status`: the expert score shows only to those who may see scores while review is open."""
    if shows_scores(access, view.state):
        return view
    return view.model_copy(update={"expert_score": None})


def application_status(access: Access, status: ApplicationStatus) -> ApplicationStatus:
    if shows_scores(access, status.state):
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
