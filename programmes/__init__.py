"""The programme catalogue: one TOML file per programme, sharing rosters and rubrics by name."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from config.settings import get_settings
from schemas.common import Model
from schemas.programme import Department, Programme, Rubric, StageKind

CATALOGUE = Path(__file__).parent

_M = TypeVar("_M", bound=BaseModel)

# tomllib appends the position to its message; we report it as the "field" of a syntax error.
_POSITION = re.compile(r" \(at (line \d+, column \d+|end of document)\)$")


class CatalogueError(Exception):
    """A catalogue file that cannot be used: the file, the dotted field (or line), and why."""

    def __init__(self, file: Path, field: str, reason: str) -> None:
        super().__init__(f"{_shown(file)}: {field}: {reason}")
        self.file = file
        self.field = field
        self.reason = reason


class UnknownProgrammeError(CatalogueError):
    """No programme in the catalogue has the requested id."""


class Roster(Model):
    """The departments consulted, shared by programmes as programmes/rosters/<name>.toml."""

    departments: list[Department] = Field(min_length=1)


def load_programme_file(path: Path) -> Programme:
    """One programme, with its `roster = "..."` and `rubric = "..."` references resolved."""
    data = _read(path)
    if "roster" in data:
        if "departments" in data:
            raise CatalogueError(path, "roster", "give either roster or departments, not both")
        data["departments"] = _shared(path, "roster", data.pop("roster"), Roster).departments
    if isinstance(data.get("rubric"), str):
        data["rubric"] = _shared(path, "rubric", data["rubric"], Rubric)
    programme = _validate(path, Programme, data)
    if programme.id != path.stem:
        raise CatalogueError(path, "id", f"{programme.id!r} differs from the file name {path.stem!r}")
    _check_coherent(path, programme)
    return programme


def catalogue_directory() -> Path:
    """The office's own catalogue when `AWARDCYCLE_CATALOGUE` names one, else the programmes shipped here."""
    return get_settings().catalogue or CATALOGUE


def load_catalogue(directory: Path | None = None) -> dict[str, Programme]:
    """Every programme file in the directory (default: the configured catalogue), by id."""
    directory = directory or catalogue_directory()
    catalogue = {path.stem: load_programme_file(path) for path in sorted(directory.glob("*.toml"))}
    for programme in catalogue.values():
        for index, feed in enumerate(programme.feeds):
            if feed.programme not in catalogue:
                raise CatalogueError(
                    directory / f"{programme.id}.toml",
                    f"feeds.{index}.programme",
                    f"unknown programme {feed.programme!r}; known: {', '.join(catalogue)}",
                )
        channel = programme.direct_channel
        if channel is not None and channel.from_programme not in catalogue:
            raise CatalogueError(
                directory / f"{programme.id}.toml",
                "direct_channel.from_programme",
                f"unknown programme {channel.from_programme!r}; known: {', '.join(catalogue)}",
            )
    return catalogue


def get_programme(programme_id: str, directory: Path | None = None) -> Programme:
    """One programme of the catalogue, checked against the others it feeds."""
    directory = directory or catalogue_directory()
    catalogue = load_catalogue(directory)
    if programme_id not in catalogue:
        known = ", ".join(catalogue) or "none"
        raise UnknownProgrammeError(directory, "id", f"unknown programme {programme_id!r}; known: {known}")
    return catalogue[programme_id]


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        match = _POSITION.search(str(exc))
        where = match.group(1) if match else "syntax"
        raise CatalogueError(path, where, _POSITION.sub("", str(exc))) from None
    except UnicodeDecodeError:
        raise CatalogueError(path, "encoding", "the file is not UTF-8 text") from None


def _shared(path: Path, field: str, name: object, model: type[_M]) -> _M:
    """A roster or rubric that a programme names, from the folder beside the programme file."""
    folder = path.parent / f"{field}s"
    known = sorted(p.stem for p in folder.glob("*.toml"))
    if name not in known:
        raise CatalogueError(path, field, f"unknown {field} {name!r}; known: {', '.join(known) or 'none'}")
    shared = folder / f"{name}.toml"
    return _validate(shared, model, _read(shared))


def _validate(path: Path, model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or model.__name__.lower()
        reason = first["msg"].removeprefix("Value error, ")
        if exc.error_count() > 1:
            reason += f" (and {exc.error_count() - 1} more)"
        raise CatalogueError(path, field, reason) from None


def _check_coherent(path: Path, programme: Programme) -> None:
    """Rules across sections that the schema leaves to the catalogue."""
    for field, ids in (
        ("departments", [d.id for d in programme.departments]),
        ("expert_review.pool", [e.id for e in programme.expert_review.pool]),
    ):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise CatalogueError(path, field, f"ids repeated: {', '.join(repeated)}")
    marks = {"expert_review.pass_mark": programme.expert_review.pass_mark}
    if programme.onsite_review is not None:
        marks["onsite_review.pass_mark"] = programme.onsite_review.pass_mark
    total = programme.rubric.total_points
    for field, mark in marks.items():
        if mark > total:
            raise CatalogueError(path, field, f"{mark:g} exceeds the rubric's {total} points")
    weights = programme.score_weights
    for field, weight, kind in (
        ("score_weights.onsite", weights.onsite, StageKind.ONSITE_REVIEW),
        ("score_weights.defence", weights.defence, StageKind.ORAL_DEFENCE),
    ):
        if weight and programme.stage(kind) is None:
            raise CatalogueError(path, field, f"weighs a {kind.value} stage that is not in stages")


def _shown(path: Path) -> str:
    """The path as typed from the working directory when it lies under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
