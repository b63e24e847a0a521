"""One database snapshot for a unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def repeatable_read(*, read_only: bool = False) -> Iterator[None]:
    """An atomic block that is one snapshot: REPEATABLE READ on PostgreSQL (SQLite's transactions already are).

    Inside an outer transaction (tests) the isolation level is the outer one's: it can only be set first.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ{' READ ONLY' if read_only else ''}")
        yield
