"""The activity a TitleWorkflow calls: write the title's row in the read model."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from schemas.title import (
    TitleRecord,
    TitleRecorded,
)
from store import titles
from store.db import session


class TitleActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="record_title")
    def record_title(self, record: TitleRecord) -> TitleRecorded:
        with session(self._engine) as db:
            titles.upsert_title(db, title=titles.TitleRow.model_validate(record.model_dump()))
        return TitleRecorded(title_id=record.title_id, state=record.state)
