"""Jinja2 for the web app's few HTML pages: autoescaped, and strict about missing variables."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from awardcycle.timeline import actor_label, content_json, local_time

templates = Environment(
    loader=PackageLoader("web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)
templates.filters["local_time"] = local_time
templates.filters["actor_label"] = actor_label
templates.filters["content_json"] = content_json
