"""A programme (one award or brand scheme) as data: the cycle workflow interprets it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import Field, PositiveInt, model_validator

from schemas.common import SHANGHAI, Model


class Level(StrEnum):
    CITY = "city"
    PROVINCE = "province"
    NATIONAL = "national"


class ApplicantKind(StrEnum):
    ORGANISATION = "organisation"
    INDIVIDUAL = "individual"
    REGIONAL_PRODUCT = "regional_product"


APPLICANT_KIND_ZH = {
    ApplicantKind.ORGANISATION: "组织",
    ApplicantKind.INDIVIDUAL: "个人",
    ApplicantKind.REGIONAL_PRODUCT: "区域产品",
}


class StageKind(StrEnum):
    APPLICATION = "application"
    QUALIFICATION = "qualification"
    MATERIAL = "material"
    EXPERT_REVIEW = "expert_review"
    ONSITE_REVIEW = "onsite_review"
    ORAL_DEFENCE = "oral_defence"
    CONSULTATION = "consultation"
    PUBLIC_NOTICE = "public_notice"
    APPROVAL = "approval"
    ANNOUNCEMENT = "announcement"


# Stages each application passes through on its own, in the cycle's order.
APPLICATION_STAGES = (
    StageKind.QUALIFICATION,
    StageKind.MATERIAL,
    StageKind.EXPERT_REVIEW,
    StageKind.ONSITE_REVIEW,
    StageKind.ORAL_DEFENCE,
)


class DayUnit(StrEnum):
    WORKING = "working"
    CALENDAR = "calendar"


class OverduePolicy(StrEnum):
    DEEMED_NO_OBJECTION = "deemed_no_objection"
    ESCALATE = "escalate"


class Duration(Model):
    days: PositiveInt
    unit: DayUnit = DayUnit.WORKING


class Stage(Model):
    kind: StageKind
    name_zh: str
    duration: Duration | None = Field(
        default=None, description="target length; none for stages that last until done or use notice_period"
    )


class Condition(Model):
    id: str
    text: str


class Indicator(Model):
    id: str
    name_zh: str
    points: PositiveInt


class IndicatorGroup(Model):
    id: str
    name_zh: str
    points: PositiveInt
    indicators: list[Indicator] = Field(min_length=1)

    @model_validator(mode="after")
    def _points_add_up(self) -> Self:
        total = sum(i.points for i in self.indicators)
        if total != self.points:
            raise ValueError(f"indicators of {self.id} add up to {total} points, not {self.points}")
        return self


class Rubric(Model):
    id: str
    name_zh: str
    total_points: PositiveInt
    groups: list[IndicatorGroup] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        total = sum(g.points for g in self.groups)
        if total != self.total_points:
            raise ValueError(f"first-level indicators add up to {total} points, not {self.total_points}")
        ids = [g.id for g in self.groups] + [i.id for g in self.groups for i in g.indicators]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"indicator ids repeated: {', '.join(duplicates)}")
        return self

    @property
    def indicators(self) -> list[Indicator]:
        return [i for g in self.groups for i in g.indicators]


class Department(Model):
    id: str
    name_zh: str
    name_en: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Expert(Model):
    id: str
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    conflicts: list[str] = Field(
        default_factory=list, description="credit codes or names of applicants the expert may not review"
    )


class Quotas(Model):
    winners: PositiveInt
    nominations: int = Field(ge=0)


class ExpertReview(Model):
    experts_per_application: PositiveInt
    pass_mark: float = Field(gt=0, description="minimum aggregated expert score, on the rubric's scale")
    pool: list[Expert] = Field(min_length=1)

    @model_validator(mode="after")
    def _pool_large_enough(self) -> Self:
        if len(self.pool) < self.experts_per_application:
            raise ValueError(
                f"pool has {len(self.pool)} experts, fewer than {self.experts_per_application} per application"
            )
        return self


class OnsiteReview(Model):
    candidates: PositiveInt = Field(description="how many of the best-scored applications are visited")
    pass_mark: float = Field(ge=0, description="minimum on-site score, on the rubric's scale")


class ScoreWeights(Model):
    expert: float = Field(ge=0, le=1)
    onsite: float = Field(default=0, ge=0, le=1)
    defence: float = Field(default=0, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> Self:
        if abs(self.expert + self.onsite + self.defence - 1) > 1e-9:
            raise ValueError("score weights must add up to 1")
        return self


class ConsultationRules(Model):
    reminders_before: list[PositiveInt] = Field(
        default=[3, 1], description="working days before the deadline when a reminder goes out"
    )
    overdue_policy: OverduePolicy


class Recommendation(Model):
    """The winners of this programme are recommended to another one, within a quota."""

    programme: str
    organisations: int = Field(ge=0)
    individuals: int = Field(default=0, ge=0)


class Eligibility(Model):
    """Who may apply, judged against earlier years when an application arrives."""

    requires_recommendation: bool = Field(
        default=False, description="only candidates recommended by a programme that feeds this one"
    )
    winner_cooldown_years: int = Field(
        default=0, ge=0, description="a winner of this programme may not apply again for this many years"
    )
    revoked_bar_years: int = Field(
        default=3, ge=0, description="a title of any programme revoked within this many years disqualifies"
    )


class DirectChannel(Model):
    """省市直通: holders of a live title of another programme enter without screening or expert review."""

    from_programme: str
    description_zh: str = "省市直通渠道"


class TitleRules(Model):
    """A title (award or brand) is held for its validity period under dynamic management."""

    validity_years: PositiveInt = 3
    self_inspection: bool = Field(default=True, description="a yearly self-inspection request to the holder")


class RequiredDocument(Model):
    """A file every application must carry, uploaded on the form."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name_zh: str


