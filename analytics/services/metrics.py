"""StatsD metrics, sent only when ``STATSD_HOST`` is set (UDP: a missing collector never slows a run)."""

from __future__ import annotations

from functools import cache

import statsd
from django.conf import settings

PREFIX = "ideeza"


@cache
def _client(host: str, port: int) -> statsd.StatsClient:
    return statsd.StatsClient(host, port, prefix=PREFIX)


def statsd_client() -> statsd.StatsClient | None:
    if not settings.STATSD_HOST:
        return None
    return _client(settings.STATSD_HOST, settings.STATSD_PORT)
