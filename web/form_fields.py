"""The console's posted forms: each field sent at most once, bounded, and refused with a reason in Chinese.

A field's bounds are read from the pydantic model its value ends up in, so the checks here and the
`min`, `max` and `maxlength` attributes of the form follow the schema rather than restating it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from annotated_types import Ge, Le, MaxLen, MinLen
from fastapi import Request
from pydantic import BaseModel

from schemas.notification import EMAIL_PATTERN

EMAIL_LIMIT = 254  # the longest address SMTP carries (RFC 5321)
KEPT_LIMIT = 4000  # characters of an entered value shown again on a refused form: twice the longest field
_WHOLE = re.compile(r"[0-9]{1,9}")
_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Bounds:
    """A number's least and greatest value, or a text's least and greatest length; None: unbounded."""

    low: float | None = None
    high: float | None = None


def bounds(model: type[BaseModel], name: str) -> Bounds:
    low: float | None = None
    high: float | None = None
    for item in model.model_fields[name].metadata:
        if isinstance(item, Ge) and isinstance(item.ge, int | float):
            low = item.ge
        elif isinstance(item, MinLen):
            low = item.min_length
        elif isinstance(item, Le) and isinstance(item.le, int | float):
            high = item.le
        elif isinstance(item, MaxLen):
            high = item.max_length
    return Bounds(low, high)


def model_bounds(model: type[BaseModel]) -> dict[str, Bounds]:
    return {name: bounds(model, name) for name in model.model_fields}


class FieldProblem(ValueError):
    """A posted value that fails its check; the message says which field and why, in Chinese."""


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Fields:
    """One posted form's values, each stripped of surrounding blanks."""

    values: dict[str, str]

    def kept(self) -> dict[str, str]:
        """What was entered, to fill the form again when the act is refused (never the CSRF value)."""
        return {name: value[:KEPT_LIMIT] for name, value in self.values.items() if name != "csrf"}

    def text(self, name: str, label: str, limits: Bounds, *, optional: bool = False) -> str:
        value = self.values.get(name, "")
        if not value:
            if optional:
                return ""
            raise FieldProblem(f"请填写{label}")
        if limits.high is not None and len(value) > limits.high:
            raise FieldProblem(f"{label}不得超过 {_number(limits.high)} 字（现为 {len(value)} 字）")
        if limits.low is not None and len(value) < limits.low:
            raise FieldProblem(f"{label}至少 {_number(limits.low)} 字")
        return value

    def _within(self, name: str, label: str, limits: Bounds, pattern: re.Pattern[str], kind_zh: str) -> float | None:
        value = self.values.get(name, "")
        if not value:
            return None
        number = float(value) if pattern.fullmatch(value) else None
        if (
            number is None
            or (limits.low is not None and number < limits.low)
            or (limits.high is not None and number > limits.high)
        ):
            span = (
                f" {_number(limits.low)}–{_number(limits.high)} 之间的"
                if limits.low is not None and limits.high is not None
                else ""
            )
            raise FieldProblem(f"{label}须为{span}{kind_zh}，而不是“{value[:20]}”")
        return number

    def whole(self, name: str, label: str, limits: Bounds, *, default: int | None = None) -> int:
        number = self._within(name, label, limits, _WHOLE, "整数")
        if number is None:
            if default is None:
                raise FieldProblem(f"请填写{label}")
            return default
        return int(number)

    def decimal(self, name: str, label: str, limits: Bounds) -> float | None:
        """An optional number, whole or with up to six decimals; None when left empty."""
        return self._within(name, label, limits, _DECIMAL, "数")

    def day(self, name: str, label: str) -> date:
        value = self.values.get(name, "")
        if not value:
            raise FieldProblem(f"请填写{label}")
        try:
            if not _DAY.fullmatch(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            raise FieldProblem(f"{label}须为有效日期（年-月-日），而不是“{value[:20]}”") from None

    def email(self, name: str, label: str) -> str | None:
        """An optional address; None when left empty."""
        value = self.values.get(name, "")
        if not value:
            return None
        if len(value) > EMAIL_LIMIT or not re.fullmatch(EMAIL_PATTERN, value):
            raise FieldProblem(f"{label}格式不正确，例如 office@example.cn")
        return value

    def pick(self, name: str, label: str, allowed: Callable[[str], bool]) -> str:
        """A value chosen from a list the page offered; anything else is refused."""
        value = self.values.get(name, "")
        if not value or not allowed(value):
            raise FieldProblem(f"请选择{label}")
        return value


async def posted(request: Request) -> Fields:
    """The form's fields; one sent twice, or a file, is refused before anything is read from it."""
    form = await request.form()
    values: dict[str, str] = {}
    for name in form:
        sent = form.getlist(name)
        if len(sent) > 1:
            raise FieldProblem(f"表单字段“{name[:40]}”重复提交 (a field was sent twice)")
        if not isinstance(sent[0], str):
            raise FieldProblem(f"表单字段“{name[:40]}”不接受文件 (no file is taken here)")
        values[name] = sent[0].strip()
    return Fields(values)
