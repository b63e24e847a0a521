"""Monthly partitions of the raw events on PostgreSQL (SPEC §10; docs/operations.md, "Partitioned raw events").

``analytics_blogview`` is partitioned by RANGE of ``timestamp``: one partition per UTC month,
``analytics_blogview_pYYYY_MM``, and a DEFAULT partition that takes any row no month covers, so an insert never
fails for want of a partition. ``partitions_ensure`` (``manage.py ensure_partitions``, from cron) creates the months
ahead, and the months the DEFAULT partition holds rows of, moving those rows in the same transaction. Writes always
name the parent table, whose statement triggers (``analytics.triggers``) see every row of every partition.

Event ids: a unique index on a partitioned table must hold the partition key, so ``event_id`` cannot be unique
there by itself. The ledger ``analytics_vieweventid`` (``event_id`` its primary key) is, and the triggers below keep
it equal to the set of event ids in the table: inserting an id that is present fails with a unique violation
exactly as the unique constraint did, a delete frees its ids, an update of ``event_id`` moves them. Ingestion skips
the ids already in the ledger and leaves a race between two requests to its unique index
(``analytics.services.ingestion``).

Migration 0015 converts an existing table (``table_partition``): it copies the rows into the partitioned table, so
it takes time in proportion to the views (docs/operations.md gives the measured rate); ``table_unpartition``
reverses it. SQLite keeps the plain table and its unique constraint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

TABLE = "analytics_blogview"
LEDGER = "analytics_vieweventid"
DEFAULT_PARTITION = f"{TABLE}_default"
# Months created ahead of the current one: cron may stop for this long before rows start to land in DEFAULT.
MONTHS_AHEAD = 3
# Serialises partitionings (two cron runs, a migration): any constant other locks of the service do not use.
_LOCK = 7_361_954_201

LEDGER_TRIGGERS = f"""
CREATE FUNCTION analytics_event_ids_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {LEDGER} (event_id) SELECT event_id FROM new_rows WHERE event_id IS NOT NULL ORDER BY event_id;
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_event_ids_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {LEDGER} WHERE event_id IN (SELECT event_id FROM old_rows);
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_event_ids_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {LEDGER} WHERE event_id IN (SELECT event_id FROM old_rows);
    INSERT INTO {LEDGER} (event_id) SELECT event_id FROM new_rows WHERE event_id IS NOT NULL ORDER BY event_id;
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_event_ids_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {LEDGER};
    RETURN NULL;
END $$;

CREATE TRIGGER analytics_event_ids_inserted AFTER INSERT ON {TABLE}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_event_ids_inserted();
CREATE TRIGGER analytics_event_ids_deleted AFTER DELETE ON {TABLE}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_event_ids_deleted();
CREATE TRIGGER analytics_event_ids_updated AFTER UPDATE ON {TABLE}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_event_ids_updated();
CREATE TRIGGER analytics_event_ids_truncated AFTER TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_event_ids_truncated();
"""

LEDGER_TRIGGERS_DROP = f"""
DROP TRIGGER IF EXISTS analytics_event_ids_inserted ON {TABLE};
DROP TRIGGER IF EXISTS analytics_event_ids_deleted ON {TABLE};
DROP TRIGGER IF EXISTS analytics_event_ids_updated ON {TABLE};
DROP TRIGGER IF EXISTS analytics_event_ids_truncated ON {TABLE};
DROP FUNCTION IF EXISTS analytics_event_ids_inserted();
DROP FUNCTION IF EXISTS analytics_event_ids_deleted();
DROP FUNCTION IF EXISTS analytics_event_ids_updated();
DROP FUNCTION IF EXISTS analytics_event_ids_truncated();
"""


def is_partitioned() -> bool:
    """Whether ``analytics_blogview`` is a partitioned table (PostgreSQL after migration 0015)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = %s::regclass", [TABLE])
        (partitioned,) = cursor.fetchone()
    return bool(partitioned)


def month_start(moment: date | datetime) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{TABLE}_p{month.year:04d}_{month.month:02d}"


def _bound(month: date) -> str:
    return datetime(month.year, month.month, 1, tzinfo=UTC).isoformat()


def months(first: date, last: date, ahead: int = 0) -> list[date]:
    """The first days of the months from ``first`` to ``ahead`` months after ``last``, both month starts."""
    for _ in range(ahead):
        last = next_month(last)
    found = []
    while first <= last:
        found.append(first)
        first = next_month(first)
    return found


def _month_create(cursor: Any, month: date) -> None:
    cursor.execute(
        f"CREATE TABLE {partition_name(month)} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)",
        [_bound(month), _bound(next_month(month))],
    )


@dataclass(frozen=True)
class Partitioned:
    """What ``partitions_ensure`` did: the month partitions it created, and the rows it moved out of DEFAULT."""

    created: tuple[str, ...]
    moved_rows: int


