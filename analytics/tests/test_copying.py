"""``copying``: the fold's summary rows go in by COPY on PostgreSQL and come back as they were built, blobs byte
for byte (every byte value, the ones COPY's text format escapes among them), dates and UTC hours as given; the read
path's binary COPY gives what iterating the same query gives, and passes what every statement passes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import Value
from django.test.utils import CaptureQueriesContext

from analytics.copying import rows_read, rows_write, statement_read
from analytics.models import (
    BlogView,
    DailyAnalyticsSummary,
    HourlyAnalyticsSummary,
    PeriodAnalyticsSummary,
    SummaryBlock,
)

EVERY_BYTE = bytes(range(256))  # tab, newline, carriage return and backslash included


def _blobs(seed: int) -> dict[str, object]:
    return {
        "country_key": seed - 1,
        "total_views": 10**12 + seed,
        "unique_blogs": seed,
        "blog_ids": EVERY_BYTE,
        "view_counts": b"\\x00\t\n" * seed,
        "blog_bits": b"",
        "country_matrix": EVERY_BYTE[::-1],
        "all_counts": bytes([92, 78]),  # a backslash and an N: COPY's NULL marker if left unescaped
    }


def _stored(model: type[SummaryBlock], names: list[str]) -> list[dict[str, object]]:
    rows = model._default_manager.order_by("country_key").values(*names)
    return [
        {name: bytes(value) if isinstance(value, memoryview) else value for name, value in row.items()} for row in rows
    ]


@pytest.mark.django_db
def test_summary_rows_come_back_as_written():
    days = [DailyAnalyticsSummary(date=date(2025, 3, 10), **_blobs(seed)) for seed in (0, 1, 2)]
    hours = [
        HourlyAnalyticsSummary(start=datetime(2025, 3, 10, 13, tzinfo=UTC), hours=8, **_blobs(seed)) for seed in (5, 6)
    ]
    periods = [PeriodAnalyticsSummary(granularity="364d", start=date(2024, 3, 11), **_blobs(7))]
    assert [rows_write(rows) for rows in (days, hours, periods, [])] == [3, 2, 1, 0]
    names = list(_blobs(0))
    assert _stored(DailyAnalyticsSummary, ["date", *names]) == [
        {"date": date(2025, 3, 10), **_blobs(seed)} for seed in (0, 1, 2)
    ]
    assert _stored(HourlyAnalyticsSummary, ["start", "hours", *names]) == [
        {"start": datetime(2025, 3, 10, 13, tzinfo=UTC), "hours": 8, **_blobs(seed)} for seed in (5, 6)
    ]
    assert _stored(PeriodAnalyticsSummary, ["granularity", "start", *names]) == [
        {"granularity": "364d", "start": date(2024, 3, 11), **_blobs(7)}
    ]


def _written() -> None:
    rows_write([DailyAnalyticsSummary(date=date(2025, 3, 10 + seed), **_blobs(seed)) for seed in (0, 1, 2)])
    rows_write([HourlyAnalyticsSummary(start=datetime(2025, 3, 10, 13, tzinfo=UTC), hours=8, **_blobs(5))])
    rows_write([PeriodAnalyticsSummary(granularity="364d", start=date(2024, 3, 11), **_blobs(7))])


def _plain(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(bytes(value) if isinstance(value, memoryview) else value for value in row) for row in rows]


@pytest.mark.django_db
def test_rows_read_gives_what_iterating_the_query_gives():
    _written()
    names = list(_blobs(0))
    queries = [
        DailyAnalyticsSummary.objects.order_by("date").values_list("date", *names),
        DailyAnalyticsSummary.objects.filter(country_key__gte=0).order_by("date").values_list("date", "blog_ids"),
        DailyAnalyticsSummary.objects.filter(country_key=99).values_list("date", "blog_ids"),  # no row
        DailyAnalyticsSummary.objects.filter(country_key__in=[]).values_list("date", "blog_ids"),  # no query
        HourlyAnalyticsSummary.objects.values_list("start", "hours", *names),
        PeriodAnalyticsSummary.objects.values_list("granularity", "start", "id", *names),
    ]
    for query in queries:
        assert _plain(rows_read(query)) == _plain(list(query))
    assert [row[1:3] for row in rows_read(queries[0])] == [(-1, 10**12), (0, 10**12 + 1), (1, 10**12 + 2)]
    assert rows_read(queries[4])[0][0] == datetime(2025, 3, 10, 13, tzinfo=UTC)


@pytest.mark.django_db
def test_rows_read_passes_the_execute_wrappers_and_the_query_log():
    _written()
    seen: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as logged, connection.execute_wrapper(record):
        rows = rows_read(DailyAnalyticsSummary.objects.values_list("date", "blog_bits"))
    assert len(rows) == 3
    assert len(seen) == 1
    assert [query["sql"] for query in logged.captured_queries] == seen
    if connection.vendor == "postgresql":
        assert seen[0].startswith("COPY (SELECT") and seen[0].endswith("TO STDOUT (FORMAT binary)")


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's; elsewhere the ORM reads")
def test_rows_read_refuses_a_column_it_cannot_decode():
    with pytest.raises(TypeError, match="FloatField"):
        rows_read(BlogView.objects.annotate(share=Value(0.5)).values_list("id", "share"))


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="statement_read is PostgreSQL's binary COPY")
def test_statement_read_gives_what_the_cursor_gives_for_text_and_bytes():
    """The timelines' aggregates (``coverage._timeline_runs``): text, bytea and NULL, every byte value."""
    _written()
    sql = (
        "SELECT string_agg(country_key::text, ',' ORDER BY date), string_agg(view_counts || blog_ids, ''::bytea"
        " ORDER BY date), %s::text, NULL::bytea FROM analytics_dailyanalyticssummary WHERE date >= %s"
    )
    params: list[Any] = ["naïve ✓ \\ \t", date(2025, 3, 11)]
    kinds = ("TextField", "BinaryField", "TextField", "BinaryField")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        expected = cursor.fetchall()
    rows = statement_read(connection, sql, params, kinds)
    assert _plain(rows) == _plain(expected)
    assert rows[0][0] == "0,1" and rows[0][2] == "naïve ✓ \\ \t" and rows[0][3] is None
    assert bytes(rows[0][1]) == b"\\x00\t\n" + EVERY_BYTE + b"\\x00\t\n" * 2 + EVERY_BYTE
