"""Renders a message from its zh-CN templates: `<name>.subject.txt`, `<name>.txt` and `<name>.html`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from schemas.common import SHANGHAI

WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


def zh_datetime(value: datetime | str) -> str:
    """`2026年3月20日（星期五）24:00` in Asia/Shanghai; 00:00 is shown as 24:00 of the day before.

    Deadlines are the first instant of the next day, which a reader understands as the end of the
    previous one. Strings are ISO 8601 (datetimes in a free-form context arrive as strings).
    """
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    if instant.tzinfo is None:
        raise ValueError("naive datetime: an instant needs a time zone")
    local = instant.astimezone(SHANGHAI)
    clock = f"{local:%H:%M}"
    if local.time() == time(0, 0):
        local, clock = local - timedelta(days=1), "24:00"
    return f"{local.year}年{local.month}月{local.day}日（星期{WEEKDAYS[local.weekday()]}）{clock}"


def zh_date(value: date) -> str:
    """`2026年3月20日`; an instant is taken at its date in Asia/Shanghai."""
    local = value.astimezone(SHANGHAI) if isinstance(value, datetime) else value
    return f"{local.year}年{local.month}月{local.day}日"


def award_label(value: str, programme: str) -> str:
    """`winner` is the programme's award itself, `nomination` its nomination award (提名奖)."""
    return {"winner": programme, "nomination": f"{programme}提名奖"}.get(value, value)


OPINIONS_ZH = {"no_objection": "无异议", "objection": "有异议"}
CHANNELS_ZH = {
    "link": "邮件链接",
    "web": "网页",
    "api": "接口",
    "cli": "命令行",
    "console": "控制台",
    "paper": "纸质件，由评审办公室录入",
    "simulation": "演练",
    "policy": "逾期规则",
}
OUTCOMES_ZH = {
    "not_qualified": "未通过资格审查",
    "materials_incomplete": "材料不全",
    "withdrawn": "已撤回申报",
    "low_score": "专家评审未达到入围分数",
    "not_shortlisted": "未入围现场评审",
    "failed_onsite": "未通过现场评审",
    "dropped_by_consultation": "经征求部门意见，不予授奖",
    "dropped_by_notice": "经公示异议核实，不予授奖",
    "not_selected": "未获奖",
}


def outcome_label(value: str, programme: str) -> str:
    """An outcome in Chinese; the two awards are named as the programme names them."""
    return OUTCOMES_ZH.get(value) or award_label(value, programme)


environment = Environment(
    loader=PackageLoader("notifications"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,  # a missing context key fails the render instead of leaving a blank
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
environment.filters["zh_datetime"] = zh_datetime
environment.filters["award_label"] = award_label
environment.filters["outcome_label"] = outcome_label
environment.filters["opinion_label"] = lambda value: OPINIONS_ZH.get(value, value)
environment.filters["channel_label"] = lambda value: CHANNELS_ZH.get(value, value)


def render(template: str, context: Mapping[str, Any]) -> RenderedMessage:
    subject = environment.get_template(f"{template}.subject.txt").render(context)
    return RenderedMessage(
        subject=" ".join(subject.split()),  # one header line, whatever the template's whitespace
        text=environment.get_template(f"{template}.txt").render(context),
        html=environment.get_template(f"{template}.html").render(context),
    )
