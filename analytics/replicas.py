"""Read replicas behind a fence (SPEC §10): an answer is read from a replica only when that replica has applied every
write the primary had committed when the request started; else from another replica, else from the primary.

The fence is the data version (``DataVersion.ANSWERS``), the counter the triggers bump in the same transaction as
every write that can change an answer (``analytics.triggers``). Its increments take the row's lock, so their commit
order is their value order, and a standby replays commits in the primary's order: a replica whose snapshot holds a
value at least the one the primary had at request start has applied every such write committed before it. The
request reads that value on the primary anyway (it names the cached answer, ``analytics.api.cache``), so the fence
costs the primary nothing more; the check runs inside the replica's REPEATABLE READ snapshot, and the answer is
computed in that same snapshot. Folds do not matter to the fence: an answer is exact at any snapshot.

Only the computation of an answer goes to a replica (``fenced``): authentication, scopes, writes, folds, locks and
the data-version read stay on the primary. Inside it, the read path reaches the database through ``reading`` (a
connection proxy) and the ORM through ``ReplicaRouter``, both following ``reading_from``'s context variable; with
it unset (folds, ingestion, tests), both are the primary.

A replica that refuses connections or drops one is skipped by this process for ``IDEEZA_REPLICA_RETRY_SECONDS``; a
query cancelled by a recovery conflict ("canceling statement due to conflict with recovery", SQLSTATE 40001) is
retried on the next replica, then on the primary. A replica slows a request down, never fails it.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

from analytics.services.metrics import statsd_client

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Where the read path of the current context reads: a replica's alias, or None for the primary.
_reading_alias: ContextVar[str | None] = ContextVar("ideeza_reading_alias", default=None)
# Per process: a replica that failed is skipped until this monotonic time.
_skip_until: dict[str, float] = {}
_turn = itertools.count()
# The SQLSTATE of a query a standby cancelled to replay the primary's WAL (a recovery conflict).
RECOVERY_CONFLICT = "40001"
PRIMARY = "primary"


def replica_aliases() -> list[str]:
    """The replicas' database aliases, in the order of ``DATABASE_REPLICA_URLS``."""
    return list(settings.IDEEZA_REPLICA_ALIASES)


def reading_alias() -> str:
    """The alias the read path uses now: a replica inside ``fenced``, else the primary."""
    return _reading_alias.get() or DEFAULT_DB_ALIAS


def source_alias(alias: str) -> str:
    """The database whose data ``alias`` holds: the primary for each replica, else the alias itself. Caches of what a
    snapshot says (the catalogue) are shared by the primary and its replicas."""
    return DEFAULT_DB_ALIAS if alias in settings.IDEEZA_REPLICA_ALIASES else alias


class _ReadingConnection:
    """``django.db.connection``, but the read path's: the replica ``fenced`` chose, else the primary."""

    def __getattr__(self, name: str) -> Any:
        return getattr(connections[reading_alias()], name)


reading: Any = _ReadingConnection()


@contextmanager
def reading_from(alias: str | None) -> Iterator[None]:
    token = _reading_alias.set(alias)
    try:
        yield
    finally:
        _reading_alias.reset(token)


class ReplicaRouter:
    """ORM reads follow ``reading_from``; writes and migrations are the primary's (a replica is read-only)."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return _reading_alias.get()

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, first: Any, second: Any, **hints: Any) -> bool | None:
        # One database seen through several connections.
        return source_alias(first._state.db or DEFAULT_DB_ALIAS) == source_alias(second._state.db or DEFAULT_DB_ALIAS)

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db in settings.IDEEZA_REPLICA_ALIASES else None


@dataclass(frozen=True)
class Served:
    """What ``fenced`` computed, and where: ``PRIMARY`` or a replica's alias."""

    value: Any
    source: str


def _count(metric: str) -> None:
    client = statsd_client()
    if client is not None:
        client.incr(metric)


def _candidates() -> list[str]:
    """The replicas not being skipped, starting one further at each call (round robin within the process)."""
    aliases = replica_aliases()
    if not aliases:
        return []
    start = next(_turn) % len(aliases)
    now = time.monotonic()
    return [alias for alias in aliases[start:] + aliases[:start] if _skip_until.get(alias, 0.0) <= now]


def _conflict(error: Exception) -> bool:
    cause = error.__cause__
    return getattr(cause, "pgcode", None) == RECOVERY_CONFLICT or "conflict with recovery" in str(error)


def fenced(primary_version: int, compute: Callable[[], T]) -> Served:
    """``compute()`` on the first replica whose snapshot has applied ``primary_version`` (the primary's data version
    read at request start), else on the primary."""
    from analytics.models import DataVersion
    from analytics.transactions import repeatable_read

    for alias in _candidates():
        try:
            with reading_from(alias), repeatable_read(read_only=True):
                applied = DataVersion.current(DataVersion.ANSWERS) or 0
                if applied >= primary_version or not settings.IDEEZA_REPLICA_FENCE:
                    value = compute()
                    _count(f"replica.{alias}.served")
                    return Served(value, alias)
            _count(f"replica.{alias}.behind")
        except (OperationalError, InterfaceError) as error:
            if _conflict(error):
                logger.warning("replica %s cancelled a query (recovery conflict); retrying elsewhere", alias)
                _count(f"replica.{alias}.conflict")
                continue
            logger.warning("replica %s failed; skipping it for %ss", alias, settings.IDEEZA_REPLICA_RETRY_SECONDS)
            _count(f"replica.{alias}.down")
            _skip_until[alias] = time.monotonic() + settings.IDEEZA_REPLICA_RETRY_SECONDS
            connections[alias].close()
    if replica_aliases():
        _count("replica.primary_served")
    return Served(compute(), PRIMARY)


def forget_failures() -> None:
    """Try every replica again at the next request (tests)."""
    _skip_until.clear()


@dataclass(frozen=True)
class ReplicaState:
    """One replica as ``/healthz`` reports it."""

    name: str
    state: str  # "ok", "unreachable" or "not-a-replica"
    versions_behind: int | None = None
    lag_bytes: int | None = None
    replay_age_seconds: float | None = None


def replica_states(primary_version: int, primary_lsn: str | None) -> list[ReplicaState]:
    """Each replica's health and lag: the data versions and WAL bytes it has not applied yet, and how long ago the
    last transaction it applied committed. Also sent to StatsD as gauges."""
    states = []
    for alias in replica_aliases():
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute(
                    "SELECT pg_is_in_recovery(), (SELECT value FROM analytics_dataversion WHERE id = 1),"
                    " pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()),"
                    " extract(epoch FROM now() - pg_last_xact_replay_timestamp())",
                    [primary_lsn],
                )
                in_recovery, version, lag, age = cursor.fetchone()
        except (OperationalError, InterfaceError):
            logger.warning("healthz: replica %s unreachable", alias, exc_info=True)
            connections[alias].close()
            states.append(ReplicaState(alias, "unreachable"))
            continue
        if not in_recovery:
            states.append(ReplicaState(alias, "not-a-replica"))
            continue
        state = ReplicaState(
            alias,
            "ok",
            versions_behind=max(primary_version - int(version or 0), 0),
            lag_bytes=None if lag is None else max(int(lag), 0),
            replay_age_seconds=None if age is None else round(float(age), 3),
        )
        client = statsd_client()
        if client is not None:
            client.gauge(f"replica.{alias}.versions_behind", state.versions_behind)
            if state.lag_bytes is not None:
                client.gauge(f"replica.{alias}.lag_bytes", state.lag_bytes)
        states.append(state)
    return states
