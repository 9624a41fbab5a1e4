"""The `awardcycle` command."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
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
from awardcycle.api_client import NOT_LOGGED_IN, ApiClient
from awardcycle.cli_token import forget_token, save_token, saved_token
from awardcycle.service import RefusalKind, Refused
from awardcycle.simulation import ApiDesk, Player, Simulator
from awardcycle.temporal_client import connect
from config.settings import Settings, get_settings
from programmes import CatalogueError, get_programme, load_catalogue
from schemas.application import ApplicationForm, ApplicationView
from schemas.calendar import CalendarSpec
from schemas.cycle import CycleOverview, CycleStatus
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
SERVER_FIELDS = frozenset({"actor", "client_address"})  # an act's fields the server sets (web/routes/acts.py)


def fail(reason: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {reason}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def _one_line(main: Coroutine[Any, Any, T]) -> T:
    """Run the work and turn every refusal into a one-line error."""
    try:
        return asyncio.run(main)
    except Refused as refusal:
        fail(str(refusal))
    except CatalogueError as error:
        fail(str(error))
    except RPCError as error:
        fail(f"Temporal: {error.message}")


def run(work: Callable[[Client], Awaitable[T]]) -> T:
    """Straight to Temporal, for the operator's commands on this machine."""

    async def main() -> T:
        settings = get_settings()
        try:
            client = await connect(settings)
        except RuntimeError as error:
            reason = str(error).split(":")[0]
            fail(f"cannot reach Temporal at {settings.temporal_target} ({reason}); is `awardcycle up` running?")
        return await work(client)

    return _one_line(main())


def current_token() -> str | None:
    """AWARDCYCLE_TOKEN if set, else the one `awardcycle login` kept for the configured API."""
    settings = get_settings()
    return settings.token.get_secret_value() if settings.token else saved_token(settings.api_url)


def api() -> ApiClient:
    """The web API as the logged-in user; without a token there is no one to act as."""
    token = current_token()
    if not token:
        fail(NOT_LOGGED_IN)
    return ApiClient(get_settings().api_url, token)


def call(work: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Through the web API, which records the logged-in user as the actor of every act."""
    client = api()

    async def main() -> T:
        async with client:
            return await work(client)

    return _one_line(main())


def store() -> Engine:
    """The configured store at the newest migration (a fresh state directory has no tables yet)."""
    from store.db import make_engine, upgrade
    from store.migrations import SchemaError

    engine = make_engine(get_settings())
    try:
        upgrade(engine)
    except SchemaError as error:
        fail(str(error))
    return engine


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


# Logging in

PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")]


def read_password(from_stdin: bool, prompt: str = "password", confirm: bool = False) -> str:
    """One line of stdin, or typed at a prompt that does not echo it."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def _log_in(username: str, password: str) -> int:
    """Log in and keep the token for the configured API; the token's lifetime in minutes."""
    from web.routes.login import CLI_CLIENT_ID

    settings = get_settings()

    async def log_in() -> dict[str, Any]:
        async with ApiClient(settings.api_url, None) as client:
            try:
                return await client.login(username, password, CLI_CLIENT_ID)
            except Refused as refusal:  # the server's reason alone: "run `awardcycle login`" helps no one here
                raise Refused(str(refusal).removesuffix(f" — {NOT_LOGGED_IN}"), refusal.kind) from refusal

    answer = _one_line(log_in())
    save_token(settings.api_url, answer["access_token"])
    return int(answer["expires_in"]) // 60


@app.command("login")
def login(username: str, password_stdin: PasswordStdin = False) -> None:
    """Log in to the web API; the token is kept for the next commands (AWARDCYCLE_TOKEN overrides it)."""
    minutes = _log_in(username, read_password(password_stdin))
    url = get_settings().api_url
    out.print(f"logged in to {url} as {username}; the token lasts {minutes} minutes", soft_wrap=True)


@app.command("passwd")
def passwd(
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the current, then the new password from stdin")
    ] = False,
) -> None:
    """Change your password (a one-time one before anything else), then log in again with the new one."""
    client = api()  # refused before any password is typed when no one is logged in
    current = read_password(password_stdin, "current password")
    new = read_password(password_stdin, "new password", confirm=True)

    async def change() -> str:
        async with client:
            me = await client.request("GET", "/users/me")
            await client.post("/users/me/password", {"current_password": current, "new_password": new})
        return str(me["username"])

    username = _one_line(change())  # every token of the account, the kept one too, stops working here
    minutes = _log_in(username, new)
    out.print(f"password changed; logged in again as {username} for {minutes} minutes", soft_wrap=True)


