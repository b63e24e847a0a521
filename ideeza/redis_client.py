"""Redis connections for the fold lock and the HyperLogLog sketches, with or without Sentinel (SPEC §10).

The response cache gets the same through django-redis's ``SentinelConnectionFactory`` (``ideeza/settings.py``).
With ``REDIS_SENTINELS`` set, ``REDIS_URL`` is ``redis://[:password@]<REDIS_SENTINEL_MASTER>/<db>``: the
sentinels name the master's address, and a client asks them again after a failover.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import unquote, urlparse

from django.conf import settings


@cache
def _sentinel(sentinels: tuple[tuple[str, int], ...], timeout: float) -> Any:
    from redis.sentinel import Sentinel

    return Sentinel(list(sentinels), sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout})


def redis_client(url: str, *, connect_timeout: float, timeout: float) -> Any:
    """A client of the current Redis master for ``url``: through the sentinels when they are configured."""
    if not settings.REDIS_SENTINELS:
        import redis

        return redis.Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=timeout)
    parts = urlparse(url)
    return _sentinel(tuple(settings.REDIS_SENTINELS), connect_timeout).master_for(
        settings.REDIS_SENTINEL_MASTER,
        db=int(parts.path.lstrip("/") or 0),
        password=unquote(parts.password) if parts.password else None,
        socket_connect_timeout=connect_timeout,
        socket_timeout=timeout,
    )
