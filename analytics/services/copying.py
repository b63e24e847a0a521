"""Bulk writes of derived rows: ``COPY`` on PostgreSQL, ``bulk_create`` elsewhere.

A summary row carries five blobs. ``bulk_create`` compiles each row's fields in Python and psycopg2 inlines every
``bytea`` as a quoted hex literal in one long statement that the server then parses; ``COPY ... FROM STDIN``
streams the same values as tab-separated text. Measured in docs/design.md ("Freshness: triggers, markers, one
transaction").
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from django.db import connection, models


def rows_write(rows: Sequence[models.Model]) -> int:
    """Insert ``rows`` (instances of one model, primary keys unset); returns how many."""
    if not rows:
        return 0
    model = type(rows[0])
    if connection.vendor != "postgresql":
        return len(model._default_manager.bulk_create(rows))
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    # Bytes, not text: a StringIO keeps 4 bytes per character, and a batch holds up to 8 MB of blobs (16 MB as hex).
    lines = b"".join(
        "\t".join(_copy_text(getattr(row, field.attname)) for field in fields).encode() + b"\n" for row in rows
    )
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    with connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN", io.BytesIO(lines)
        )
    return len(rows)


def _copy_text(value: object) -> str:
    """One value in COPY's text format: ``bytea`` as hex (``\\x``, its backslash escaped), dates and aware
    datetimes in ISO 8601, text with COPY's special characters escaped."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()
    if isinstance(value, date):  # datetimes too: isoformat keeps the offset
        return value.isoformat()
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    if value is None:
        return "\\N"
    return str(value)
