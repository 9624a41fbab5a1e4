"""The `awardcycle` command."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError

from awardcycle import service
from awardcycle.acts import ACTS
from awardcycle.service import Refused
from awardcycle.settings import Settings, get_settings
from awardcycle.simulation import Player, Simulator
from awardcycle.temporal_client import connect
from programmes import CatalogueError, get_programme, load_catalogue
from schemas.application import ApplicationForm
from schemas.calendar import CalendarSpec
from schemas.common import Actor, Channel, Role
from schemas.cycle import CycleStatus, GovernmentApproval
from schemas.holiday_file import HolidayFileError, load_holiday_file

T = TypeVar("T")

app = typer.Typer(help="Shandong quality awards and brands as durable Temporal workflows.", no_args_is_help=True)
programmes_app = typer.Typer(help="The programme catalogue.", no_args_is_help=True)
cycle_app = typer.Typer(help="Editions of a programme.", no_args_is_help=True)
app.add_typer(programmes_app, name="programmes")
app.add_typer(cycle_app, name="cycle")
audit_app = typer.Typer(help="Replay and read the recorded histories.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output only")]


def fail(reason: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {reason}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def run(work: Callable[[Client], Awaitable[T]]) -> T:
    """Connect to Temporal, run the work, and turn every refusal into a one-line error."""

    async def main() -> T:
        settings = get_settings()
        try:
            client = await connect(settings)
        except RuntimeError as error:
            reason = str(error).split(":")[0]
            fail(f"cannot reach Temporal at {settings.temporal_target} ({reason}); is `awardcycle up` running?")
        return await work(client)

    try:
        return asyncio.run(main())
    except Refused as refusal:
        fail(str(refusal))
    except CatalogueError as error:
        fail(str(error))
    except RPCError as error:
        fail(f"Temporal: {error.message}")


def store() -> Engine:
    """The configured store, with its tables (a fresh state directory has none yet)."""
    from store.db import create_all, make_engine

    engine = make_engine(get_settings())
    create_all(engine)
    return engine


def actor(role: Role, identity: str) -> Actor:
    return Actor(role=role, identity=identity, channel=Channel.CLI)


def parse_actor(value: str) -> Actor:
    role, _, identity = value.partition(":")
    try:
        return actor(Role(role), identity or role)
    except ValueError:
        fail(f"--as takes ROLE:IDENTITY with ROLE one of {', '.join(r.value for r in Role)}; got {value!r}")


def read_model(path: Path, model: type[BaseModel]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"{path}: cannot be read ({error})")
    try:
        return model.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        fail(f"{path}: {where}: {first['msg']}{more}")


# Programmes


@programmes_app.command("list")
def programmes_list(as_json: JsonFlag = False) -> None:
    """The programmes in the catalogue."""
    try:
        catalogue = load_catalogue()
    except CatalogueError as error:
        fail(str(error))
    if as_json:
        fields = {"id", "name_zh", "name_en", "level", "every_years", "feeds"}
        print_json([p.model_dump(mode="json", include=fields) for p in catalogue.values()])
        return
    table = Table("id", "名称", "level", "feeds")
    for p in catalogue.values():
        table.add_row(p.id, p.name_zh, p.level.value, ", ".join(f.programme for f in p.feeds))
    out.print(table)


@programmes_app.command("show")
def programmes_show(programme: str, as_json: JsonFlag = False) -> None:
    """One programme: conditions, quotas, stages, rubric and roster."""
    try:
        found = get_programme(programme)
    except CatalogueError as error:
        fail(str(error))
    if as_json:
        print_json(found)
        return
    out.print(f"[bold]{found.name_zh}[/bold] ({found.name_en}), {found.level.value}, opens {found.opening}")
    for stage in found.stages:
        length = f"{stage.duration.days} {stage.duration.unit.value} days" if stage.duration else ""
        out.print(f"  {stage.kind.value:15} {stage.name_zh} {length}")
    out.print(f"quotas: {found.quotas.winners} winners, {found.quotas.nominations} nominations")
    for condition in found.conditions:
        out.print(f"  [{condition.id}] {condition.text}")


# Cycles


@cycle_app.command("start")
def cycle_start(
    programme: str,
    year: Annotated[int, typer.Option(help="the edition's year")],
    day_seconds: Annotated[
        float | None,
        typer.Option(help="rehearsal: real seconds per cycle day; the clock starts on the opening date"),
    ] = None,
    holidays: Annotated[
        list[Path] | None,
        typer.Option(help="a year's holiday calendar (TOML or JSON), for years the library lacks"),
    ] = None,
    cycle_id: Annotated[str | None, typer.Option(help="override the default id PROGRAMME-YEAR")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start an edition of a programme."""
    if day_seconds is not None and day_seconds <= 0:
        fail("--day-seconds must be positive")
    try:
        found = get_programme(programme)
        supplied = [load_holiday_file(path) for path in holidays or []]
    except (CatalogueError, HolidayFileError) as error:
        fail(str(error))
    calendar = CalendarSpec(supplied=supplied)
    try:
        service.check_calendar(found, year, calendar, rehearsal=day_seconds is not None)
    except Refused as refusal:
        fail(str(refusal))
    started = run(
        lambda client: service.start_cycle(
            client, found, year, day_seconds=day_seconds, calendar=calendar, cycle_id=cycle_id
        )
    )
    if as_json:
        print_json({"cycle_id": started})
    else:
        out.print(f"started {started}")


