"""The holiday data a cycle counts its days with: the library's, plus the calendars a coordinator supplied
when starting it (`--holidays`), which only the cycle's input holds.

The cycle status does not carry them, so they are read once per cycle from the first event of the cycle's
first run (a small input: later runs carry the whole state) and kept: a cycle's calendar never changes.
"""

from __future__ import annotations

import logging

from cachetools import LRUCache
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from activities.calendar import CalendarError, WorkingDayCalendar
from awardcycle.timeline import decode
from schemas.calendar import CalendarSpec

log = logging.getLogger(__name__)

_KEPT: LRUCache[str, CalendarSpec] = LRUCache(maxsize=1024)


async def cycle_calendar_spec(client: Client, cycle_id: str) -> CalendarSpec | None:
    """The cycle's CalendarSpec, or None if Temporal did not give it (the caller falls back to the library)."""
    if cycle_id in _KEPT:
        return _KEPT[cycle_id]
    try:
        description = await client.get_workflow_handle(cycle_id).describe()
        first_run = description.raw_description.workflow_execution_info.first_run_id or description.run_id
        async for event in client.get_workflow_handle(cycle_id, run_id=first_run).fetch_history_events(page_size=1):
            started = event.workflow_execution_started_event_attributes
            value = decode(started.input.payloads)
            spec = CalendarSpec.model_validate(value.get("calendar") or {}) if isinstance(value, dict) else None
            break
        else:
            spec = None
    except (RPCError, ValidationError) as error:
        log.warning("%s: could not read its holiday calendar: %s", cycle_id, error)
        return None
    if spec is not None:
        _KEPT[cycle_id] = spec
    return spec


def working_days(spec: CalendarSpec | None) -> WorkingDayCalendar:
    """The calendar of `spec`, or the library's alone if there is none or it is unusable."""
    try:
        return WorkingDayCalendar(spec or CalendarSpec())
    except CalendarError as error:
        log.warning("a supplied holiday calendar is unusable, the library's is shown: %s", error)
        return WorkingDayCalendar(CalendarSpec())
