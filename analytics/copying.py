"""Rows with blobs in bulk, both ways: ``COPY`` on PostgreSQL, the ORM elsewhere.

A summary row carries five blobs, and psycopg2 moves every ``bytea`` as hex text: two characters a byte that the
server formats and the client parses. Writes: ``bulk_create`` compiles each row's fields in Python and inlines
every blob as a quoted hex literal in one long statement that the server then parses; ``COPY ... FROM STDIN``
streams the same values as tab-separated text (``rows_write``). Reads: ``COPY (query) TO STDOUT`` in the binary
format hands over each blob's bytes as they are, length-prefixed (``rows_read`` for a queryset, ``statement_read``
for SQL of its own, such as the timelines' aggregates), 4× faster than the same query's hex (14 MB of blobs:
81–95 ms → 18–21 ms). Measured in docs/design.md ("Freshness: triggers, markers, one
transaction" and "Blobs leave the database as bytes").
"""

from __future__ import annotations

import functools
import io
import struct
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet


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


# --- reads ---------------------------------------------------------------------------------------------------
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_POSTGRES_EPOCH = date(2000, 1, 1)
_POSTGRES_EPOCH_UTC = datetime(2000, 1, 1, tzinfo=UTC)
_INTEGER = {2: struct.Struct("!h"), 4: struct.Struct("!i"), 8: struct.Struct("!q")}
_INT32 = struct.Struct("!i")
_INT16 = struct.Struct("!h")


def _integer(value: memoryview) -> int:
    return int(_INTEGER[len(value)].unpack(value)[0])


def _date(value: memoryview) -> date:
    return _POSTGRES_EPOCH + timedelta(days=_INT32.unpack(value)[0])


def _datetime(value: memoryview) -> datetime:
    return _POSTGRES_EPOCH_UTC + timedelta(microseconds=_INTEGER[8].unpack(value)[0])


def _text(value: memoryview) -> str:
    return str(value, "utf-8")


def _blob(value: memoryview) -> memoryview:
    return value


_INTEGERS = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
}
_DECODERS: dict[str, Callable[[memoryview], Any]] = {
    **dict.fromkeys(_INTEGERS, _integer),
    "DateField": _date,
    "DateTimeField": _datetime,
    "CharField": _text,
    "TextField": _text,
    "BinaryField": _blob,
}


def rows_read(rows: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The tuples of a ``values_list`` query, as iterating it gives them (blobs as ``memoryview``, datetimes in UTC).

    On PostgreSQL one ``COPY (query) TO STDOUT (FORMAT binary)`` (``statement_read``); elsewhere the query itself."""
    reading = connections[rows.db]
    if reading.vendor != "postgresql":
        return list(rows)
    compiler = rows.query.get_compiler(using=rows.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:  # a condition no row can meet (``__in=[]``): Django answers it without a query too
        return []
    kinds = [expression.output_field.get_internal_type() for expression, _, _ in compiler.select]
    return statement_read(reading, sql, params, ["BigIntegerField" if kind == "ForeignKey" else kind for kind in kinds])


def statement_read(reading: BaseDatabaseWrapper, sql: str, params: Any, kinds: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of a PostgreSQL ``SELECT`` whose columns are of these Django field types (``get_internal_type``:
    ``TextField`` for any text, ``BinaryField`` for ``bytea``), by one ``COPY (sql) TO STDOUT (FORMAT binary)``:
    the blobs arrive as bytes and are sliced out of one buffer without a copy. The statement passes the
    connection's execute wrappers and, when queries are logged, the query log, as any other statement does."""
    unknown = sorted({kind for kind in kinds if kind not in _DECODERS})
    if unknown:
        raise TypeError(f"binary COPY cannot decode {', '.join(unknown)}")
    decoders = [_DECODERS[kind] for kind in kinds]
    # COPY takes no parameters: psycopg2 binds them client-side (``mogrify``), as it does for any statement.
    statement = f"COPY ({reading.ops.compose_sql(sql, params)}) TO STDOUT (FORMAT binary)"  # type: ignore[attr-defined]
    sink = io.BytesIO()
    with reading.cursor() as cursor:

        def copy(sql: str, params: Any, many: bool, context: dict[str, Any]) -> None:
            with reading.wrap_database_errors:
                cursor.cursor.copy_expert(sql, sink)

        run: Callable[..., None] = copy
        for wrapper in reversed(reading.execute_wrappers):
            run = functools.partial(wrapper, run)
        started = time.monotonic()
        run(statement, None, False, {"connection": reading, "cursor": cursor})
        if reading.queries_logged:
            reading.queries_log.append({"sql": statement, "time": f"{time.monotonic() - started:.3f}"})
    return _binary_rows(sink.getbuffer(), decoders)


def _binary_rows(buffer: memoryview, decoders: list[Callable[[memoryview], Any]]) -> list[tuple[Any, ...]]:
    """The rows of a binary ``COPY`` output: a signature, flags and a header extension, then per row a field count
    and per field a length (-1: NULL) and its bytes, then a count of -1."""
    if bytes(buffer[: len(_SIGNATURE)]) != _SIGNATURE:
        raise ValueError("not the output of COPY ... (FORMAT binary)")
    at = len(_SIGNATURE) + 4
    at += 4 + _INT32.unpack_from(buffer, at)[0]
    rows: list[tuple[Any, ...]] = []
    while True:
        (fields,) = _INT16.unpack_from(buffer, at)
        at += 2
        if fields == -1:
            return rows
        if fields != len(decoders):
            raise ValueError(f"a COPY row of {fields} fields, {len(decoders)} expected")
        row: list[Any] = []
        for decoder in decoders:
            (length,) = _INT32.unpack_from(buffer, at)
            at += 4
            if length < 0:
                row.append(None)
            else:
                row.append(decoder(buffer[at : at + length]))
                at += length
        rows.append(tuple(row))