def _status_table(status: CycleStatus) -> Table:
    table = Table("application", "name", "state", "score", "final", "outcome", "waiting for")
    for a in status.applications:
        p = a.progress
        table.add_row(
            a.application_id.rsplit(".", 1)[-1],
            a.name,
            p.state.value,
            f"{p.expert_score:.1f}" if p.expert_score is not None else "",
            f"{p.final_score:.1f}" if p.final_score is not None else "",
            p.outcome.value if p.outcome else "",
            ", ".join(p.waiting_for),
        )
    return table


@cycle_app.command("status")
def cycle_status(cycle_id: str, as_json: JsonFlag = False) -> None:
    """Stage, deadlines, each application's state, score and outcome, and the results."""
    from store import queries
    from store.db import session

    status = run(lambda client: service.cycle_status(client, cycle_id))
    with session(store()) as db:
        columns = {"message_id", "purpose", "recipient", "attempts", "last_error"}
        undelivered = [
            m.model_dump(include=columns) for m in queries.failed_messages(db, workflow_prefix=f"{cycle_id}.")
        ]
    if as_json:
        print_json({**status.model_dump(mode="json"), "undelivered": undelivered})
        return
    stage = status.stage.value if status.stage else ("completed" if status.completed else "closing")
    deadline = f" until {status.stage_deadline:%Y-%m-%d %H:%M}" if status.stage_deadline else ""
    out.print(f"[bold]{status.cycle_id}[/bold] {status.programme_name_zh} {status.year}: {stage}{deadline}")
    out.print(f"cycle time {status.cycle_time:%Y-%m-%d %H:%M %Z}")
    out.print(_status_table(status))
    for award in status.awards:
        out.print(f"  {award.award.value:10} {award.name} {award.final_score}")
    if status.recommended:
        out.print(f"推荐对象 (recommended to this cycle): {len(status.recommended)}")
        for entry in status.recommended:
            applied = entry.application_id or "not applied yet"
            out.print(f"  {entry.applicant.name} by {entry.from_cycle} ({entry.applicant.award}): {applied}")
    for delivery in status.deliveries:
        where = delivery.target_cycle or f"{delivery.target_programme} {delivery.target_year}"
        reason = f": {delivery.reason}" if delivery.reason else ""
        out.print(f"  → {delivery.name} to {where}: {delivery.state.value}{reason}")
    if undelivered:
        out.print(f"[red]未送达邮件 {len(undelivered)} 封 (undelivered, still retried with backoff):[/red]")
        for message in undelivered:
            out.print(f"  {message['message_id']} → {message['recipient']}: {message['last_error']}")


