"""`awardcycle holidays ...`: the holiday calendars of years the library does not cover yet.

Imported at the bottom of awardcycle/cli.py, whose helpers it uses; import that module, not this one, first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from awardcycle.cli import JsonFlag, call, fail, out, print_json
from schemas.holiday_file import HolidayFileError, load_holiday_file

holidays_app = typer.Typer(help="Holiday calendars for years the library does not cover yet.", no_args_is_help=True)


@holidays_app.command("list")
def holidays_list(as_json: JsonFlag = False) -> None:
    """The years the library covers, and the calendars supplied for others."""
    answer = call(lambda client: client.request("GET", "/holidays"))
    if as_json:
        print_json(answer)
        return
    years = answer["library_years"]
    out.print(f"library: {years[0]}–{years[-1]}", highlight=False)
    table = Table("year", "holidays", "workdays (调休)")
    for calendar in answer["data"]:
        table.add_row(str(calendar["year"]), str(len(calendar["holidays"])), str(len(calendar["workdays"])))
    out.print(table)


@holidays_app.command("supply")
def holidays_supply(
    file: Annotated[Path, typer.Argument(help="TOML with year, holidays and workdays (ISO dates)")],
    as_json: JsonFlag = False,
) -> None:
    """Supply a year's calendar (admin@* or coordinator@*); cycles waiting for that year go on."""
    try:
        calendar = load_holiday_file(file)
    except HolidayFileError as error:
        fail(str(error))
    body = calendar.model_dump(mode="json")
    supplied = call(lambda client: client.post("/holidays", body))
    if as_json:
        print_json(supplied)
    else:
        out.print(
            f"supplied {supplied['year']}: {len(supplied['holidays'])} holidays, {len(supplied['workdays'])} workdays"
        )
