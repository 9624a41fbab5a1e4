"""Reproducible sample applications for rehearsals, tests and benchmarks."""

from __future__ import annotations

import hashlib
import random

from stdnum.cn import uscc

from schemas.application import Applicant, ApplicationForm, ConditionClaim, Document
from schemas.programme import ApplicantKind, Programme

# Characters allowed in the organisation-code part of a credit code (GB 32100-2015, without I O S V Z).
_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_PREFIXES = ["海尔", "海信", "青啤", "双星", "澳柯玛", "红领", "中车", "港湾", "蓝谷", "崂山", "即墨", "胶州"]
_SUFFIXES = ["智能制造", "精密机械", "食品", "纺织", "新材料", "医疗器械", "电子", "物流", "建工", "海洋科技"]
_REGIONS = [
    "市南区",
    "市北区",
    "黄岛区",
    "崂山区",
    "李沧区",
    "城阳区",
    "即墨区",
    "胶州市",
    "平度市",
    "莱西市",
]


def credit_code(rng: random.Random, region: str = "370200") -> str:
    """A well-formed unified social credit code (企业法人 91 + region + organisation code + check digit)."""
    body = "91" + region + "".join(rng.choice(_CODE_CHARS) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def application(programme: Programme, index: int, seed: int = 0) -> ApplicationForm:
    rng = random.Random(f"{programme.id}/{seed}/{index}")  # noqa: S311
    name = f"青岛{rng.choice(_PREFIXES)}{rng.choice(_SUFFIXES)}有限公司{index:02d}"
    category = next((c for c in programme.categories if c != "个人"), programme.categories[0])
    return ApplicationForm(
        applicant_kind=ApplicantKind.ORGANISATION,
        name=name,
        credit_code=credit_code(rng),
        category=category,
        region=rng.choice(_REGIONS),
        contact_email=f"quality{index:02d}@applicant.example.cn",
        conditions=[ConditionClaim(id=c.id, met=True, evidence="见申报材料附件") for c in programme.conditions],
        documents=documents(name, ("申报书", "自评报告", "证明材料")),
    )


def as_applicant(programme: Programme, applicant: Applicant, index: int) -> ApplicationForm:
    """A sample form on this programme carrying a given applicant's identity, as a recommended one applies."""
    return application(programme, index).model_copy(
        update={
            "name": applicant.name,
            "credit_code": applicant.credit_code,
            "applicant_kind": applicant.applicant_kind,
            "contact_email": applicant.contact_email,
        }
    )


def applications(programme: Programme, count: int, seed: int = 0) -> list[ApplicationForm]:
    return [application(programme, index, seed) for index in range(1, count + 1)]


def documents(owner: str, parts: tuple[str, ...] = ("补充材料",)) -> list[Document]:
    """Attachments named by part, with a SHA-256 that stands in for the file's content."""
    return [
        Document(name=f"{part}.pdf", sha256=hashlib.sha256(f"{owner}/{part}".encode()).hexdigest()) for part in parts
    ]