@app.command("logout")
def logout() -> None:
    """Revoke the kept token on the server and forget it here."""
    settings = get_settings()
    token = saved_token(settings.api_url)
    if token is None:
        out.print(f"not logged in to {settings.api_url}", soft_wrap=True)
        return

    async def log_out() -> None:
        async with ApiClient(settings.api_url, token) as client:
            try:
                await client.post("/logout")
            except Refused as refusal:
                if refusal.kind is not RefusalKind.UNAUTHORIZED:
                    raise  # kept, so the token can still be revoked once the server answers

    _one_line(log_out())
    forget_token(settings.api_url)
    out.print(f"logged out of {settings.api_url}", soft_wrap=True)


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
        typer.Option(help="the year's holiday calendar (TOML or JSON), for a year the library lacks"),
    ] = None,
    cycle_id: Annotated[str | None, typer.Option(help="override the default id PROGRAMME-YEAR")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start an edition of a programme."""
    if day_seconds is not None and day_seconds <= 0:
        fail("--day-seconds must be positive")
    if len(holidays or []) > 1:
        fail("一个周期只接受一份节假日文件 (a cycle takes one holiday calendar: give --holidays once)")
    try:
        found = get_programme(programme)
        supplied = [load_holiday_file(path) for path in holidays or []]
    except (CatalogueError, HolidayFileError) as error:
        fail(str(error))
    # Checked here too, so a missing calendar is named before anyone logs in or any server is asked.
    try:
        service.check_calendar(found, year, CalendarSpec(supplied=supplied), rehearsal=day_seconds is not None)
    except Refused as refusal:
        fail(str(refusal))
    body = {
        "programme": found.id,
        "year": year,
        "day_seconds": day_seconds,
        "holidays": supplied[0].model_dump(mode="json") if supplied else None,
        "cycle_id": cycle_id,
    }
    answer = call(lambda client: client.post("/cycles", {k: v for k, v in body.items() if v is not None}))
    started = answer["cycle_id"]
    if as_json:
        print_json({"cycle_id": started})
    else:
        out.print(f"started {started}")


def _status_table(applications: list[ApplicationView]) -> Table:
    table = Table("application", "name", "state", "score", "final", "outcome", "waiting for")
    for a in applications:
        table.add_row(
            a.application_id.rsplit(".", 1)[-1],
            a.name,
            a.state.value,
            f"{a.expert_score:.1f}" if a.expert_score is not None else "",
            f"{a.final_score:.1f}" if a.final_score is not None else "",
            a.outcome.value if a.outcome else "",
            ", ".join(a.waiting_for),
        )
    return table


ENDED_ZH = {"failed": "失败", "terminated": "被终止", "canceled": "被取消", "timed_out": "超时"}


def _print_heading(status: CycleOverview) -> None:
    """Stage, deadlines and the applications counted by state: what matters before any page of them."""
    stage = status.stage.value if status.stage else ("completed" if status.completed else "closing")
    deadline = f" until {status.stage_deadline:%Y-%m-%d %H:%M}" if status.stage_deadline else ""
    out.print(f"[bold]{status.cycle_id}[/bold] {status.programme_name_zh} {status.year}: {stage}{deadline}")
    out.print(f"cycle time {status.cycle_time:%Y-%m-%d %H:%M %Z}")
    if status.execution not in ("running", "completed"):
        out.print(f"[red]工作流已{ENDED_ZH.get(status.execution, '结束')} (the workflow is {status.execution})[/red]")
    if status.holidays_missing:
        year = status.holidays_missing
        out.print(f"[yellow]等待 {year} 年节假日数据 (waiting: awardcycle holidays supply FILE for {year})[/yellow]")
    for record in status.stages:
        until = f"{record.deadline:%Y-%m-%d}" if record.deadline else "-"
        ended = f", ended {record.ended_at:%Y-%m-%d}" if record.ended_at else ""
        extended = f", extended {len(record.extensions)}×" if record.extensions else ""
        out.print(f"  {record.stage.value:22} {record.started_at:%Y-%m-%d} → {until}{ended}{extended}")
    counted = ", ".join(f"{state} {n}" for state, n in status.counts.items() if n)
    out.print(f"applications: {status.application_count}" + (f" ({counted})" if counted else ""))


def _print_page(status: CycleOverview, page: int) -> None:
    out.print(_status_table(status.applications))
    pages = max(1, (status.total + status.limit - 1) // status.limit)
    shown = f"{status.offset + 1}–{status.offset + len(status.applications)}" if status.applications else "none"
    only = f" in state {status.state.value}" if status.state else ""
    out.print(f"page {page} of {pages}: {shown} of {status.total}{only}")


async def _undelivered(client: ApiClient, cycle_id: str) -> list[dict[str, Any]] | None:
    """The cycle's messages whose last send failed; None for a reader who may not see recipients."""
    from web.schemas import MessagesPublic

    try:
        found = await client.get(f"/cycles/{cycle_id}/undelivered", MessagesPublic)
    except Refused as refusal:
        if refusal.kind is RefusalKind.FORBIDDEN:
            return None
        raise
    columns = {"message_id", "purpose", "recipient", "attempts", "last_error"}
    return [m.model_dump(include=columns) for m in found.data]


@cycle_app.command("status")
def cycle_status(
    cycle_id: str,
    page: Annotated[int, typer.Option(min=1, help="which page of applications, from 1")] = 1,
    limit: Annotated[int, typer.Option(min=1, max=service.PAGE_LIMIT, help="per page")] = service.DEFAULT_LIMIT,
    state: Annotated[str | None, typer.Option(help="only applications in this state, e.g. expert_review")] = None,
    order: Annotated[str, typer.Option(help="id, or score (highest final score first)")] = "id",
    as_json: JsonFlag = False,
) -> None:
    """Stage, deadlines, applications by state, then one page of them (state, score, outcome) and the results."""
    query = {"offset": (page - 1) * limit, "limit": limit, "state": state, "order": order}

    async def both(client: ApiClient) -> tuple[CycleOverview, list[dict[str, Any]] | None]:
        overview = client.get(f"/cycles/{cycle_id}", CycleOverview, **query)
        return await asyncio.gather(overview, _undelivered(client, cycle_id))

    status, undelivered = call(both)
    if as_json:
        print_json({**status.model_dump(mode="json"), "undelivered": undelivered})
        return
    _print_heading(status)
    _print_page(status, page)
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
def cycle_list(
    year: Annotated[int | None, typer.Option(help="only this year's editions")] = None, as_json: JsonFlag = False
) -> None:
    """The cycles of the programmes you hold a grant on."""
    from web.schemas import CyclesPublic

    found = call(lambda client: client.get("/cycles", CyclesPublic, year=year))
    columns = ("cycle_id", "programme_id", "year", "stage", "completed")
    rows = [r.model_dump(mode="json", include=set(columns)) for r in found.data]
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
    as_json: JsonFlag = False,
) -> None:
    """Extend the deadline of the open stage (coordinator)."""
    body = {"working_days": days, "reason": reason}
    record = call(lambda client: perform(client, cycle_id, "extend_deadline", body))
    print_json(record) if as_json else out.print(f"extended: {record.model_dump(mode='json')}")


