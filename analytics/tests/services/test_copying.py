"""``copying.rows_write``: the fold's summary rows go in by COPY on PostgreSQL and come back as they were built,
blobs byte for byte (every byte value, the ones COPY's text format escapes among them), dates and UTC hours as
given."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from analytics.models import DailyAnalyticsSummary, HourlyAnalyticsSummary, PeriodAnalyticsSummary, SummaryBlock
from analytics.services.copying import rows_write

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
