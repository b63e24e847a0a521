"""One ``precalculate_stats`` at a time, across machines (SPEC §7).

Held together, whichever are available: a Redis lock (owner token, short expiry renewed by a heartbeat thread,
released only by its owner) when ``REDIS_URL`` is set and Redis answers, and a PostgreSQL session advisory lock
on PostgreSQL (released by the server if the process dies). With neither, a local file lock (``flock``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from django.conf import settings
from django.db import connection

from ideeza.redis_client import redis_client

logger = logging.getLogger(__name__)

LOCK_NAME = "ideeza:precalculate_stats:lock"
ADVISORY_KEY = 0x1DEE2A  # an arbitrary constant shared by every run against the same database
MSG_LOCK_BUSY = "precalculate_stats: another run holds the {kind} lock; exiting without folding (exit status 75)."

# Delete the key only if it still holds our token: an expired lock re-taken by another run is not ours to drop.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


class LockBusy(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(MSG_LOCK_BUSY.format(kind=kind))
        self.kind = kind


def _redis_client() -> Any | None:
    if not settings.REDIS_URL:
        return None
    import redis

    client = redis_client(settings.REDIS_URL, connect_timeout=1, timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        logger.warning("Redis is unreachable; precalculate_stats falls back to the database or file lock")
        return None
    return client


@contextmanager
def _redis_lock(client: Any, ttl_seconds: float) -> Iterator[None]:
    token = uuid.uuid4().hex
    ttl_ms = int(ttl_seconds * 1000)
    if not client.set(LOCK_NAME, token, nx=True, px=ttl_ms):
        raise LockBusy("Redis")
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(ttl_seconds / 3):
            try:
                client.eval(_RENEW, 1, LOCK_NAME, token, ttl_ms)
            except Exception:  # noqa: BLE001 - a missed renewal only shortens the lock; the fold goes on
                logger.warning("could not renew the precalculate_stats Redis lock", exc_info=True)

    thread = threading.Thread(target=heartbeat, name="precalculate-lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            client.eval(_RELEASE, 1, LOCK_NAME, token)
        except Exception:  # noqa: BLE001 - it expires by itself
            logger.warning("could not release the precalculate_stats Redis lock", exc_info=True)


@contextmanager
def _advisory_lock() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
        if not cursor.fetchone()[0]:
            raise LockBusy("PostgreSQL advisory")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])


@contextmanager
def _file_lock(path: str) -> Iterator[None]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"file ({path})") from None
        yield
    finally:
        os.close(descriptor)  # closing releases the flock


@contextmanager
def fold_lock() -> Iterator[list[str]]:
    """Hold every available lock for the duration; yields the names of the locks held."""
    held: list[str] = []
    with ExitStack() as stack:
        client = _redis_client()
        if client is not None:
            stack.enter_context(_redis_lock(client, settings.IDEEZA_LOCK_TTL_SECONDS))
            held.append("redis")
        if connection.vendor == "postgresql":
            stack.enter_context(_advisory_lock())
            held.append("postgresql")
        if not held:
            stack.enter_context(_file_lock(settings.IDEEZA_LOCK_FILE))
            held.append("file")
        yield held
