"""Temporal's RPC errors as a caller reads them: a busy server to ask again later, or an answer."""

from __future__ import annotations

from temporalio.service import RPCError, RPCStatusCode

BUSY = (
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.RESOURCE_EXHAUSTED,  # "consistent query buffer is full", rate limits
    RPCStatusCode.CANCELLED,
)
# A workflow whose last task failed (a worker restarting, a task timed out) answers no query until retried.
TASK_FAILED = "Workflow Task in failed state"


def transient(error: RPCError) -> bool:
    """A busy or briefly unreachable server: asking again later is the answer."""
    return error.status in BUSY or "Timeout expired" in error.message or TASK_FAILED in error.message