DEFAULT_DOCUMENTS = (
    RequiredDocument(id="application_form", name_zh="申报表（盖章扫描件）"),
    RequiredDocument(id="self_assessment", name_zh="自评报告"),
)


class Programme(Model):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name_zh: str
    name_en: str
    level: Level
    jurisdiction_zh: str
    publisher_zh: str = Field(description="the body that publishes notices and results")
    approval_authority_zh: str
    every_years: PositiveInt = Field(default=1, description="2 for a biennial programme")
    first_year: int = Field(description="a year in which an edition was held")
    opening: str = Field(pattern=r"^\d{2}-\d{2}$", description="MM-DD the call for applications opens")
    applicant_kinds: list[ApplicantKind] = Field(min_length=1)
    categories: list[str] = Field(min_length=1)
    stages: list[Stage] = Field(min_length=1)
    supplement: Duration
    quotas: Quotas
    conditions: list[Condition] = Field(min_length=1)
    rubric: Rubric
    expert_review: ExpertReview
    onsite_review: OnsiteReview | None = None
    score_weights: ScoreWeights
    departments: list[Department] = Field(min_length=1)
    consultation: ConsultationRules
    notice_period: Duration
    feeds: list[Recommendation] = Field(default_factory=list)
    brand: bool = Field(default=False, description="a brand programme: its winners hold a brand, not an award")
    eligibility: Eligibility = Field(default_factory=Eligibility)
    direct_channel: DirectChannel | None = None
    titles: TitleRules = Field(default_factory=TitleRules)
    documents: list[RequiredDocument] = Field(default_factory=lambda: list(DEFAULT_DOCUMENTS), min_length=1)
    contact_zh: str = Field(default="", max_length=200, description="the office's contact on the call page")

    @model_validator(mode="after")
    def _stages_coherent(self) -> Self:
        kinds = [s.kind for s in self.stages]
        if len(set(kinds)) != len(kinds):
            raise ValueError("a stage kind appears twice in stages")
        order = list(StageKind)
        if kinds != sorted(kinds, key=order.index):
            raise ValueError(f"stages must follow the order {', '.join(k.value for k in order)}")
        # The cycle cannot announce without the government's approval; refused here, not mid-cycle.
        for required in (StageKind.APPLICATION, StageKind.QUALIFICATION, StageKind.APPROVAL, StageKind.ANNOUNCEMENT):
            if required not in kinds:
                raise ValueError(f"stages must include {required.value}")
        if StageKind.ONSITE_REVIEW in kinds and self.onsite_review is None:
            raise ValueError("an onsite_review stage needs the onsite_review section")
        for stage in self.stages:
            timed = stage.kind not in (StageKind.PUBLIC_NOTICE, StageKind.APPROVAL, StageKind.ANNOUNCEMENT)
            if timed != (stage.duration is not None):
                needs = "needs a duration" if timed else "takes no duration (see notice_period)"
                raise ValueError(f"stage {stage.kind.value} {needs}")
        if self.notice_period.unit is not DayUnit.WORKING:
            raise ValueError("the notice period is counted in working days")
        ids = [c.id for c in self.conditions]
        if len(set(ids)) != len(ids):
            raise ValueError("condition ids must be unique")
        if len({d.id for d in self.documents}) != len(self.documents):
            raise ValueError("required document ids must be unique")
        return self

    def stage(self, kind: StageKind) -> Stage | None:
        return next((s for s in self.stages if s.kind is kind), None)

    def duration_of(self, stage: Stage) -> Duration | None:
        """How long a stage lasts: the public notice takes the notice period; approval has no deadline."""
        return self.notice_period if stage.kind is StageKind.PUBLIC_NOTICE else stage.duration

    def opens_at(self, year: int) -> datetime:
        """09:00 in Shanghai on the opening date: where a rehearsal's clock starts."""
        month, day = (int(part) for part in self.opening.split("-"))
        return datetime(year, month, day, 9, tzinfo=SHANGHAI)

    def holds_edition(self, year: int) -> bool:
        return (year - self.first_year) % self.every_years == 0
