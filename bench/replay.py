"""Histories replayed per second by `replay_all`, as `awardcycle audit replay` runs it, in one process and shared.

    .venv/bin/python bench/replay.py [--copies 30] [--processes 1,2] [--directory tests/histories]

It loads the recorded runs (tests/histories unless `--directory` names another directory of the same
`<workflow id>~<run index>.json` files), repeats them `--copies` times so the processes have a few hundred
histories to share, and replays them with the current workflow code once per entry of `--processes`. Each line
shows the histories, the events they hold, the wall time and histories per second, the time to start the pool's
processes included, and how many diverged (none, with the code that recorded them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from temporalio.client import WorkflowHistory

from awardcycle.audit import replay_all
from worker import WORKFLOWS

ROOT = Path(__file__).resolve().parents[1]


def recorded(directory: Path, copies: int) -> list[WorkflowHistory]:
    sys.path.insert(0, str(ROOT))  # tests/ is not installed with the package
    from tests.replay import load

    return load(directory) * copies


async def replay(histories: list[WorkflowHistory], processes: int) -> None:
    started = time.monotonic()
    outcomes, rate = await replay_all(histories, WORKFLOWS, processes=processes)
    wall = time.monotonic() - started
    failed = sum(1 for o in outcomes if o.error)
    events = sum(len(h.events) for h in histories)
    print(
        f"processes {processes}: {len(outcomes)} histories ({events} events) in {wall:.1f} s, "
        f"{rate:.1f} histories/s, {failed} diverged",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--directory", type=Path, default=ROOT / "tests" / "histories", help="recorded runs")
    parser.add_argument("--copies", type=int, default=30, help="times to repeat the recorded runs (default 30)")
    parser.add_argument(
        "--processes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="process counts to replay with, comma-separated (default 1,2)",
    )
    options = parser.parse_args()
    histories = recorded(options.directory, options.copies)
    for processes in options.processes:
        asyncio.run(replay(histories, processes))


if __name__ == "__main__":
    main()
