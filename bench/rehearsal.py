"""The 30-applicant rehearsal of the Qingdao Mayor Quality Award, driven only through the documented
commands against a running stack (`make run` in another terminal), with its figures printed at the end.

It adds a coordinator of its own on the stack's store, logs in as that account (keeping the token in a
temporary config directory, not yours), and disables the account when done.

    .venv/bin/python bench/rehearsal.py [--day-seconds 1] [--write-files]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from awardcycle import samples
from awardcycle.temporal_client import connect
from config.settings import get_settings
from programmes import get_programme
from schemas.application import ApplicationForm

PROGRAMME = "qingdao-mayor-quality-award"
FILES = Path(__file__).parent.parent / "examples" / "qingdao-2026"
CLERKS = 4


def write_files() -> None:
    """27 valid applications and 3 invalid in different ways."""
    programme = get_programme(PROGRAMME)
    forms = samples.applications(programme, 30, seed=2026)
    first = forms[0]
    code = first.credit_code or ""
    forms[27] = forms[27].model_copy(update={"credit_code": code[:-1] + ("0" if code[-1] != "0" else "1")})
    forms[28] = forms[28].model_copy(update={"credit_code": code})  # the same organisation applies twice
    forms[29] = forms[29].model_copy(update={"conditions": forms[29].conditions[:-2]})
    FILES.mkdir(parents=True, exist_ok=True)
    for index, form in enumerate(forms, start=1):
        text = json.dumps(form.model_dump(mode="json"), ensure_ascii=False, indent=2)
        (FILES / f"application-{index:02d}.json").write_text(text + "\n", encoding="utf-8")


def awardcycle(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awardcycle", *args],
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
    )


def log_in_as_new_coordinator() -> str:
    """A coordinator and secretariat of the programme, added on the store and logged in; its username."""
    username = f"bench-{uuid.uuid4().hex[:6]}"
    password = secrets.token_urlsafe(16)
    grants = ("--grant", f"coordinator@{PROGRAMME}", "--grant", f"secretariat@{PROGRAMME}")
    added = awardcycle(
        "users", "add", username, "--name", "演练协调员", "--email", f"{username}@example.cn", *grants,
        "--password-stdin", stdin=password,
    )  # fmt: skip
    if added.returncode:
        sys.exit(f"users add failed: {added.stderr.strip()}")
    logged_in = awardcycle("login", username, "--password-stdin", stdin=password)
    if logged_in.returncode:
        sys.exit(f"login failed: {logged_in.stderr.strip()}")
    return username


async def history_events(workflow_id: str) -> int:
    client = await connect(get_settings())
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--day-seconds", type=float, default=1.0)
    parser.add_argument("--write-files", action="store_true", help="regenerate examples/qingdao-2026 first")
    options = parser.parse_args()
    if options.write_files:
        write_files()
    with tempfile.TemporaryDirectory(prefix="awardcycle-bench-") as config:
        os.environ["XDG_CONFIG_HOME"] = config  # `awardcycle login` here never replaces the token of whoever runs it
        username = log_in_as_new_coordinator()
        try:
            rehearse(options.day_seconds)
        finally:
            awardcycle("logout")
            awardcycle("users", "disable", username)


def enter(cycle_id: str, path: Path) -> str | None:
    """Why one application file was refused, or None once it is received."""
    ApplicationForm.model_validate_json(path.read_text(encoding="utf-8"))
    applied = awardcycle("apply", cycle_id, "--file", str(path), "--json")
    return f"{path.name}: {applied.stderr.strip()}" if applied.returncode else None


def status_with_all_applications(cycle_id: str) -> dict[str, Any]:
    """`cycle status --json`, its pages of applications joined into one list."""
    applications: list[dict[str, Any]] = []
    page = 1
    while True:
        shown = awardcycle("cycle", "status", cycle_id, "--json", "--limit", "500", "--page", str(page))
        if shown.returncode:
            sys.exit(f"cycle status failed: {shown.stderr.strip()}")
        status: dict[str, Any] = json.loads(shown.stdout)
        applications += status["applications"]
        if not status["applications"] or len(applications) >= status["total"]:
            return {**status, "applications": applications}
        page += 1


def rehearse(day_seconds: float) -> None:
    started = time.monotonic()
    cycle_id = f"{PROGRAMME}-2026-{uuid.uuid4().hex[:6]}"
    result = awardcycle(
        "cycle", "start", PROGRAMME, "--year", "2026", "--day-seconds", str(day_seconds),
        "--cycle-id", cycle_id, "--json",
    )  # fmt: skip
    if result.returncode:
        sys.exit(f"cycle start failed: {result.stderr.strip()}")
    # Several clerks at once: one after another, 30 CLI runs can outlast the 20-working-day call.
    with ThreadPoolExecutor(max_workers=CLERKS) as clerks:
        entered = clerks.map(lambda path: enter(cycle_id, path), sorted(FILES.glob("*.json")))
        refused = [refusal for refusal in entered if refusal]
    print(f"applications: {30 - len(refused)} accepted, {len(refused)} refused")
    for line in refused:
        print(f"  {line}")
    simulated = awardcycle("simulate", cycle_id, "--departments", "--seed", "1")
    if simulated.returncode:
        sys.exit(f"simulate failed: {simulated.stderr.strip()}")
    elapsed = time.monotonic() - started
    status = status_with_all_applications(cycle_id)
    outcomes: dict[str, int] = {}
    for application in status["applications"]:
        outcome = application["outcome"]
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    quotas = get_programme(PROGRAMME).quotas
    winners = sum(1 for a in status["awards"] if a["award"] == "winner")
    nominations = sum(1 for a in status["awards"] if a["award"] == "nomination")
    first_application = status["applications"][0]["application_id"]
    print(f"cycle {cycle_id}: completed={status['completed']} in {elapsed:.0f} s at {day_seconds} s/day")
    print(f"stages: {' → '.join(s['stage'] for s in status['stages'])}")
    print(f"outcomes: {outcomes}")
    print(f"winners {winners}/{quotas.winners}, nominations {nominations}/{quotas.nominations}")
    print(f"recommended to: {sorted({r['programme'] for r in status['recommendations']})}")
    print(f"history events: cycle {asyncio.run(history_events(cycle_id))}, ", end="")
    print(f"one application {asyncio.run(history_events(first_application))}")


if __name__ == "__main__":
    main()
