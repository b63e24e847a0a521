"""The response cache (SPEC §7) and the ETag (SPEC §8): answers keyed by the normalised request and the data version.

The key holds the database's name, the resolved window (not ``now()``), every filter in a canonical order, the
engine, the reporting timezone, today's date and the x metric. The data version is a counter that database triggers bump
in the same transaction as any write that can change an answer (migration 0002), and every fold bumps too: a
write makes every older key unreachable at once. A dead cache only costs time: django-redis is configured to
swallow its errors, so a lookup is a miss and a store is a no-op.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from analytics.models import DataVersion

HIT, MISS, OFF = "HIT", "MISS", "OFF"
# v3: the value is the rendered body (JSON or CSV bytes) with its X-Total-Count.
KEY_PREFIX = "answer:v3:"


def _canonical(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in fields(value)} | {"@": type(value).__name__}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (frozenset, set)):
        return sorted((_canonical(item) for item in value), key=repr)
    if isinstance(value, (tuple, list)):
        return [_canonical(item) for item in value]
    return value


def data_version() -> int:
    """The current data version (0 before the first write), read on every request, hits included."""
    return DataVersion.current(DataVersion.ANSWERS) or 0


def answer_key(version: int, *parts: Any) -> str:
    """The one name of an answer: the request's canonical parts, the database and its data version (``data_version()``
    read on the primary at request start, which is also the replicas' fence: ``analytics.replicas``).

    The database's name too: data versions are counters, so two databases behind one Redis would share keys.
    """
    versioned = [connection.settings_dict["NAME"], version, *parts]
    text = json.dumps(_canonical(versioned), sort_keys=True, separators=(",", ":"))
    return KEY_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def etag(key: str) -> str:
    """A strong entity tag naming the data an answer was computed from: any write changes it (SPEC §8)."""
    return f'"{key.removeprefix(KEY_PREFIX)[:32]}"'


def cached(key: str, compute: Callable[[], Any]) -> tuple[Any, str]:
    """``compute()``'s value under ``key`` (an ``answer_key``), from the cache when it holds it; HIT, MISS or OFF."""
    if settings.CACHE_TIMEOUT <= 0:
        return compute(), OFF
    found = cache.get(key)
    if found is not None:
        return found, HIT
    value = compute()
    cache.set(key, value, timeout=settings.CACHE_TIMEOUT)
    return value, MISS
