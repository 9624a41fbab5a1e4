"""An applicant's way through the web: the call page, the confirmation email, the form; shared by the HTTP
and the browser tests."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from awardcycle import samples, service
from awardcycle.simulation import Simulator, TemporalDesk
from schemas.application import ApplicationForm, ApplicationState, MaterialDecision
from schemas.common import Role
from schemas.programme import Programme
from tests.conftest import Inbox
from tests.scenario import StrongPlayer, day_sleeper, text_body

APPLICANT_LINK = re.compile(r"https?://\S+?/a/([A-Za-z0-9_-]{22,128})")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
MISSING = "近三年财务审计报告"


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "no CSRF field on the page"
    return match.group(1)


async def confirmation(inbox: Inbox, email: str, *, seen: int = 0) -> tuple[EmailMessage, str]:
    """The newest confirmation email to `email` after the first `seen`, and the token its link carries."""
    for _ in range(200):
        found = [m for m in inbox.to(email) if "申报邮箱确认" in str(m["Subject"])]
        if len(found) > seen:
            match = APPLICANT_LINK.search(text_body(found[-1]))
            assert match is not None, "no /a/ link in the confirmation"
            return found[-1], match.group(1)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no confirmation email to {email}")


async def request_link(client: httpx.AsyncClient, inbox: Inbox, cycle_id: str, email: str) -> str:
    """Ask for a confirmation link on the call page, as an applicant would; the token from the email."""
    seen = len([m for m in inbox.to(email) if "申报邮箱确认" in str(m["Subject"])])
    page = await client.get(f"/calls/{cycle_id}")
    assert page.status_code == 200, page.text
    sent = await client.post(f"/calls/{cycle_id}/confirm", data={"csrf": csrf_of(page.text), "email": email})
    assert sent.status_code == 200 and "确认邮件已发送" in sent.text, sent.text
    return (await confirmation(inbox, email, seen=seen))[1]


def form_fields(programme: Programme, index: int, **changes: str) -> dict[str, str]:
    """An organisation's form as its fields are named on the page, from the sample applicant `index`."""
    sample = samples.application(programme, index)
    fields = {
        "applicant_kind": "organisation",
        "name": f"在线申报{index}有限公司",
        "credit_code": sample.credit_code or "",
        "category": programme.categories[0],
        "region": sample.region,
        "contact_person": "王海",
        "contact_phone": "0532-88886666",
    }
    for condition in programme.conditions:
        fields[f"met-{condition.id}"] = "yes"
        fields[f"evidence-{condition.id}"] = f"见申报材料第{condition.id}部分"
    return {**fields, **changes}


@dataclass
class SupplementPlayer(StrongPlayer):
    """The secretariat asks `asking` once for a supplement, and finds it conforming once supplied."""

    asking: str = ""
    asked: set[str] = field(default_factory=set)

    def materials(self, application_id: str, form: ApplicationForm) -> MaterialDecision:
        if application_id == self.asking and application_id not in self.asked:
            self.asked.add(application_id)
            return MaterialDecision(
                actor=self.actor(Role.SECRETARIAT, "secretariat"), conforming=False, missing=[MISSING]
            )
        return super().materials(application_id, form)


async def play_until(
    env: WorkflowEnvironment, simulator: Simulator, application_id: str, *states: ApplicationState
) -> None:
    """Play the others day by day until the application is in one of `states`."""
    for _ in range(400):
        status = await service.application_status(env.client, application_id)
        if status.state in states or (ApplicationState.CONCLUDED in states and status.outcome is not None):
            return
        overview = await simulator.overview()
        if not await simulator.step(overview):
            await env.sleep(timedelta(days=1))
    raise AssertionError(f"{application_id} never reached {states}")


def simulator(env: WorkflowEnvironment, engine: Engine, cycle_id: str, player: StrongPlayer) -> Simulator:
    return Simulator(TemporalDesk(env.client, engine), cycle_id, player, day_sleeper(env))
