"""The activity that opens a programme's cycle for a year, once: what the yearly Schedule comes down to."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities import cycle_start
from activities.cycle_start import CalendarMissing, CycleExists, NoEdition, NotOpenYet
from programmes import UnknownProgrammeError, get_programme
from schemas import ids
from schemas.calendar import CalendarSpec
from schemas.opening import OpenCycleRequest, OpenCycleResult

ALREADY_EXISTS = "already exists"


class OpeningActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="open_cycle")
    async def open_cycle(self, request: OpenCycleRequest) -> OpenCycleResult:
        """Start the programme's cycle for the year unless it holds no edition then, or the cycle exists.

        Refusals are results, not failures: a year without an edition, a cycle that already exists and a
        year without holiday data are all recorded as `started=False` with the reason. None of them is
        changed by retrying (holiday data arrives with a new release of the worker, and a coordinator can
        then start the cycle by hand with `cycle start --holidays`), and a recorded result keeps the
        Schedule's history readable: the opening ran, and this is what it decided.
        """
        cycle_id = ids.cycle_id(request.programme_id, request.year)
        try:
            programme = await asyncio.to_thread(get_programme, request.programme_id)
        except UnknownProgrammeError as error:
            raise ApplicationError(str(error), type="UnknownProgramme", non_retryable=True) from error

        def refused(reason: str) -> OpenCycleResult:
            activity.logger.warning("%s not opened: %s", cycle_id, reason)
            return OpenCycleResult(cycle_id=cycle_id, year=request.year, started=False, reason=reason)

        if not programme.holds_edition(request.year):
            return refused(f"{programme.id} holds no edition in {request.year} (every {programme.every_years} years)")
        try:
            await cycle_start.start_cycle_workflow(
                self._client,
                programme,
                request.year,
                task_queue=activity.info().task_queue,
                day_seconds=request.day_seconds,
                calendar=CalendarSpec(),
                cycle_id=cycle_id,
            )
        except (NoEdition, CalendarMissing) as refusal:
            return refused(str(refusal))
        except CycleExists:
            earlier = " (perhaps by an earlier attempt of this opening)" if activity.info().attempt > 1 else ""
            return refused(ALREADY_EXISTS + earlier)
        try:
            await cycle_start.until_open(self._client, cycle_id)
        except NotOpenYet as refusal:
            # The cycle was started but has not computed its first deadline yet (no worker on its queue?).
            activity.logger.warning("%s started but not open yet: %s", cycle_id, refusal)
            return OpenCycleResult(cycle_id=cycle_id, year=request.year, started=True, reason=str(refusal))
        activity.logger.info("%s opened", cycle_id)
        return OpenCycleResult(cycle_id=cycle_id, year=request.year, started=True, reason="opened")
