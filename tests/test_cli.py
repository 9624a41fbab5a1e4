"""The command's refusals that need no server: one line on stderr, a non-zero exit, nothing printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port


def awardcycle(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"AWARDCYCLE_HOME": str(home), "AWARDCYCLE_TEMPORAL_PORT": str(free_port()), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "awardcycle", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_programmes_as_json(tmp_path: Path) -> None:
    listed = awardcycle("programmes", "list", "--json", home=tmp_path)
    assert listed.returncode == 0
    assert "quancheng-haopin" in {p["id"] for p in json.loads(listed.stdout)}
    shown = json.loads(awardcycle("programmes", "show", "quancheng-haopin", "--json", home=tmp_path).stdout)
    assert len(shown["conditions"]) == 7 and set(shown["conditions"][0]) == {"id", "text"}


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("cycle", "start", "no-such-award", "--year", "2026"), "unknown programme 'no-such-award'"),
        (("cycle", "start", "qingdao-mayor-quality-award", "--year", "2027"), "--holidays FILE"),
        (("cycle", "start", "china-quality-award", "--year", "2026"), "holds no edition in 2026"),
        (("cycle", "start", "qingdao-mayor-quality-award", "--year", "2026", "--day-seconds", "-1"), "positive"),
        (("programmes", "show", "no-such-award"), "unknown programme"),
        (("cycle", "status", "no-such-cycle"), "cannot reach Temporal"),
    ],
)
def test_refusals(tmp_path: Path, args: tuple[str, ...], reason: str) -> None:
    result = awardcycle(*args, home=tmp_path)
    assert result.returncode != 0
    assert result.stdout == ""
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_malformed_and_incomplete_application_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "半个文件', encoding="utf-8")
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text('{"applicant_kind": "organisation", "name": "某公司"}', encoding="utf-8")
    for path, reason in ((broken, "broken.json: "), (incomplete, "incomplete.json: ")):
        result = awardcycle("apply", "some-cycle", "--file", str(path), home=tmp_path)
        assert result.returncode != 0 and reason in result.stderr


def test_bad_history_files_are_refused(tmp_path: Path) -> None:
    recorded = next((Path(__file__).parent / "histories").glob("*.notice.json"))
    truncated = tmp_path / recorded.name
    truncated.write_text(recorded.read_text(encoding="utf-8")[:-2000], encoding="utf-8")
    not_json = tmp_path / "not-json.json"
    not_json.write_text("这不是 JSON", encoding="utf-8")
    for path in (not_json, truncated):
        result = awardcycle("audit", "replay", "--file", str(path), home=tmp_path)
        assert result.returncode != 0 and path.name in result.stderr, result.stderr
    replayed = awardcycle("audit", "replay", "--file", str(recorded), "--json", home=tmp_path)
    assert replayed.returncode == 0 and json.loads(replayed.stdout)["failed"] == 0, replayed.stderr
