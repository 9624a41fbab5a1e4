"""Input and result of the history archive, and the code version an archived history records."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from functools import cache
from pathlib import Path
from typing import Any

from schemas.common import Model


class ArchiveRequest(Model):
    """The workflows of one cycle whose histories the archive stores once each has closed."""

    cycle_id: str
    workflow_ids: list[str]


class ArchiveResult(Model):
    cycle_id: str
    archived: list[str]
    already_archived: list[str]
    missing: list[str]


@cache
def code_version() -> str:
    """`<package version>+<first 12 hex of SHA-256 over workflows/*.py, in sorted order>`."""
    sources = Path(__file__).resolve().parent.parent / "workflows"  # here: workflow sandboxes import this module
    digest = hashlib.sha256()
    for path in sorted(sources.glob("*.py")):
        digest.update(path.read_bytes())
    return f"{importlib.metadata.version('awardcycle')}+{digest.hexdigest()[:12]}"


def history_text(history_json: dict[str, Any]) -> str:
    """The exact text archived for a history's proto JSON dict: keys sorted, non-ASCII kept."""
    return json.dumps(history_json, ensure_ascii=False, sort_keys=True)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
