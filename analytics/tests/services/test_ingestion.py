"""``views_ingest``: validation of every field, idempotency by event_id, one transaction (SPEC §1, §4, §7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from analytics.models import BlogView, DataVersion, ViewChange
from analytics.services import ingestion
from analytics.services.ingestion import (
    MAX_FUTURE_SKEW,
    MSG_BAD_EVENT_ID,
    MSG_BAD_IP,
    MSG_BAD_TIMESTAMP,
    MSG_EVENT_NOT_OBJECT,
    MSG_ID_OUT_OF_RANGE,
    MSG_NOT_INTEGER,
    MSG_NOT_STRING,
    MSG_NUL_CHARACTER,
    MSG_REQUIRED,
    MSG_TIMESTAMP_IN_FUTURE,
    MSG_TIMESTAMP_OUT_OF_RANGE,
    MSG_UNKNOWN_BLOG,
    MSG_UNKNOWN_COUNTRY,
    MSG_UNKNOWN_KEY,
    MSG_UNKNOWN_VIEWER,
    IngestResult,
    Rejection,
    views_ingest,
)
from analytics.tests.factories import BlogFactory, CountryFactory, UserFactory

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
EVENT_A, EVENT_B = "7d9f2c4e-1a3b-4c5d-8e6f-0a1b2c3d4e5f", "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture
def blog(db):
    CountryFactory.create(code="US")
    return BlogFactory.create(pk=10)


def ingest(*events: Any) -> IngestResult:
    return views_ingest(events=list(events), now=NOW)


def test_an_event_is_stored_with_every_field(blog):
    viewer = UserFactory.create(username="reader")
    result = ingest(
        {
            "blog_id": blog.pk,
            "country_code": "us",
            "viewer_id": viewer.pk,
            "ip_address": "2001:0db8:0000:0000:0000:0000:0000:0001",
            "timestamp": "2025-06-14T09:30:00.250+02:00",
            "event_id": EVENT_A.upper(),
        }
    )

    assert result == IngestResult(accepted=1, duplicates=0, rejected=())
    view = BlogView.objects.select_related("country").get()
    assert view.country is not None
    assert (view.blog_id, view.country.code, view.viewer_id) == (blog.pk, "US", viewer.pk)
    assert view.ip_address == "2001:db8::1"
    assert view.timestamp == datetime(2025, 6, 14, 7, 30, 0, 250_000, tzinfo=UTC)
    assert view.event_id == uuid.UUID(EVENT_A)


@pytest.mark.parametrize("absent", [{}, {"country_code": None, "viewer_id": None, "ip_address": None}])
def test_optional_fields_may_be_left_out_or_null(blog, absent):
    """A JSON null is the same as leaving the key out; the timestamp defaults to now."""
    assert ingest({"blog_id": blog.pk, "timestamp": None, "event_id": None, **absent}).accepted == 1
    view = BlogView.objects.get()
    assert (view.country_id, view.viewer_id, view.ip_address, view.event_id) == (None, None, None, None)
    assert view.timestamp == NOW


@pytest.mark.parametrize(
    ("timezone_name", "text", "expected"),
    [
        ("UTC", "2025-06-14T09:30:00", datetime(2025, 6, 14, 9, 30, tzinfo=UTC)),
        ("Europe/Berlin", "2025-06-14T09:30:00", datetime(2025, 6, 14, 7, 30, tzinfo=UTC)),
        ("Europe/Berlin", "2025-06-14T09:30:00Z", datetime(2025, 6, 14, 9, 30, tzinfo=UTC)),
        ("UTC", "2025-06-14 09:30:00-04:00", datetime(2025, 6, 14, 13, 30, tzinfo=UTC)),
    ],
)
def test_a_timestamp_without_offset_is_in_the_reporting_timezone(blog, timezone_name, text, expected):
    """SPEC §2: a datetime without an offset is in the reporting timezone."""
    with override_settings(TIME_ZONE=timezone_name):
        assert ingest({"blog_id": blog.pk, "timestamp": text}).accepted == 1
    assert BlogView.objects.get().timestamp == expected


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"blog_id": None}, "blog_id", MSG_REQUIRED),
        ({"blog_id": "10"}, "blog_id", MSG_NOT_INTEGER),
        ({"blog_id": 10.0}, "blog_id", MSG_NOT_INTEGER),
        ({"blog_id": True}, "blog_id", MSG_NOT_INTEGER),
        ({"blog_id": 0}, "blog_id", MSG_ID_OUT_OF_RANGE),
        ({"blog_id": 2**63}, "blog_id", MSG_ID_OUT_OF_RANGE),
        ({"blog_id": 11}, "blog_id", MSG_UNKNOWN_BLOG),
        ({"country_code": "ZZ"}, "country_code", MSG_UNKNOWN_COUNTRY),
        ({"country_code": "USA-LONGER"}, "country_code", MSG_UNKNOWN_COUNTRY),
        ({"country_code": ""}, "country_code", MSG_UNKNOWN_COUNTRY),
        ({"country_code": 1}, "country_code", MSG_NOT_STRING),
        ({"country_code": "U\x00S"}, "country_code", MSG_NUL_CHARACTER),
        ({"viewer_id": 999_999}, "viewer_id", MSG_UNKNOWN_VIEWER),
        ({"viewer_id": "1"}, "viewer_id", MSG_NOT_INTEGER),
        ({"viewer_id": -1}, "viewer_id", MSG_ID_OUT_OF_RANGE),
        ({"ip_address": "256.1.1.1"}, "ip_address", MSG_BAD_IP),
        ({"ip_address": "01.2.3.4"}, "ip_address", MSG_BAD_IP),
        ({"ip_address": "fe80::1%eth0"}, "ip_address", MSG_BAD_IP),
        ({"ip_address": "localhost"}, "ip_address", MSG_BAD_IP),
        ({"ip_address": 2130706433}, "ip_address", MSG_BAD_IP),
        ({"ip_address": "1.2.3.4\x00"}, "ip_address", MSG_NUL_CHARACTER),
        ({"timestamp": "2025-06-14"}, "timestamp", MSG_BAD_TIMESTAMP),  # a date names no instant
        ({"timestamp": "yesterday"}, "timestamp", MSG_BAD_TIMESTAMP),
        ({"timestamp": "2025-02-30T10:00:00Z"}, "timestamp", MSG_BAD_TIMESTAMP),
        ({"timestamp": 1718000000}, "timestamp", MSG_BAD_TIMESTAMP),
        ({"timestamp": "2025-06-14T10:00:00Z" + " " * 60}, "timestamp", MSG_BAD_TIMESTAMP),
        ({"timestamp": "2025-06-14T10:00\x00"}, "timestamp", MSG_NUL_CHARACTER),
        ({"timestamp": "1899-12-31T23:59:59Z"}, "timestamp", MSG_TIMESTAMP_OUT_OF_RANGE),
        ({"timestamp": "2101-01-01T00:00:00Z"}, "timestamp", MSG_TIMESTAMP_OUT_OF_RANGE),
        ({"timestamp": "2025-06-15T12:05:00.000001Z"}, "timestamp", MSG_TIMESTAMP_IN_FUTURE),
        ({"event_id": "not-a-uuid"}, "event_id", MSG_BAD_EVENT_ID),
        ({"event_id": 12345}, "event_id", MSG_BAD_EVENT_ID),
        ({"event_id": EVENT_A + "\x00"}, "event_id", MSG_NUL_CHARACTER),
        ({"colour": "red"}, "colour", MSG_UNKNOWN_KEY),
    ],
)
def test_every_rejection_reason(blog, changes, field, message):
    event = {"blog_id": blog.pk, "country_code": "US", **changes}
    event = {key: value for key, value in event.items() if value is not None}

    result = ingest(event)

    assert result == IngestResult(accepted=0, duplicates=0, rejected=(Rejection(0, {field: [message]}),))
    assert not BlogView.objects.exists()


@pytest.mark.parametrize("item", [[1], "event", 10, None])
def test_an_item_that_is_not_an_object_is_rejected(blog, item):
    assert ingest(item).rejected == (Rejection(0, {"": [MSG_EVENT_NOT_OBJECT]}),)


def test_every_reason_of_an_event_is_reported_at_once(blog):
    result = ingest({"blog_id": 99, "country_code": "ZZ", "timestamp": "soon", "event_id": "x", "extra": 1})
    assert result.rejected[0].errors == {
        "blog_id": [MSG_UNKNOWN_BLOG],
        "country_code": [MSG_UNKNOWN_COUNTRY],
        "timestamp": [MSG_BAD_TIMESTAMP],
        "event_id": [MSG_BAD_EVENT_ID],
        "extra": [MSG_UNKNOWN_KEY],
    }


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(MAX_FUTURE_SKEW, True), (MAX_FUTURE_SKEW + timedelta(microseconds=1), False), (-timedelta(days=3650), True)],
)
def test_events_up_to_five_minutes_ahead_and_any_late_event_are_accepted(blog, offset, accepted):
    assert ingest({"blog_id": blog.pk, "timestamp": (NOW + offset).isoformat()}).accepted == int(accepted)


def test_invalid_events_never_block_valid_ones(blog):
    result = ingest({"blog_id": blog.pk}, {"blog_id": "x"}, {"blog_id": blog.pk, "country_code": "us"}, {})

    assert (result.accepted, result.duplicates) == (2, 0)
    assert [(rejection.index, list(rejection.errors)) for rejection in result.rejected] == [
        (1, ["blog_id"]),
        (3, ["blog_id"]),
    ]
    assert BlogView.objects.count() == 2


def test_a_repeated_event_id_in_one_batch_keeps_the_first(blog):
    other = BlogFactory.create()
    spellings = [EVENT_A, EVENT_A.upper(), EVENT_A.replace("-", ""), f"urn:uuid:{EVENT_A}"]
    events = [{"blog_id": blog.pk, "event_id": spellings[0]}]
    events += [{"blog_id": other.pk, "event_id": spelling} for spelling in spellings[1:]]

    assert ingest(*events) == IngestResult(accepted=1, duplicates=3)
    assert BlogView.objects.get().blog_id == blog.pk


def test_an_event_id_stored_before_is_a_duplicate(blog):
    assert ingest({"blog_id": blog.pk, "event_id": EVENT_A}) == IngestResult(accepted=1, duplicates=0)
    retried = ingest({"blog_id": blog.pk, "event_id": EVENT_A}, {"blog_id": blog.pk, "event_id": EVENT_B})
    assert retried == IngestResult(accepted=1, duplicates=1)
    assert ingest({"blog_id": blog.pk, "event_id": EVENT_A}, {"blog_id": blog.pk, "event_id": EVENT_B}) == (
        IngestResult(accepted=0, duplicates=2)
    )
    assert BlogView.objects.count() == 2


def test_events_without_event_id_are_always_stored(blog):
    assert ingest({"blog_id": blog.pk}, {"blog_id": blog.pk}).accepted == 2
    assert ingest({"blog_id": blog.pk}).accepted == 1
    assert BlogView.objects.count() == 3


def test_a_database_failure_mid_batch_stores_nothing(blog, monkeypatch):
    """All valid events of a call are one transaction, even when they take several INSERT statements."""
    monkeypatch.setattr(ingestion, "MAX_STATEMENT_ROWS", 2)
    real_execute = ingestion._statement_execute
    calls = []

    def fail_second(cursor, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise DatabaseError("could not extend file: No space left on device")
        return real_execute(cursor, rows)

    monkeypatch.setattr(ingestion, "_statement_execute", fail_second)
    with pytest.raises(DatabaseError):
        ingest(*({"blog_id": blog.pk, "event_id": str(uuid.uuid4())} for _ in range(5)))

    assert calls == [2, 2]
    assert not BlogView.objects.exists()


def test_large_batches_split_into_statements_the_backend_accepts(blog, monkeypatch):
    events = [{"blog_id": blog.pk, "country_code": "US", "event_id": str(uuid.uuid4())} for _ in range(1_000)]
    events += events[:10]
    assert ingest(*events) == IngestResult(accepted=1_000, duplicates=10)
    assert BlogView.objects.count() == 1_000


def test_the_query_count_does_not_grow_with_the_batch(blog):
    """One lookup per kind (blogs, countries, viewers), then the insert: no query per event."""
    viewer = UserFactory.create()
    counts = []
    for size in (1, 100):
        events = [
            {"blog_id": blog.pk, "country_code": "us", "viewer_id": viewer.pk, "event_id": str(uuid.uuid4())}
            for _ in range(size)
        ]
        with CaptureQueriesContext(connection) as queries:
            assert ingest(*events).accepted == size
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 7


def test_stored_events_mark_their_hours_as_changed(blog):
    """The change triggers see the service's writes: the summaries re-read those days, the cache moves on."""
    ViewChange.objects.all().delete()
    version = DataVersion.objects.get(pk=1).value

    ingest({"blog_id": blog.pk, "timestamp": "2024-01-05T10:15:00Z"}, {"blog_id": blog.pk})

    buckets = set(ViewChange.objects.values_list("bucket", flat=True))
    assert buckets == {datetime(2024, 1, 5, 10, tzinfo=UTC), NOW}
    assert DataVersion.objects.get(pk=1).value > version


@pytest.mark.django_db(transaction=True)
def test_a_blog_deleted_before_the_commit_rejects_its_event(monkeypatch):
    """Foreign keys are checked at commit: the batch is validated again instead of failing whole."""
    kept, deleted = BlogFactory.create(), BlogFactory.create()
    deleted_id = deleted.pk
    deleted.delete()
    real_lookup = ingestion._existing_blog_ids
    lookups: list[set[int]] = []

    def stale_then_real(ids: set[int]) -> set[int]:
        lookups.append(ids)
        # The first lookup answers as if the blog still existed, the second sees it gone.
        return set(ids) if len(lookups) == 1 else real_lookup(ids)

    monkeypatch.setattr(ingestion, "_existing_blog_ids", stale_then_real)
    result = ingest({"blog_id": kept.pk}, {"blog_id": deleted_id})

    assert result == IngestResult(accepted=1, duplicates=0, rejected=(Rejection(1, {"blog_id": [MSG_UNKNOWN_BLOG]}),))
    assert list(BlogView.objects.values_list("blog_id", flat=True)) == [kept.pk]
    assert len(lookups) == 2
