"""The programme catalogue loads, holds the ladder's programmes, and names the fault in a broken file."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from stdnum.cn import uscc

from config.settings import get_settings
from programmes import (
    CATALOGUE,
    CatalogueError,
    Roster,
    UnknownProgrammeError,
    get_programme,
    load_catalogue,
    load_programme_file,
)
from schemas.programme import ApplicantKind, Level, OverduePolicy, Programme, StageKind

# Each programme's level and the programmes its winners are recommended to.
LADDER = {
    "qingdao-mayor-quality-award": (Level.CITY, ["shandong-governor-quality-award"]),
    "jinan-mayor-quality-award": (Level.CITY, ["shandong-governor-quality-award"]),
    "quancheng-haopin": (Level.CITY, ["haopin-shandong"]),
    "shandong-governor-quality-award": (Level.PROVINCE, ["china-quality-award"]),
    "haopin-shandong": (Level.PROVINCE, ["china-quality-award"]),
    "china-quality-award": (Level.NATIONAL, []),
}


@pytest.fixture(scope="module")
def catalogue() -> dict[str, Programme]:
    return load_catalogue()


def test_the_ladder_is_in_the_catalogue(catalogue: dict[str, Programme]) -> None:
    ladder = {pid: (catalogue[pid].level, [f.programme for f in catalogue[pid].feeds]) for pid in LADDER}
    assert ladder == LADDER


def test_quancheng_haopin_follows_its_evaluation_rules(catalogue: dict[str, Programme]) -> None:
    programme = catalogue["quancheng-haopin"]
    assert len(programme.conditions) == 7
    assert len(programme.rubric.groups) == 12
    assert len(programme.rubric.indicators) == 27
    assert [s.kind for s in programme.stages] == [
        StageKind.APPLICATION,
        StageKind.QUALIFICATION,
        StageKind.MATERIAL,
        StageKind.EXPERT_REVIEW,
        StageKind.ONSITE_REVIEW,
        StageKind.CONSULTATION,
        StageKind.PUBLIC_NOTICE,
        StageKind.APPROVAL,
        StageKind.ANNOUNCEMENT,
    ]


@pytest.mark.parametrize("roster", sorted((CATALOGUE / "rosters").glob("*.toml")), ids=lambda p: p.stem)
def test_every_roster_has_17_departments_at_example_addresses(roster: Path) -> None:
    departments = Roster.model_validate(tomllib.loads(roster.read_text("utf-8"))).departments
    assert len(departments) == 17
    assert len({d.id for d in departments}) == 17
    assert all(d.email.endswith(".example.cn") for d in departments)


def test_programmes_follow_the_public_rules(catalogue: dict[str, Programme]) -> None:
    governor = catalogue["shandong-governor-quality-award"]
    assert governor.notice_period.days == 5
    assert (governor.feeds[0].organisations, governor.feeds[0].individuals) == (5, 2)
    assert catalogue["haopin-shandong"].applicant_kinds == [
        ApplicantKind.ORGANISATION,
        ApplicantKind.REGIONAL_PRODUCT,
    ]
    national = catalogue["china-quality-award"]
    assert (national.quotas.winners, national.quotas.nominations) == (10, 90)
    assert {p.consultation.overdue_policy for p in catalogue.values()} == set(OverduePolicy)


def test_china_quality_award_is_biennial(catalogue: dict[str, Programme]) -> None:
    national = catalogue["china-quality-award"]
    assert [year for year in range(2021, 2028) if national.holds_edition(year)] == [2021, 2023, 2025, 2027]
    assert catalogue["quancheng-haopin"].holds_edition(2026)


def test_programmes_are_complete(catalogue: dict[str, Programme]) -> None:
    for programme in catalogue.values():
        assert 5 <= len(programme.conditions) <= 8, programme.id
        pool = programme.expert_review.pool
        assert len(pool) >= 12, programme.id
        assert all(e.email.endswith(".example.cn") for e in pool), programme.id
        conflicts = [code for e in pool for code in e.conflicts]
        assert conflicts and all(uscc.is_valid(code) for code in conflicts), programme.id


def test_get_programme_reads_one_file_or_names_the_known_ids() -> None:
    assert get_programme("quancheng-haopin") == load_programme_file(CATALOGUE / "quancheng-haopin.toml")
    with pytest.raises(UnknownProgrammeError) as caught:
        get_programme("qingdao-mayor-award")
    assert caught.value.field == "id"
    assert "unknown programme 'qingdao-mayor-award'" in caught.value.reason
    assert "qingdao-mayor-quality-award" in caught.value.reason


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A writable copy of the catalogue's data files."""
    return shutil.copytree(CATALOGUE, tmp_path / "programmes", ignore=shutil.ignore_patterns("*.py", "__pycache__"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} is no longer in {path.name}"
    path.write_text(text.replace(old, new, 1), "utf-8")


def test_an_office_catalogue_replaces_the_built_in_one(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zibo = (
        (copy / "jinan-mayor-quality-award.toml")
        .read_text("utf-8")
        .replace('id = "jinan', 'id = "zibo')
        .replace("济南", "淄博")
    )
    (copy / "zibo-mayor-quality-award.toml").write_text(zibo, "utf-8")
    (copy / "quancheng-haopin.toml").unlink()
    monkeypatch.setenv("AWARDCYCLE_CATALOGUE", str(copy))
    get_settings.cache_clear()
    try:
        catalogue = load_catalogue()
        assert "zibo-mayor-quality-award" in catalogue and "quancheng-haopin" not in catalogue
        assert get_programme("zibo-mayor-quality-award").name_zh == "淄博市市长质量奖"
        governor = next(f for f in catalogue["zibo-mayor-quality-award"].feeds)
        assert governor.programme == "shandong-governor-quality-award"
        with pytest.raises(UnknownProgrammeError, match="unknown programme 'quancheng-haopin'") as caught:
            get_programme("quancheng-haopin")
        assert caught.value.file == copy, "the error names the catalogue it looked in"
    finally:
        monkeypatch.delenv("AWARDCYCLE_CATALOGUE")
        get_settings.cache_clear()


QINGDAO = "qingdao-mayor-quality-award.toml"
RUBRIC = "rubrics/excellence-performance.toml"
JINAN = "jinan-mayor-quality-award.toml"


# Each case: the file edited, the text replaced and its replacement, then the file, field and reason
# the error must name.
@pytest.mark.parametrize(
    ("edited", "old", "new", "failing", "field", "reason"),
    [
        pytest.param(
            QINGDAO,
            "# 青岛",
            "winners = = 10\n# 青岛",
            QINGDAO,
            "line 1, column 11",
            "Invalid value",
            id="bad-toml",
        ),
        pytest.param(
            QINGDAO,
            "winners = 10",
            "winners = -1",
            QINGDAO,
            "quotas.winners",
            "greater than 0",
            id="negative-quota",
        ),
        pytest.param(
            QINGDAO,
            'publisher_zh = "青岛市市场监督管理局"\n',
            "",
            QINGDAO,
            "publisher_zh",
            "Field required",
            id="missing-field",
        ),
        pytest.param(
            RUBRIC,
            '"领导方面的结果", points = 50',
            '"领导方面的结果", points = 40',
            RUBRIC,
            "groups.6",
            "390 points, not 400",
            id="group-points",
        ),
        pytest.param(
            RUBRIC,
            "total_points = 1000",
            "total_points = 900",
            RUBRIC,
            "rubric",
            "1000 points, not 900",
            id="rubric-total",
        ),
        pytest.param(
            QINGDAO,
            'roster = "qingdao"',
            'roster = "qingdoa"',
            QINGDAO,
            "roster",
            "known: jinan, national",
            id="unknown-roster",
        ),
        pytest.param(
            QINGDAO,
            'roster = "qingdao"',
            'roster = "qingdao"\ndepartments = []',
            QINGDAO,
            "roster",
            "not both",
            id="roster-and-departments",
        ),
        pytest.param(
            QINGDAO,
            '= "shandong-governor-quality-award"',
            '= "shandong-governor-award"',
            QINGDAO,
            "feeds.0.programme",
            "unknown programme 'shandong-governor-award'",
            id="feeds-unknown",
        ),
        pytest.param(
            QINGDAO,
            'id = "qingdao-mayor-quality-award"',
            'id = "qingdao-award"',
            QINGDAO,
            "id",
            "file name",
            id="id-not-file-name",
        ),
        pytest.param(
            "rosters/qingdao.toml",
            '{ id = "hg"',
            '{ id = "fy"',
            QINGDAO,
            "departments",
            "repeated: fy",
            id="repeated-department",
        ),
        pytest.param(
            QINGDAO,
            "pass_mark = 600\npool",
            "pass_mark = 1200\npool",
            QINGDAO,
            "expert_review.pass_mark",
            "exceeds the rubric's 1000 points",
            id="pass-mark-above-rubric",
        ),
        pytest.param(
            QINGDAO,
            '  { kind = "approval", name_zh = "报市政府审定" },\n',
            "",
            QINGDAO,
            "programme",
            "stages must include approval",
            id="no-approval-stage",
        ),
        pytest.param(
            JINAN,
            "onsite = 0.3",
            "onsite = 0.2\ndefence = 0.1",
            JINAN,
            "score_weights.defence",
            "oral_defence",
            id="weight-without-stage",
        ),
    ],
)
def test_a_broken_file_names_file_field_and_reason(
    copy: Path, edited: str, old: str, new: str, failing: str, field: str, reason: str
) -> None:
    edit(copy / edited, old, new)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(copy)
    error = caught.value
    assert (error.file, error.field) == (copy / failing, field)
    assert reason in error.reason
    assert str(error) == f"{copy / failing}: {field}: {error.reason}"


def test_every_validation_error_is_counted(copy: Path) -> None:
    edit(copy / QINGDAO, "winners = 10", "winners = -1")
    edit(copy / QINGDAO, "nominations = 9", "nominations = -1")
    with pytest.raises(CatalogueError, match=r"quotas\.winners: Input should be greater than 0 \(and 1 more\)$"):
        load_programme_file(copy / QINGDAO)


def test_a_file_that_is_not_utf8_is_refused(copy: Path) -> None:
    path = copy / QINGDAO
    path.write_bytes(path.read_text("utf-8").encode("gbk"))
    with pytest.raises(CatalogueError) as caught:
        load_programme_file(path)
    assert (caught.value.file, caught.value.field) == (path, "encoding")


def test_errors_show_catalogue_paths_from_the_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CATALOGUE.parent)
    error = CatalogueError(CATALOGUE / QINGDAO, "quotas.winners", "Input should be greater than 0")
    assert str(error) == f"programmes/{QINGDAO}: quotas.winners: Input should be greater than 0"
