"""The ladder between programmes and years: recommendations, eligibility, the direct channel."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.application import Applicant, applicant_facts
from schemas.common import Actor, Model
from schemas.programme import ApplicantKind


def holder_key(applicant_kind: str, credit_code: str | None, name: str) -> str:
    """Who an applicant is across years: an organisation's credit code, else its kind and name."""
    if credit_code:
        return credit_code.strip().upper()
    return f"{applicant_kind}:{name.strip()}"


class RecommendedApplicant(Model):
    """A winner one programme recommends to a higher one, with what its application needs."""

    holder_key: str
    name: str
    applicant_kind: ApplicantKind
    credit_code: str | None
    contact_email: str
    category: str
    region: str = ""
    award: str = Field(description='the award won in the recommending cycle: "winner" or "nomination"')
    from_application_id: str

    @classmethod
    def of(cls, form: Applicant, application_id: str, award: str) -> RecommendedApplicant:
        return cls(
            **applicant_facts(form),
            holder_key=holder_key(form.applicant_kind.value, form.credit_code, form.name),
            award=award,
            from_application_id=application_id,
        )


class RecommendationBatch(Model):
    """Recommendations from one cycle to the cycle of a programme it feeds."""

    actor: Actor
    from_programme: str
    from_cycle: str
    candidates: list[RecommendedApplicant] = Field(min_length=1)


class RecommendationReceipt(Model):
    accepted: list[str] = Field(description="holder keys recorded now")
    already: list[str] = Field(description="holder keys this cycle already had from the same recommender")


class Recommender(Model):
    """A programme that feeds this one, and how many it may recommend to each edition."""

    programme: str
    name_zh: str
    organisations: int
    individuals: int


class ReceivedRecommendation(Model):
    from_programme: str
    from_cycle: str
    applicant: RecommendedApplicant
    received_at: datetime
    application_id: str | None = Field(default=None, description="set once the candidate has applied")


class DeliveryState(StrEnum):
    DELIVERED = "delivered"  # the receiving cycle has it
    PENDING = "pending"  # kept until the receiving edition opens
    REFUSED = "refused"  # the receiving cycle refused it, with the reason
    DROPPED = "dropped"  # the title was revoked or expired before delivery


class TargetedRecommendation(Model):
    target_programme: str
    applicant: RecommendedApplicant


class DeliveryRequest(Model):
    from_programme: str
    from_cycle: str
    announced_at: datetime = Field(description="cycle time of the announcement")
    recommendations: list[TargetedRecommendation]


class Delivery(Model):
    from_cycle: str
    target_programme: str
    target_year: int | None
    target_cycle: str | None
    holder_key: str
    name: str
    state: DeliveryState
    reason: str = ""


class DeliveryResult(Model):
    deliveries: list[Delivery]


class PendingRequest(Model):
    """A cycle opening: which recommendations wait for its programme and year."""

    cycle_id: str
    programme_id: str
    year: int


class PendingResult(Model):
    batches: list[RecommendationBatch]


class SettledRecommendations(Model):
    """What a receiving cycle did with the recommendations that waited for it."""

    cycle_id: str
    deliveries: list[Delivery]


class EligibilityRequest(Model):
    programme_id: str
    year: int
    holder_key: str
    at: datetime = Field(description="cycle time of the application")
    winner_cooldown_years: int
    revoked_bar_years: int
    direct_from: str | None = Field(description="the programme whose live titles enter through the direct channel")


class EligibilityResult(Model):
    problems: list[str] = Field(description="why the applicant may not apply, in Chinese and English")
    direct: bool = Field(description="enters through the direct channel (省市直通)")


class RecommendationCheck(Model):
    """Store facts a receiving cycle checks before it records a batch."""

    batch: RecommendationBatch


class RecommendationProblems(Model):
    problems: list[str]
