"""Figures the benches print: history sizes per run, workflow-task latency, peak memory of processes."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, TimeoutType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

from activities.chain import fetch_chain
from config.settings import Settings

FAILED_TASKS = {EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT}
# The SDK warns of a workflow task that takes longer; the issue asks for none over a second.
SLOW_TASK_SECONDS = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class HistoryFigures:
    """Every run of a set of workflows: sizes, failed tasks, and how long each workflow task took."""

    runs: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # workflow id -> (events, bytes) per run
    failed_tasks: int = 0
    failures: list[str] = field(default_factory=list)
    task_seconds: list[float] = field(default_factory=list)
    queued_seconds: list[float] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    cycle_task_seconds: list[float] = field(default_factory=list)
    bytes_by_type: dict[str, int] = field(default_factory=dict)  # over the cycle's runs
    events_by_type: Counter[int] = field(default_factory=Counter)  # over every run

    def add(self, history: WorkflowHistory, *, by_type: bool = False) -> None:
        size = len(json.dumps(history.to_json_dict()))
        self.runs.setdefault(history.workflow_id, []).append((len(history.events), size))
        scheduled = started = None
        self.events_by_type.update(event.event_type for event in history.events)
        for event in history.events:
            if by_type:
                name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
                self.bytes_by_type[name] = self.bytes_by_type.get(name, 0) + event.ByteSize()
            if event.event_type in FAILED_TASKS:
                self.failed_tasks += 1
                self.failures.append(f"{history.workflow_id}: {_why(event)}")
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                scheduled = event.event_time.ToDatetime()
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                started = event.event_time.ToDatetime()
                if scheduled is not None:
                    self.queued_seconds.append((started - scheduled).total_seconds())
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and started is not None:
                seconds = (event.event_time.ToDatetime() - started).total_seconds()
                self.task_seconds.append(seconds)
                if by_type:
                    self.cycle_task_seconds.append(seconds)
                self.slowest = max(self.slowest, (seconds, history.workflow_id))
                scheduled = started = None

    def of(self, workflow_ids: Iterable[str]) -> list[tuple[int, int]]:
        return [run for workflow_id in workflow_ids for run in self.runs.get(workflow_id, [])]

    def percentile(self, share: float, seconds: list[float] | None = None) -> float:
        ordered = sorted(self.task_seconds if seconds is None else seconds)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0

    def report(self, label: str, cycle_ids: list[str], applications: int) -> list[str]:
        cycle_runs = self.of(cycle_ids)
        every = [run for runs in self.runs.values() for run in runs]
        events, size = sum(e for e, _ in every), sum(b for _, b in every)
        cycle_events = [e for e, _ in cycle_runs]
        slow = sum(s > SLOW_TASK_SECONDS for s in self.task_seconds)
        per = max(applications, 1)
        heaviest = sorted(self.bytes_by_type.items(), key=lambda kv: -kv[1])[:4]

        def queued(share: float) -> float:
            return self.percentile(share, self.queued_seconds)

        return [
            f"{label}: {len(self.runs)} workflows, {len(every)} runs, {events} events, {size / 1e6:.1f} MB",
            f"  cycle runs: {len(cycle_runs)}; events per run max {max(cycle_events)}, "
            f"mean {statistics.mean(cycle_events):.0f}; MB per run max {max(b for _, b in cycle_runs) / 1e6:.2f}",
            f"  per application: {events / per:.1f} events, {size / per / 1e3:.1f} kB (all workflows); "
            f"cycle only {sum(cycle_events) / per:.1f} events",
            f"  largest run of any workflow: {max(e for e, _ in every)} events",
            f"  workflow tasks: {len(self.task_seconds)}; p50 {self.percentile(0.5) * 1000:.0f} ms, "
            f"p99 {self.percentile(0.99) * 1000:.0f} ms, max {self.slowest[0] * 1000:.0f} ms ({self.slowest[1]}); "
            f"over {SLOW_TASK_SECONDS:.0f} s: {slow}; failed or timed out: {self.failed_tasks}",
            f"  the cycle's own tasks: p99 {self.percentile(0.99, self.cycle_task_seconds) * 1000:.0f} ms, "
            f"max {max(self.cycle_task_seconds, default=0) * 1000:.0f} ms",
            f"  waiting for a worker (scheduled to started): p50 {queued(0.5) * 1000:.0f} ms, "
            f"p99 {queued(0.99) * 1000:.0f} ms",
            "  cycle bytes by event type: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in heaviest),
            *(f"  {count} × {why}" for why, count in Counter(line.split(": ", 1)[1] for line in self.failures).items()),
        ]


def _why(event: HistoryEvent) -> str:
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        kind = event.workflow_task_timed_out_event_attributes.timeout_type
        return f"timed out ({TimeoutType.Name(kind)})"
    failed = event.workflow_task_failed_event_attributes
    return f"failed ({WorkflowTaskFailedCause.Name(failed.cause)}): {failed.failure.message[:200]}"


async def collect(client: Client, workflow_ids: Iterable[str], figures: HistoryFigures | None = None) -> HistoryFigures:
    figures = figures or HistoryFigures()
    for index, workflow_id in enumerate(workflow_ids):
        for run in await fetch_chain(client, workflow_id):
            figures.add(run, by_type=index == 0)  # the first id is the cycle's
    return figures


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay bound until every port is chosen."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def bench_settings(home: Path, **given: Any) -> Settings:
    """A bench's own embedded stack under `home` on free ports, whatever AWARDCYCLE_* the shell or a .env holds."""
    web, temporal, temporal_ui, smtp = free_ports(4)
    defaults: dict[str, Any] = {
        "web_port": web,
        "temporal_port": temporal,
        "temporal_ui_port": temporal_ui,
        "smtp_port": smtp,
        "temporal_address": None,
        "temporal_namespace": "default",
        "smtp_host": None,
        "database_url": None,
        "public_base_url": f"http://127.0.0.1:{web}",
    }
    return Settings(home=home, _env_file=None, **{**defaults, **given})


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU time of a process ("self" for this one), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory: of this process (and its waited-for children), or of another by its /proc entry."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
