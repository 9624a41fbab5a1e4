"""`awardcycle schedule ...`: the Temporal Schedule that opens a programme's cycle every edition year.

Imported at the bottom of awardcycle/cli.py, whose helpers it uses; import that module, not this one, first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from awardcycle import schedules
from awardcycle.cli import JsonFlag, fail, out, print_json, run
from awardcycle.schedules import OpeningSchedule
from awardcycle.service import Refused
from schemas.common import SHANGHAI

schedule_app = typer.Typer(
    help="Schedules that open a programme's cycle on its opening date, every edition year.", no_args_is_help=True
)

NoteOption = Annotated[str | None, typer.Option(help="why; kept on the schedule")]


def _when(instant: datetime) -> str:
    return f"{instant.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}"


def _show(schedule: OpeningSchedule) -> None:
    state = "[yellow]paused[/yellow]" if schedule.paused else "[green]active[/green]"
    out.print(f"[bold]{schedule.schedule_id}[/bold] {state} {schedule.mode}: {schedule.spec}", highlight=False)
    if schedule.note:
        out.print(f"  note: {schedule.note}", highlight=False)
    if schedule.next_action_times and not schedule.paused:
        shown = ", ".join(_when(t) for t in schedule.next_action_times[:3])
        out.print(f"  next (Asia/Shanghai): {shown}", highlight=False)
    for action in schedule.recent_actions[-5:]:
        result = action.result
        outcome = f"{result.year}: {result.reason}" if result else action.status
        out.print(f"  {_when(action.scheduled_at)} {action.workflow_id} → {outcome}", highlight=False)


@schedule_app.command("create")
def schedule_create(
    programme: str,
    rehearsal_interval: Annotated[
        float | None,
        typer.Option(help="rehearsal: real SECONDS per edition year, instead of the opening date every year"),
    ] = None,
    first_year: Annotated[
        int | None, typer.Option(help="the first edition year opened (default: the next edition year)")
    ] = None,
    day_seconds: Annotated[
        float | None, typer.Option(help="rehearsal: real seconds per cycle day of the cycles it opens")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create the schedule `open-PROGRAMME` that opens the programme's cycle every edition year."""
    try:  # checked before any server is reached: a refusal creates nothing
        schedules.plan_schedule(
            programme, rehearsal_interval=rehearsal_interval, first_year=first_year, day_seconds=day_seconds
        )
    except Refused as refusal:
        fail(str(refusal))
    created = run(
        lambda client: schedules.create_schedule(
            client, programme, rehearsal_interval=rehearsal_interval, first_year=first_year, day_seconds=day_seconds
        )
    )
    if as_json:
        print_json(created)
    else:
        out.print(f"created {created.schedule_id}", highlight=False)
        _show(created)


@schedule_app.command("list")
def schedule_list(as_json: JsonFlag = False) -> None:
    """The opening schedules: programme, paused or not, next openings and what recent openings did."""
    found = run(schedules.list_schedules)
    if as_json:
        print_json([s.model_dump(mode="json") for s in found])
        return
    if not found:
        out.print("no opening schedules")
        return
    table = Table("schedule", "programme", "paused", "next opening", "recent openings")
    for s in found:
        recent = [f"{a.result.year} {a.result.reason}" if a.result else a.status for a in s.recent_actions[-3:]]
        upcoming = _when(s.next_action_times[0]) if s.next_action_times and not s.paused else ""
        table.add_row(s.schedule_id, s.programme_id, "yes" if s.paused else "no", upcoming, "\n".join(recent))
    out.print(table)


@schedule_app.command("pause")
def schedule_pause(schedule_id: str, note: NoteOption = None, as_json: JsonFlag = False) -> None:
    """Pause a schedule: no opening starts until it is resumed (missed ones are not made up)."""
    paused = run(lambda client: schedules.pause(client, schedule_id, note))
    print_json(paused) if as_json else _show(paused)


@schedule_app.command("resume")
def schedule_resume(schedule_id: str, note: NoteOption = None, as_json: JsonFlag = False) -> None:
    """Resume a paused schedule."""
    resumed = run(lambda client: schedules.resume(client, schedule_id, note))
    print_json(resumed) if as_json else _show(resumed)


@schedule_app.command("delete")
def schedule_delete(schedule_id: str, as_json: JsonFlag = False) -> None:
    """Delete a schedule; the cycles it opened carry on."""
    deleted = run(lambda client: schedules.delete(client, schedule_id))
    print_json(deleted) if as_json else out.print(f"deleted {deleted.schedule_id}", highlight=False)
