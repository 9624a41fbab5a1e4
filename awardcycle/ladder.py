"""The climb at a glance: per tier the cycles of a year, per applicant the path through tiers and years.

Closed cycles are read from their records; running ones from the application read model, so an applicant
still under review shows up before its cycle announces.
"""

from __future__ import annotations

import asyncio

from pydantic import Field
from sqlalchemy import Engine

from programmes import load_catalogue
from schemas.common import Model
from schemas.ladder import holder_key
from schemas.programme import Level, Programme
from store import ladder, queries
from store.db import session
from store.tables import CycleRow
from store.titles import titles_of

LEVELS = (Level.CITY, Level.PROVINCE, Level.NATIONAL)


class CycleAtAGlance(Model):
    cycle_id: str
    programme_id: str
    programme_name_zh: str
    year: int
    stage: str
    completed: bool


class Tier(Model):
    level: Level
    cycles: list[CycleAtAGlance]


class Step(Model):
    """One event on an applicant's way: applied, recommended, won (or another outcome), revoked."""

    year: int
    programme_id: str
    event: str = Field(description="applied | recommended | won | nomination | <outcome> | revoked | expired")
    detail: str = ""


class Path(Model):
    holder_key: str
    name: str
    steps: list[Step]


class LadderView(Model):
    year: int
    tiers: list[Tier]
    paths: list[Path]


def _order(catalogue: dict[str, Programme]) -> dict[str, int]:
    return {p.id: LEVELS.index(p.level) for p in catalogue.values()}


async def ladder_view(engine: Engine, year: int) -> LadderView:
    catalogue = load_catalogue()
    rows = await asyncio.to_thread(_cycles, engine, year)
    tiers = [
        Tier(
            level=level,
            cycles=[
                CycleAtAGlance(
                    cycle_id=row.cycle_id,
                    programme_id=row.programme_id,
                    programme_name_zh=catalogue[row.programme_id].name_zh if row.programme_id in catalogue else "",
                    year=row.year,
                    stage=row.stage,
                    completed=row.completed,
                )
                for row in rows
                if row.programme_id in catalogue and catalogue[row.programme_id].level is level
            ],
        )
        for level in LEVELS
    ]
    live = await asyncio.to_thread(_running_applicants, engine, [r for r in rows if not r.completed])
    holders = await asyncio.to_thread(_holders_of_year, engine, year)
    holders.update({key: name for key, (name, _) in live.items()})
    order = _order(catalogue)
    paths = []
    for key, name in sorted(holders.items()):
        path = await asyncio.to_thread(_path, engine, key, name)
        path.steps += live.get(key, ("", []))[1]
        path.steps.sort(key=lambda s: (s.year, order.get(s.programme_id, len(LEVELS)), s.event != "applied"))
        paths.append(path)
    return LadderView(year=year, tiers=tiers, paths=paths)


def _cycles(engine: Engine, year: int) -> list[CycleRow]:
    with session(engine) as s:
        return ladder.cycles_of_year(s, year=year)


def _running_applicants(engine: Engine, rows: list[CycleRow]) -> dict[str, tuple[str, list[Step]]]:
    """Holder key → name and steps, for the applications of running cycles (not recorded until they announce)."""
    found: dict[str, tuple[str, list[Step]]] = {}
    with session(engine) as s:
        for row in rows:
            for application in queries.application_views(s, cycle_id=row.cycle_id):
                key = holder_key(application.applicant_kind, application.credit_code, application.name)
                state = (application.outcome or application.state).value
                detail = f"under review: {state}"
                step = Step(year=row.year, programme_id=row.programme_id, event="applied", detail=detail)
                found.setdefault(key, (application.name, []))[1].append(step)
    return found


def _holders_of_year(engine: Engine, year: int) -> dict[str, str]:
    with session(engine) as s:
        applied = {a.holder_key: a.name for a in ladder.list_applications(s, year=year)}
        recommended = {d.holder_key: d.name for d in ladder.deliveries_for_year(s, year=year)}
    return {**recommended, **applied}


def _path(engine: Engine, key: str, name: str) -> Path:
    steps: list[Step] = []
    with session(engine) as s:
        for record in ladder.applications_of(s, holder_key=key):
            steps.append(
                Step(year=record.year, programme_id=record.programme_id, event="applied", detail=record.cycle_id)
            )
            won = {"winner": "won", "nomination": "nomination"}.get(record.outcome, record.outcome)
            detail = "省市直通" if record.direct else ""
            steps.append(Step(year=record.year, programme_id=record.programme_id, event=won, detail=detail))
        for delivery in ladder.list_deliveries(s, holder_key=key):
            steps.append(
                Step(
                    year=delivery.target_year or 0,
                    programme_id=delivery.target_programme,
                    event="recommended",
                    detail=" ".join(filter(None, [f"by {delivery.from_programme}:", delivery.state, delivery.reason])),
                )
            )
        for title in titles_of(s, holder_key=key):
            if title.state in ("revoked", "expired"):
                steps.append(
                    Step(
                        year=title.year,
                        programme_id=title.programme_id,
                        event=title.state,
                        detail=title.public_reason or "",
                    )
                )
    return Path(holder_key=key, name=name, steps=steps)
