"""One database snapshot for a unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from analytics.replicas import reading


@contextmanager
def repeatable_read(*, read_only: bool = False) -> Iterator[None]:
    """An atomic block that is one snapshot: REPEATABLE READ on PostgreSQL (SQLite's transactions already are).

    On the database the read path reads (``analytics.replicas.reading``: a replica inside ``fenced``, else the
    primary). Inside an outer transaction (tests) the isolation level is the outer one's: it can only be set first.
    """
    outermost = not reading.in_atomic_block
    with transaction.atomic(using=reading.alias):
        if outermost and reading.vendor == "postgresql":
            with reading.cursor() as cursor:
                cursor.execute(f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ{' READ ONLY' if read_only else ''}")
        yield