@cycle_app.command("list")
def cycle_list(as_json: JsonFlag = False) -> None:
    """All cycles the store knows."""
    from store import queries
    from store.db import session

    with session(store()) as db:
        columns = ("cycle_id", "programme_id", "year", "stage", "completed")
        rows = [r.model_dump(include=set(columns)) for r in queries.list_cycles(db)]
    if as_json:
        print_json(rows)
        return
    table = Table("cycle", "programme", "year", "stage", "completed")
    for row in rows:
        table.add_row(*(str(row[column]) for column in columns))
    out.print(table)


@cycle_app.command("extend")
def cycle_extend(
    cycle_id: str,
    days: Annotated[int, typer.Option(help="working days to add to the open stage's deadline")],
    reason: Annotated[str, typer.Option(help="why; kept in the history")],
    by: Annotated[str, typer.Option("--as", help="the coordinator's identity")] = "coordinator",
    as_json: JsonFlag = False,
) -> None:
    """Extend the deadline of the open stage."""
    payload = {"actor": actor(Role.COORDINATOR, by), "working_days": days, "reason": reason}
    record = run(
        lambda client: service.perform(client, cycle_id, "extend_deadline", _payload("extend_deadline", payload))
    )
    print_json(record) if as_json else out.print(f"extended: {record.model_dump(mode='json')}")


@cycle_app.command("approve")
def cycle_approve(
    cycle_id: str,
    document_number: Annotated[str, typer.Option(help="the government's document number")],
    approved_on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    by: Annotated[str, typer.Option("--as", help="the coordinator's identity")] = "coordinator",
) -> None:
    """Record the government's approval of the list."""
    try:
        day = date.fromisoformat(approved_on)
    except ValueError:
        fail(f"--date takes YYYY-MM-DD, not {approved_on!r}")
    approval = GovernmentApproval(actor=actor(Role.COORDINATOR, by), document_number=document_number, approved_on=day)
    run(lambda client: service.perform(client, cycle_id, "record_approval", approval))
    out.print(f"approval {document_number} recorded")


def _payload(act: str, data: dict[str, Any]) -> BaseModel:
    try:
        return ACTS[act].input.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")


# Applications and acts


@app.command("apply")
def apply(
    cycle_id: str,
    file: Annotated[Path, typer.Option("--file", help="the application file (JSON)")],
    as_json: JsonFlag = False,
) -> None:
    """Submit an application to a cycle."""
    form: ApplicationForm = read_model(file, ApplicationForm)
    applicant = actor(Role.APPLICANT, form.contact_email)
    accepted = run(lambda client: service.submit_application(client, cycle_id, form, applicant))
    if as_json:
        print_json({"application_id": accepted.application_id, "received_at": accepted.received_at.isoformat()})
    else:
        out.print(f"received {accepted.application_id}")