@cycle_app.command("approve")
def cycle_approve(
    cycle_id: str,
    document_number: Annotated[str, typer.Option(help="the government's document number")],
    approved_on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
) -> None:
    """Record the government's approval of the list (coordinator)."""
    try:
        day = date.fromisoformat(approved_on)
    except ValueError:
        fail(f"--date takes YYYY-MM-DD, not {approved_on!r}")
    body = {"document_number": document_number, "approved_on": day.isoformat()}
    call(lambda client: perform(client, cycle_id, "record_approval", body))
    out.print(f"approval {document_number} recorded")


async def perform(client: ApiClient, workflow_id: str, act: str, body: dict[str, Any]) -> BaseModel:
    """One human act; the server records the logged-in user as its actor."""
    spec = ACTS[act]
    answer = await client.post(f"/{spec.workflow}s/{workflow_id}/acts/{act}", body)
    return spec.output.model_validate(answer)


# Applications and acts


@app.command("apply")
def apply(
    cycle_id: str,
    file: Annotated[Path, typer.Option("--file", help="the application file (JSON)")],
    documents: Annotated[
        list[str] | None,
        typer.Option(
            "--document",
            help="a scanned document as REQUIREMENT=PATH (e.g. application_form=scan.pdf), or PATH for another;"
            " with these the application is entered as received on paper, and the file lists no documents",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Enter an application the office received (secretariat or coordinator), with its scans if on paper."""
    if documents:
        fields, files = _paper_parts(file, documents)
        body = {"form": json.dumps(fields, ensure_ascii=False)}
        path = f"/cycles/{cycle_id}/paper-applications"
        accepted = call(lambda client: client.request("POST", path, data=body, files=files))
    else:
        form: ApplicationForm = read_model(file, ApplicationForm)
        accepted = call(lambda client: client.post(f"/cycles/{cycle_id}/applications", form.model_dump(mode="json")))
    if as_json:
        print_json({"application_id": accepted["application_id"], "received_at": accepted["received_at"]})
    else:
        out.print(f"received {accepted['application_id']}")


def _paper_parts(file: Path, documents: list[str]) -> tuple[dict[str, Any], list[tuple[str, tuple[str, bytes]]]]:
    """The form's fields and the scans' bytes, read first, so a retried request sends them again."""
    fields = _act_fields(file)
    files = []
    for document in documents:
        requirement, _, named = document.rpartition("=")
        path = Path(named)
        try:
            content = path.read_bytes()
        except OSError as error:
            fail(f"{path}: cannot be read ({error})")
        files.append((f"document-{requirement}" if requirement else "document-other", (path.name, content)))
    return fields, files


@app.command("act")
def act(
    workflow_id: str,
    act_name: Annotated[str, typer.Argument(metavar="ACT", help=f"one of: {', '.join(ACTS)}")],
    data: Annotated[Path | None, typer.Option("--data", help="JSON file with the act's fields (without actor)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Perform a human act (decisions, answers received on paper) on a workflow, as the logged-in user."""
    if act_name not in ACTS:
        fail(f"unknown act {act_name!r}; known: {', '.join(ACTS)}")
    fields = _act_fields(data) if data is not None else {}
    result = call(lambda client: perform(client, workflow_id, act_name, fields))
    print_json(result) if as_json else out.print(result.model_dump(mode="json"))


def _act_fields(data: Path) -> dict[str, Any]:
    try:
        fields = json.loads(data.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        fail(f"{data}: not a readable JSON file ({error})")
    if not isinstance(fields, dict):
        fail(f"{data}: must hold a JSON object")
    if named := ", ".join(sorted(SERVER_FIELDS & set(fields))):
        fail(f"{data}: 请删除 {named} (remove {named}: the server records who acted from your login)")
    return fields


@app.command("simulate")
def simulate(
    cycle_id: str,
    seed: Annotated[int, typer.Option(help="seed for the simulated scores")] = 0,
    departments: Annotated[bool, typer.Option(help="also answer for the departments")] = False,
) -> None:
    """Play the secretariat, experts, on-site teams and coordinator of a rehearsal until it completes.

    Needs a coordinator's login on the programme; the server records each simulated act under it."""

    async def play(client: ApiClient) -> CycleOverview:
        desk = ApiDesk(client)
        status = await desk.cycle_overview(cycle_id, limit=1)
        if status.day_seconds is None:
            fail(f"只有演练周期可以模拟 (simulate plays rehearsals only; {cycle_id} runs in real time)")
        player = Player(programme=get_programme(status.programme_id), seed=seed, departments=departments)
        # A poll every quarter of a cycle day: acts land in the stage they belong to.
        interval = max(0.2, min(2.0, status.day_seconds / 4))
        shown: list[str] = []

        def progress(current: CycleStatus) -> None:
            stage = current.stage.value if current.stage else ("completed" if current.completed else "between stages")
            if not shown or shown[-1] != stage:
                shown.append(stage)
                err.print(f"{current.cycle_time:%Y-%m-%d} {stage}", highlight=False)

        async def pause(_: CycleStatus) -> None:
            await asyncio.sleep(interval)

        warn = lambda text: err.print(f"[yellow]{text}[/yellow]")  # noqa: E731
        simulator = Simulator(desk, cycle_id, player, pause, on_status=progress, on_warning=warn)
        final = await simulator.run()
        err.print(f"done: {simulator.acts} acts", highlight=False)
        return final

    final = call(play)
    out.print(_status_table(final.applications))


# Audit


@audit_app.command("replay")
def audit_replay(
    cycle: Annotated[str | None, typer.Option("--cycle", help="every workflow of a cycle, from the server")] = None,
    workflow_id: Annotated[str | None, typer.Option(help="one workflow, every run of it, from the server")] = None,
    archive: Annotated[bool, typer.Option("--archive", help="the histories archived in the store")] = False,
    file: Annotated[list[Path] | None, typer.Option("--file", help="a history JSON file")] = None,
    processes: Annotated[
        int, typer.Option(min=1, max=32, help="processes replaying at once, the histories shared among them")
    ] = min(os.cpu_count() or 1, 4),
    as_json: JsonFlag = False,
) -> None:
    """Replay histories with the current workflow code; exit non-zero on any divergence."""
    from rich.progress import Progress

    from activities.chain import fetch_chain
    from awardcycle.archive import ArchiveChainBroken, ArchiveTampered, HistoryFileError, load_archived, verify_file
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
            histories = run(lambda client: fetch_chain(client, one))  # every run, if it continued as new
    except (ArchiveTampered, ArchiveChainBroken, HistoryFileError) as error:
        fail(str(error))
    if not histories:
        fail("no histories to replay")
    with Progress(console=err, transient=True, disable=as_json) as progress:
        task = progress.add_task("replaying", total=len(histories))
        outcomes, rate = asyncio.run(replay_all(histories, WORKFLOWS, lambda: progress.advance(task), processes))
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
            run_label = f" run {outcome.run_index}" if outcome.run_index else ""  # a later run of its chain
            out.print(f"{outcome.workflow_id}{run_label} ({outcome.workflow_type}) {mark}", highlight=False)
        out.print(f"{len(outcomes)} replayed, {len(failed)} failed, {rate:.1f} histories/s")
    if failed:
        raise typer.Exit(1)


@audit_app.command("timeline")
def audit_timeline(workflow_id: str, as_json: JsonFlag = False) -> None:
    """Who did what, when and through which channel, decoded from the history (coordinator or auditor)."""
    from awardcycle.timeline import Timeline, render_text

    timeline = call(lambda client: client.get(f"/audit/{workflow_id}", Timeline))
    if as_json:
        print_json(timeline)
    else:
        sys.stdout.write(render_text(timeline) + "\n")


@audit_app.command("logins")
def audit_logins(
    user: Annotated[str | None, typer.Option("--user", help="one account's events only")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="how many, newest first")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """The sign-in record: logins, failures, lock-outs, logouts, accounts and grants (auditor@* or admin@*)."""
    from web.routes.users import AuthEventsPublic

    events = call(lambda client: client.get("/auth/events", AuthEventsPublic, limit=limit, username=user))
    if as_json:
        print_json(events)
        return
    table = Table("at", "event", "account", "by", "address", "detail")
    for event in events.data:
        table.add_row(event.at[:19], event.kind, event.username, event.by, event.client_address, event.detail)
    out.print(table)


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
    """Run a worker against the configured Temporal (to scale out beside `up`); it upgrades the store first."""
    from store.migrations import SchemaError
    from worker import main

    try:
        asyncio.run(main())
    except SchemaError as error:
        fail(str(error))


@app.command("web")
def web() -> None:
    """Run only the web app against the configured Temporal and store (web and workers apart)."""
    import uvicorn

    from web.main import create_app

    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.web_host,
        port=settings.web_port,
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


@app.command("up")
def up() -> None:
    """Start the embedded stack: Temporal dev server, mail sink, worker and web app."""
    from awardcycle.stack import Urls, run_stack

    settings: Settings = get_settings()

    def ready(urls: Urls, admin_password: str | None) -> None:
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
        if admin_password:
            login = "`awardcycle login admin`, then `awardcycle passwd`"
            out.print(f"  admin password (shown once): {admin_password}  ({login})", soft_wrap=True)

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
    from awardcycle.ladder import LadderView

    view = call(lambda client: client.get("/ladder", LadderView, year=year))
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


from awardcycle.cli_db import db_app  # noqa: E402  (it imports the helpers above)
from awardcycle.cli_holidays import holidays_app  # noqa: E402  (it imports the helpers above)
from awardcycle.cli_schedule import schedule_app  # noqa: E402  (it imports the helpers above)
from awardcycle.cli_users import users_app  # noqa: E402  (it imports the helpers above)

app.add_typer(db_app, name="db")
app.add_typer(holidays_app, name="holidays")
app.add_typer(schedule_app, name="schedule")
app.add_typer(users_app, name="users")


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