def partitions_ensure(
    *,
    since: date | None = None,
    months_ahead: int = MONTHS_AHEAD,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> Partitioned:
    """Create every missing month partition from ``since`` (default: last month) to ``months_ahead`` months after
    the current one, and one for each month the DEFAULT partition holds rows of, moving those rows into it."""
    if not is_partitioned():
        return Partitioned((), 0)
    current = month_start(now or timezone.now())
    wanted = set(months(min(month_start(since or current - timedelta(days=1)), current), current, months_ahead))
    created: list[str] = []
    moved = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC')::date FROM {DEFAULT_PARTITION}"
        )
        stranded = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = %s::regclass",
            [TABLE],
        )
        existing = {row[0] for row in cursor.fetchall()}
        for month in sorted(wanted | stranded):
            name = partition_name(month)
            if name in existing:
                continue
            lower, upper = _bound(month), _bound(next_month(month))
            if month in stranded:
                # The DEFAULT partition may not keep rows a new partition would hold: move them in, then attach.
                cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
                cursor.execute(
                    f'WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE "timestamp" >= %s AND "timestamp" < %s '
                    f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
                    [lower, upper],
                )
                moved += cursor.rowcount
                cursor.execute(
                    f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [lower, upper]
                )
            else:
                _month_create(cursor, month)
            created.append(name)
            if progress is not None:
                progress(f"created {name}" + (" (rows moved from the default partition)" if month in stranded else ""))
    return Partitioned(tuple(created), moved)


# --- migration 0015 ---------------------------------------------------------------------------------------------
def _definitions(cursor: Any, table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """``table``'s plain indexes and foreign keys (name, statement or definition that recreates it on ``TABLE``),
    and its user triggers' statements."""
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
        "WHERE i.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)",
        [table],
    )
    indexes = [(name, definition) for name, definition in cursor.fetchall()]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    foreign_keys = [(name, definition) for name, definition in cursor.fetchall()]
    cursor.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal "
        "AND tgname NOT LIKE 'analytics_event_ids_%%'",
        [table],
    )
    triggers = [row[0] for row in cursor.fetchall()]
    return indexes, foreign_keys, triggers


def _swap(cursor: Any, *, partitioned: bool, progress: Callable[[str], None]) -> None:
    """Rebuild ``TABLE`` as a partitioned (or plain) table with the same columns, rows, identity, indexes, foreign
    keys and triggers; the old one is renamed out of the way, copied from and dropped."""
    old = f"{TABLE}_old"
    cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
    indexes, foreign_keys, triggers = _definitions(cursor, TABLE)
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
    (sequence,) = cursor.fetchone()
    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {old}")
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {old}_id_seq")
    # Free the names (a rename keeps its indexes' names): the indexes and constraints go with the old table, which is
    # dropped below.
    for index, _ in indexes:
        cursor.execute(f"DROP INDEX {index}")
    cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass", [old])
    for (constraint,) in cursor.fetchall():
        cursor.execute(f"ALTER TABLE {old} DROP CONSTRAINT {constraint}")
    cursor.execute(
        f"CREATE TABLE {TABLE} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY)"
        + (' PARTITION BY RANGE ("timestamp")' if partitioned else "")
    )
    if partitioned:
        cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT")
        cursor.execute(f'SELECT min("timestamp"), max("timestamp") FROM {old}')
        first, last = cursor.fetchone()
        now = timezone.now()
        for month in months(month_start(min(first or now, now)), month_start(max(last or now, now)), MONTHS_AHEAD):
            _month_create(cursor, month)
    progress("copying the views")
    cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {old}")
    progress(f"copied {cursor.rowcount} views; indexing")
    cursor.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), last_value, is_called) FROM {old}_id_seq", [TABLE])
    cursor.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY " + ('(id, "timestamp")' if partitioned else "(id)"))
    if not partitioned:
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_event_id_key UNIQUE (event_id)")
    for _, index in indexes:
        # A partitioned table's index reads "ON ONLY": recreated on either kind, it covers every partition.
        cursor.execute(index.replace(" ON ONLY ", " ON ", 1))
    for name, definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")
    cursor.execute(f"DROP TABLE {old}")
    for trigger in triggers:
        cursor.execute(trigger)


def table_partition(apps: Any, schema_editor: Any) -> None:
    """Migration 0015, forwards: ``analytics_blogview`` becomes partitioned by month, its event ids go to the
    ledger. PostgreSQL only."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        _swap(cursor, partitioned=True, progress=logger.info)
        cursor.execute(f"INSERT INTO {LEDGER} (event_id) SELECT event_id FROM {TABLE} WHERE event_id IS NOT NULL")
        cursor.execute(LEDGER_TRIGGERS)


def table_unpartition(apps: Any, schema_editor: Any) -> None:
    """Migration 0015, backwards: one plain table again, ``event_id`` unique in it."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(LEDGER_TRIGGERS_DROP)
        _swap(cursor, partitioned=False, progress=logger.info)
