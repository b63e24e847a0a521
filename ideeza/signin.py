"""Failed sign-ins on ``/api/token/``, counted per username and per client address (SPEC §9).

``IDEEZA_LOGIN_FAILURES_PER_USERNAME`` failures for one username (or ``…_PER_ADDRESS`` from one address) within
``IDEEZA_LOGIN_LOCKOUT_SECONDS`` lock it out for that long: every attempt, the right password included, is then a
429 with ``Retry-After`` in the one error shape, and the password is not even checked. The counters live in the
cache (Redis in production, so every worker shares them), not in the database: a failed sign-in costs no write.
A cache outage lets sign-ins through uncounted, as the cache never fails a request (SPEC §7).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request

KEY_PREFIX = "signin:v1:"
MSG_LOCKED_OUT = "Too many failed sign-ins for this username or from this address; try again in {wait} seconds."


class SignInLocked(APIException):
    """A 429 ``throttled`` with ``Retry-After`` (the one handler sends ``wait`` as that header)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "throttled"

    def __init__(self, wait: float) -> None:
        self.wait = max(1, math.ceil(wait))
        super().__init__(detail=MSG_LOCKED_OUT.format(wait=self.wait))


def client_address(request: Request) -> str:
    """The client's address: the TCP peer, or with ``IDEEZA_TRUSTED_PROXIES`` = n the address the outermost of
    the n proxies appended to X-Forwarded-For (anything left of it was written by the client and proves nothing)."""
    proxies = settings.IDEEZA_TRUSTED_PROXIES
    remote = str(request.META.get("REMOTE_ADDR") or "")
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if hop.strip()]
    return hops[-proxies] if len(hops) >= proxies else (hops[0] if hops else remote)


def _digest(kind: str, value: str) -> str:
    return KEY_PREFIX + kind + ":" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class _Counter:
    key: str
    limit: int

    @property
    def lock_key(self) -> str:
        return self.key + ":locked-until"


class SignInGuard:
    """The failure counters of one sign-in attempt: its username (case-folded) and its client address."""

    def __init__(self, request: Request, username: str | None) -> None:
        self.counters = [
            _Counter(_digest("address", client_address(request)), settings.IDEEZA_LOGIN_FAILURES_PER_ADDRESS)
        ]
        if username:
            self.counters.append(
                _Counter(_digest("user", username.casefold()), settings.IDEEZA_LOGIN_FAILURES_PER_USERNAME)
            )

    def check(self) -> None:
        """Raise ``SignInLocked`` while the username or the address is locked out."""
        locks = cache.get_many([counter.lock_key for counter in self.counters])
        if locks:
            wait = max(float(until) for until in locks.values()) - time.time()
            if wait > 0:
                raise SignInLocked(wait)

    def failed(self) -> None:
        """Count a failed sign-in; a counter that reaches its limit locks its username or address out."""
        window = settings.IDEEZA_LOGIN_LOCKOUT_SECONDS
        for counter in self.counters:
            cache.add(counter.key, 0, timeout=window)  # the window starts at the first failure
            try:
                failures = cache.incr(counter.key)
            except ValueError:  # expired between add and incr
                continue
            if not isinstance(failures, int):  # the cache is down: not counted
                continue
            if failures >= counter.limit:
                cache.set(counter.lock_key, time.time() + window, timeout=window)
                cache.delete(counter.key)

    def succeeded(self) -> None:
        """A right password forgives its username's earlier failures (not the address's)."""
        cache.delete_many([counter.key for counter in self.counters[1:]])
