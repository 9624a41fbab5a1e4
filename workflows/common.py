"""Deterministic helpers shared by the workflows: cycle time, movable deadlines, activity options."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.calendar import CalendarActivities
    from schemas.calendar import (
        CalendarSpec,
        DeadlineRequest,
        ReminderRequest,
    )
    from schemas.common import Actor, RehearsalClock, Role
    from schemas.programme import Duration

T = TypeVar("T")
R = TypeVar("R")

# Calendar lookups are fast and local; a failure is a bug or missing data, not a transient outage.
CALENDAR_TIMEOUT = timedelta(seconds=30)
MISSING_HOLIDAYS = "MissingHolidayData"
CALENDAR_RETRY = RetryPolicy(maximum_attempts=3, non_retryable_error_types=[MISSING_HOLIDAYS, "CalendarError"])
# Missing holiday data is a fact still to come (`awardcycle holidays supply`): asked again until it is there.
HOLIDAY_WAIT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30),
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["CalendarError"],
)
# Mail and the read model depend on outside servers: retry with backoff for as long as a day.
SIDE_EFFECT_TIMEOUT = timedelta(seconds=60)
SIDE_EFFECT_DEADLINE = timedelta(days=1)
SIDE_EFFECT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=10))
# A local activity leaves one marker in the history instead of three events and a workflow task of its own.
LOCAL_TIMEOUT = timedelta(seconds=30)
# Never more than this many signals or children in flight from one workflow (Temporal caps at 2,000).
BATCH = 200


def rejected(reason: str) -> ApplicationError:
    """The error an Update validator raises: the act is refused and nothing is written to history."""
    return ApplicationError(reason, type="Rejected", non_retryable=True)


def require_role(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise rejected(f"角色不符 (wrong actor): this act needs {allowed}, not {actor.role.value}")


def cycle_now(clock: RehearsalClock) -> datetime:
    return clock.cycle_time(workflow.now())


class HolidayWait:
    """The year whose holiday data a workflow is waiting for, while it waits; its status shows it."""

    def __init__(self) -> None:
        self.year: int | None = None


def missing_year(error: ActivityError) -> int | None:
    """The year a calendar lookup lacked holiday data for, or None for any other failure."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == MISSING_HOLIDAYS and cause.details:
        return int(cause.details[0])
    return None


async def _calendar(activity: Callable[[Any, R], Awaitable[T]], request: R, wait: HolidayWait | None) -> T:
    """The lookup; missing holiday data makes a `wait`ing workflow retry until the year is supplied."""
    try:
        return await workflow.execute_activity_method(
            activity, request, start_to_close_timeout=CALENDAR_TIMEOUT, retry_policy=CALENDAR_RETRY
        )
    except ActivityError as error:
        year = missing_year(error)
        if wait is None or year is None:
            raise
        wait.year = year
    try:
        return await workflow.execute_activity_method(
            activity, request, start_to_close_timeout=CALENDAR_TIMEOUT, retry_policy=HOLIDAY_WAIT_RETRY
        )
    finally:
        wait.year = None


async def deadline_after(
    start: datetime, duration: Duration, calendar: CalendarSpec, wait: HolidayWait | None = None
) -> datetime:
    """The deadline; without a `wait`, missing holiday data raises (an Update handler turns it into a refusal)."""
    request = DeadlineRequest(start=start, duration=duration, calendar=calendar)
    result = await _calendar(CalendarActivities.compute_deadline, request, wait)
    return result.deadline


async def reminders_before(
    deadline: datetime, days: list[int], calendar: CalendarSpec, wait: HolidayWait | None = None
) -> list[datetime]:
    request = ReminderRequest(deadline=deadline, working_days_before=days, calendar=calendar)
    result = await _calendar(CalendarActivities.reminder_instants, request, wait)
    return result.instants


# An activity method taking one request; its result, if any, is not needed.
SideEffect = Callable[[Any, Any], Any]


def start_side_effect(activity: SideEffect, request: BaseModel) -> workflow.ActivityHandle[Any]:
    """Mail or the read model: retried with backoff, so an outage delays the step and loses nothing."""
    return workflow.start_activity_method(
        activity,
        request,
        start_to_close_timeout=SIDE_EFFECT_TIMEOUT,
        schedule_to_close_timeout=SIDE_EFFECT_DEADLINE,
        retry_policy=SIDE_EFFECT_RETRY,
    )


async def side_effect(activity: SideEffect, request: BaseModel) -> None:
    await start_side_effect(activity, request)


class SideEffects:
    """Messages and link updates run in the background, so a slow mail server never holds up an act or a deadline."""

    def __init__(self) -> None:
        self._pending: list[workflow.ActivityHandle[Any]] = []

    def post(self, activity: SideEffect, request: BaseModel) -> None:
        self._pending.append(start_side_effect(activity, request))

    async def drain(self) -> None:
        """Wait for everything posted; a message that never went out stays `failed` in the outbox."""
        for handle in self._pending:
            try:
                await handle
            except ActivityError as error:
                workflow.logger.warning("a background side effect failed: %s", error.cause or error)
        self._pending.clear()


async def sleep_until(clock: RehearsalClock, target: datetime, interrupt: Callable[[], bool]) -> bool:
    """Sleep in cycle time until target; True if it was reached, False if interrupt() came true first."""
    delay = clock.real_delay(cycle_now(clock), target)
    if delay <= timedelta(0):
        return True
    try:
        await workflow.wait_condition(interrupt, timeout=delay)
    except TimeoutError:
        return True
    return False


async def wait_done_or_deadline(
    clock: RehearsalClock, done: Callable[[], bool], deadline: Callable[[], datetime]
) -> bool:
    """Wait until done() or the deadline, which a coordinator may move meanwhile; True if done."""
    while not done():
        target = deadline()
        moved = lambda target=target: done() or deadline() != target  # noqa: E731
        if await sleep_until(clock, target, moved):
            return done()
    return True


async def in_batches(items: Iterable[T], act: Callable[[T], Awaitable[object]]) -> None:
    """Run act on every item, at most BATCH at a time."""
    pending = list(items)
    for start in range(0, len(pending), BATCH):
        await asyncio.gather(*(act(item) for item in pending[start : start + BATCH]))
