"""The application form as applicants fill it in on the web: fields read, checked one by one, kept on a refusal.

The cycle's Update validator checks the application again (deadline, duplicates, eligibility); this module
gives each field its own reason first, so a refused form comes back with every problem beside its field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile

from schemas.application import ConditionClaim
from schemas.credit_code import credit_code_problem, normalise_credit_code
from schemas.identity import AccountRole
from schemas.programme import APPLICANT_KIND_ZH, ApplicantKind, Programme, RequiredDocument
from web.uploads import Upload

# Who enters an application received on paper.
ENTERERS = (AccountRole.SECRETARIAT, AccountRole.COORDINATOR)
PHONE = re.compile(r"\+?[0-9][0-9 -]{6,19}")
TEXT_FIELDS = ("applicant_kind", "name", "credit_code", "category", "region", "contact_person", "contact_phone")
EVIDENCE_LIMIT = 2000
OTHER_DOCUMENTS = "document-other"
MAX_OTHER_DOCUMENTS = 10


def document_field(required: RequiredDocument) -> str:
    return f"document-{required.id}"


class Entered(dict[str, str]):
    """Entered values for a template: a field never entered is blank."""

    def __missing__(self, key: str) -> str:
        return ""

    def __getattr__(self, key: str) -> str:
        return self[key]


@dataclass
class EnteredApplication:
    """What the applicant entered, each field's problem, and the form's fields once every one is right."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


def _single(form: FormData, name: str, errors: dict[str, str]) -> str:
    """One text value; a field sent twice is refused rather than one of its values taken silently."""
    values = form.getlist(name)
    if len(values) > 1:
        errors[name] = "该项重复提交，请刷新页面后重新填写。"
    value = values[0] if values else ""
    return value.strip() if isinstance(value, str) else ""


def _files(form: FormData, name: str) -> list[UploadFile]:
    # A file input left empty arrives as an UploadFile without a name.
    return [f for f in form.getlist(name) if isinstance(f, UploadFile) and f.filename]


def read_application(form: FormData, programme: Programme, *, uploads: bool = True) -> EnteredApplication:
    """Read and check the form's fields; `uploads` False for a form that carries no files (a check as typed)."""
    errors: dict[str, str] = {}
    values = {name: _single(form, name, errors) for name in TEXT_FIELDS}
    for condition in programme.conditions:
        for name in (f"met-{condition.id}", f"evidence-{condition.id}"):
            values[name] = _single(form, name, errors)
    entered = EnteredApplication(values=values, errors=errors)
    kind = _kind(values, programme, errors)
    name = values["name"]
    if not name or len(name) > 200:
        errors["name"] = "请填写申报单位或个人的名称（不超过200字）。"
    code = normalise_credit_code(values["credit_code"]) if values["credit_code"] else None
    if code is not None and (problem := credit_code_problem(code)):
        errors["credit_code"] = problem
    elif code is None and kind is ApplicantKind.ORGANISATION:
        errors["credit_code"] = "组织申报须填写18位统一社会信用代码。"
    if values["category"] not in programme.categories:
        errors["category"] = "请选择申报类别。"
    if len(values["region"]) > 100:
        errors["region"] = "所在地区不得超过100字。"
    if not values["contact_person"] or len(values["contact_person"]) > 50:
        errors["contact_person"] = "请填写联系人姓名（不超过50字）。"
    if not PHONE.fullmatch(values["contact_phone"]):
        errors["contact_phone"] = "请填写有效的联系电话（7至20位数字，可含区号）。"
    claims = _claims(values, programme, errors)
    if uploads:
        entered.uploads, missing = read_uploads(form, programme)
        errors.update(missing)
    if not errors:
        entered.fields = {
            "applicant_kind": kind,
            "name": name,
            "credit_code": code,
            "category": values["category"],
            "region": values["region"],
            "contact_person": values["contact_person"],
            "contact_phone": values["contact_phone"],
            "conditions": claims,
        }
    return entered


def _kind(values: dict[str, str], programme: Programme, errors: dict[str, str]) -> ApplicantKind | None:
    try:
        kind = ApplicantKind(values["applicant_kind"])
    except ValueError:
        kind = None
    if kind not in programme.applicant_kinds:
        allowed = "、".join(APPLICANT_KIND_ZH[k] for k in programme.applicant_kinds)
        errors["applicant_kind"] = f"请选择申报主体类型（本项目接受：{allowed}）。"
        return None
    return kind


def _claims(values: dict[str, str], programme: Programme, errors: dict[str, str]) -> list[ConditionClaim]:
    claims = []
    for condition in programme.conditions:
        met, evidence = values[f"met-{condition.id}"], values[f"evidence-{condition.id}"]
        if met not in ("yes", "no"):
            errors[f"met-{condition.id}"] = "请选择是否符合该条件。"
        elif met == "yes" and not evidence:
            errors[f"evidence-{condition.id}"] = "请说明符合该条件的依据。"
        if len(evidence) > EVIDENCE_LIMIT:
            errors[f"evidence-{condition.id}"] = f"说明不得超过{EVIDENCE_LIMIT}字。"
        claims.append(ConditionClaim(id=condition.id, met=met == "yes", evidence=evidence[:EVIDENCE_LIMIT]))
    return claims


def read_uploads(form: FormData, programme: Programme) -> tuple[list[Upload], dict[str, str]]:
    """Each required document as one file, and at most a few others; each missing one's reason by field."""
    uploads: list[Upload] = []
    errors: dict[str, str] = {}
    for required in programme.documents:
        name = document_field(required)
        files = _files(form, name)
        if len(files) != 1:
            errors[name] = f"请上传“{required.name_zh}”（一个 PDF、JPEG 或 PNG 文件）。"
            continue
        uploads.append((name, required.id, files[0]))
    others = _files(form, OTHER_DOCUMENTS)
    if len(others) > MAX_OTHER_DOCUMENTS:
        errors[OTHER_DOCUMENTS] = f"其他证明材料最多{MAX_OTHER_DOCUMENTS}个文件。"
    uploads.extend((OTHER_DOCUMENTS, None, f) for f in others[:MAX_OTHER_DOCUMENTS])
    return uploads, errors