@app.command("act")
def act(
    workflow_id: str,
    act_name: Annotated[str, typer.Argument(metavar="ACT", help=f"one of: {', '.join(ACTS)}")],
    by: Annotated[str, typer.Option("--as", help="ROLE:IDENTITY, e.g. expert:qdm-01 or coordinator:wang")],
    data: Annotated[Path | None, typer.Option("--data", help="JSON file with the act's fields (without actor)")] = None,
    paper: Annotated[bool, typer.Option(help="record an answer received on paper (coordinator)")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Perform a human act (scores, decisions, answers) on a workflow."""
    if act_name not in ACTS:
        fail(f"unknown act {act_name!r}; known: {', '.join(ACTS)}")
    who = parse_actor(by)
    if paper:
        who = who.model_copy(update={"channel": Channel.PAPER})
    fields: dict[str, Any] = {}
    if data is not None:
        try:
            fields = json.loads(data.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            fail(f"{data}: not a readable JSON file ({error})")
        if not isinstance(fields, dict):
            fail(f"{data}: must hold a JSON object")
    payload = _payload(act_name, {**fields, "actor": who.model_dump()})
    result = run(lambda client: service.perform(client, workflow_id, act_name, payload))
    print_json(result) if as_json else out.print(result.model_dump(mode="json"))


@app.command("simulate")
def simulate(
    cycle_id: str,
    seed: Annotated[int, typer.Option(help="seed for the simulated scores")] = 0,
    departments: Annotated[bool, typer.Option(help="also answer for the departments")] = False,
) -> None:
    """Play the secretariat, experts, on-site teams and coordinator of a rehearsal until it completes."""

    async def play(client: Client) -> CycleStatus:
        status = await service.cycle_status(client, cycle_id)
        player = Player(programme=get_programme(status.programme_id), seed=seed, departments=departments)
        # A poll every quarter of a cycle day: acts land in the stage they belong to.
        interval = max(0.2, min(2.0, (status.day_seconds or 8.0) / 4))
        shown: list[str] = []

        def progress(current: CycleStatus) -> None:
            stage = current.stage.value if current.stage else "completed"
            if not shown or shown[-1] != stage:
                shown.append(stage)
                err.print(f"{current.cycle_time:%Y-%m-%d} {stage}", highlight=False)

        async def pause(_: CycleStatus) -> None:
            await asyncio.sleep(interval)

        simulator = Simulator(client, cycle_id, player, pause, on_status=progress)
        final = await simulator.run()
        err.print(f"done: {simulator.acts} acts", highlight=False)
        return final

    final = run(play)
    out.print(_status_table(final))


# Audit


@audit_app.command("replay")
def audit_replay(
    cycle: Annotated[str | None, typer.Option("--cycle", help="every workflow of a cycle, from the server")] = None,
    workflow_id: Annotated[str | None, typer.Option(help="one workflow, from the server")] = None,
    archive: Annotated[bool, typer.Option("--archive", help="the histories archived in the store")] = False,
    file: Annotated[list[Path] | None, typer.Option("--file", help="a history JSON file")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replay histories with the current workflow code; exit non-zero on any divergence."""
    from rich.progress import Progress

    from awardcycle.archive import ArchiveTampered, HistoryFileError, load_archived, verify_file
    from awardcycle.audit import cycle_histories, replay_all
    from worker import WORKFLOWS

    if sum(bool(x) for x in (cycle and not archive, workflow_id, archive, file)) != 1:
        fail("give one of --cycle ID, --workflow-id ID, --archive [--cycle ID], --file F")
    engine = store()
    try:
        if archive:
            histories = [a.history for a in load_archived(engine, cycle_id=cycle)]
        elif file:
            histories = [verify_file(path, engine) for path in file]
        elif cycle:
            histories = run(lambda client: cycle_histories(client, cycle))
        else:
            one = workflow_id or ""
            histories = [run(lambda client: client.get_workflow_handle(one).fetch_history())]
    except (ArchiveTampered, HistoryFileError) as error:
        fail(str(error))
    if not histories:
        fail("no histories to replay")
    with Progress(console=err, transient=True, disable=as_json) as progress:
        task = progress.add_task("replaying", total=len(histories))
        outcomes, rate = asyncio.run(replay_all(histories, WORKFLOWS, lambda: progress.advance(task)))
    failed = [o for o in outcomes if o.error]
    if as_json:
        print_json(
            {
                "replayed": len(outcomes),
                "failed": len(failed),
                "per_second": round(rate, 1),
                "workflows": [o.__dict__ for o in outcomes],
            }
        )
    else:
        for outcome in outcomes:
            mark = "[green]ok[/green]" if outcome.error is None else f"[red]FAILED[/red] {outcome.error}"
            out.print(f"{outcome.workflow_id} ({outcome.workflow_type}) {mark}", highlight=False)
        out.print(f"{len(outcomes)} replayed, {len(failed)} failed, {rate:.1f} histories/s")
    if failed:
        raise typer.Exit(1)


@audit_app.command("timeline")
def audit_timeline(workflow_id: str, as_json: JsonFlag = False) -> None:
    """Who did what, when and through which channel, decoded from the history."""
    from awardcycle.timeline import fetch_timeline, render_text

    timeline = run(lambda client: fetch_timeline(client, workflow_id))
    if as_json:
        print_json(timeline)
    else:
        sys.stdout.write(render_text(timeline) + "\n")


@audit_app.command("verify")
def audit_verify(cycle: Annotated[str, typer.Option("--cycle", help="the cycle to reconcile")]) -> None:
    """Check that the SQL read model agrees with the cycle's history; name each difference."""
    from awardcycle.audit import cycle_result, differences

    history = run(lambda client: client.get_workflow_handle(cycle).fetch_history())
    result = cycle_result(history)
    if result is None:
        fail(f"cycle {cycle} has not completed; there is no result to reconcile yet")
    found = differences(store(), cycle, result)
    for difference in found:
        out.print(f"[red]differs[/red] {difference}", highlight=False)
    if found:
        raise typer.Exit(1)
    out.print(f"{cycle}: the read model agrees with the history ({len(result.awards)} awards)")


@app.command("worker")
def worker() -> None:
    """Run a worker against the configured Temporal (to scale out beside `up`)."""
    from worker import main

    asyncio.run(main())


@app.command("up")
def up() -> None:
    """Start the embedded stack: Temporal dev server, mail sink, worker and web app."""
    from awardcycle.stack import Urls, run_stack

    settings: Settings = get_settings()

    def ready(urls: Urls) -> None:
        out.print("[bold green]awardcycle is up[/bold green]  (Ctrl-C stops everything)")
        out.print(f"  web app      {urls.web}")
        out.print(f"  API docs     {urls.api_docs}  (OpenAPI: {urls.web}/openapi.json)")
        out.print(f"  Temporal     {urls.temporal}")
        if urls.temporal_ui:
            out.print(f"  Temporal UI  {urls.temporal_ui}")
        out.print(f"  SMTP         {urls.smtp}")
        if urls.mail:
            out.print(f"  mail folder  {urls.mail}  (read it at {urls.web}/dev/mail)")
        out.print(f"  public notice {urls.web}/notices/CYCLE_ID")
        out.print(f"  state        {settings.home.resolve()}")

    try:
        asyncio.run(run_stack(settings, ready))
    except (OSError, RuntimeError) as error:
        fail(str(error))
    out.print("stopped")


ladder_app = typer.Typer(help="The climb through the tiers, year after year.", no_args_is_help=True)
app.add_typer(ladder_app, name="ladder")


@ladder_app.command("show")
def ladder_show(
    year: Annotated[int, typer.Option(help="the year to show")],
    as_json: JsonFlag = False,
) -> None:
    """Per tier, the year's cycles and their stage; per applicant, its path through tiers and years."""
    from awardcycle.ladder import ladder_view

    engine = store()
    view = run(lambda client: ladder_view(client, engine, year))
    if as_json:
        print_json(view)
        return
    names = {p.id: p.name_zh for p in load_catalogue().values()}
    for tier in view.tiers:
        table = Table("cycle", "programme", "stage", title=f"{year} · {tier.level.value}")
        for cycle in tier.cycles:
            stage = "completed" if cycle.completed else cycle.stage
            table.add_row(cycle.cycle_id, cycle.programme_name_zh, stage)
        out.print(table)
    for path in view.paths:
        steps = " → ".join(
            f"{s.year} {names.get(s.programme_id, s.programme_id)} {s.event}{f' ({s.detail})' if s.detail else ''}"
            for s in path.steps
        )
        out.print(f"[bold]{path.name}[/bold] [dim]{path.holder_key}[/dim]\n  {steps}")


from awardcycle.cli_schedule import schedule_app  # noqa: E402  (it imports the helpers above)

app.add_typer(schedule_app, name="schedule")


def main() -> None:
    """Entry point: exits without interpreter teardown, which can crash once the Temporal client's
    Rust threads exist (temporalio/sdk-python#300), turning a successful command into exit 134."""
    try:
        app(prog_name="awardcycle")
        code: object = 0
    except SystemExit as exit_:
        code = exit_.code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))
