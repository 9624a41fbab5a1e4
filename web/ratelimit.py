"""Per-address limits on guessing task links and on lodging public objections, kept in process memory."""

from __future__ import annotations

from datetime import timedelta

from fastapi import HTTPException, Request, status
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from config.settings import Settings

TOO_MANY_ZH = "操作过于频繁，请稍后再试 (too many requests from this address; try again later)"


class RateLimits:
    """One moving window per purpose and client address; a second web process keeps its own counts."""

    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.wrong_link: RateLimitItem = parse(settings.wrong_link_limit)
        self.objection: RateLimitItem = parse(settings.objection_limit)
        self.login_failure: RateLimitItem = parse(settings.login_failure_limit)
        self.applicant_email: RateLimitItem = parse(settings.applicant_email_limit)
        self.login_lock = timedelta(minutes=settings.lockout_minutes)
        self.login_user: RateLimitItem = parse(f"{settings.lockout_failures}/{settings.lockout_minutes} minutes")

    def exhausted(self, item: RateLimitItem, *keys: str) -> bool:
        return not self._limiter.test(item, *keys)

    def hit(self, item: RateLimitItem, *keys: str) -> bool:
        """Count one event; False once the window is full."""
        return self._limiter.hit(item, *keys)


def client_address(request: Request) -> str:
    # The peer; uvicorn replaces it from X-Forwarded-For only for the proxies in AWARDCYCLE_TRUSTED_PROXIES.
    return request.client.host if request.client else "unknown"


def too_many() -> HTTPException:
    return HTTPException(status_code=status.HTTP_429_TOO_MANY_REQUESTS, detail=TOO_MANY_ZH)
