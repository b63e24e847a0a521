"""SPEC §10, partitioned raw events (PostgreSQL): months, the DEFAULT partition, the event-id ledger, migration 0015.

The whole suite already runs on the partitioned table in the PostgreSQL leg (the differential, scoped, trigger,
ingestion and fault tests); the conftest adds month partitions from 2025-01 so its views fall in many of them.
These tests pin down what partitioning itself adds: where rows go, that moving them changes nothing an answer can
see, that ``event_id`` stays exactly as unique as the unique constraint kept it (SPEC §7, idempotent ingestion),
and that migration 0015 converts an existing table both ways.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from analytics.api.cache import data_version
from analytics.models import BlogView, ViewChange, ViewEventId
from analytics.services.ingestion import views_ingest
from analytics.services.partitions import DEFAULT_PARTITION, is_partitioned, partition_name, partitions_ensure
from analytics.tests.conftest import ALL_QUERY_URLS, Dataset, at
from analytics.tests.factories import BlogViewFactory
from analytics.tests.faults.support import child_env, is_postgresql, postgres_url, reference_answer
from bench.processes import REPO_ROOT, postgres_execute

pytestmark = pytest.mark.skipif(
    not is_postgresql(), reason="Partitions are PostgreSQL's (SPEC §10): SQLite keeps one table; the PostgreSQL leg"
)


def _partition_of(view: Any) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM analytics_blogview WHERE id = %s", [view.pk])
        return str(cursor.fetchone()[0])


def _ledger_matches_the_table() -> bool:
    ids = set(BlogView.objects.exclude(event_id=None).values_list("event_id", flat=True))
    return ids == set(ViewEventId.objects.values_list("event_id", flat=True))


def test_the_views_table_is_partitioned_by_month_with_a_default(dataset: Dataset) -> None:
    assert is_partitioned()
    june = BlogViewFactory(blog=dataset.b1, timestamp=at("2025-06-30T23:59"))
    july = BlogViewFactory(blog=dataset.b1, timestamp=at("2025-07-01T00:00"))
    ancient = BlogViewFactory(blog=dataset.b1, timestamp=at("2001-02-03T04:05"))
    assert _partition_of(june) == partition_name(at("2025-06-01T00:00").date())
    assert _partition_of(july) == partition_name(at("2025-07-01T00:00").date())
    assert _partition_of(ancient) == DEFAULT_PARTITION


def test_moving_rows_out_of_the_default_partition_changes_no_answer_and_no_version(
    dataset: Dataset, api_client: APIClient
) -> None:
    stranded = [BlogViewFactory(blog=dataset.b2, timestamp=at(f"2001-02-0{day}T10:00")) for day in (1, 2, 3)]
    BlogViewFactory(blog=dataset.b3, timestamp=at("2001-03-09T10:00"), event_id=uuid.uuid4())
    body = {"start_date": "2001-01-01", "end_date": "2025-06-15"}
    before = [reference_answer(url, body) for url in ALL_QUERY_URLS]
    version, changes = data_version(), ViewChange.objects.count()

    result = partitions_ensure(now=datetime(2025, 6, 15, tzinfo=UTC))

    february, march = partition_name(at("2001-02-01T00:00").date()), partition_name(at("2001-03-01T00:00").date())
    assert {february, march} <= set(result.created)
    assert result.moved_rows == 4
    assert {_partition_of(view) for view in stranded} == {february}
    # The same rows: no write an answer could see, so nothing to refold and no cached answer to drop.
    assert (data_version(), ViewChange.objects.count()) == (version, changes)
    assert [reference_answer(url, body) for url in ALL_QUERY_URLS] == before
    assert [api_client.post(url, body, format="json").json() for url in ALL_QUERY_URLS] == before
    assert _ledger_matches_the_table()
    assert partitions_ensure(now=datetime(2025, 6, 15, tzinfo=UTC)).created == ()


# --- event ids: exactly as unique as the unique constraint kept them ----------------------------------------------
def _fails_as_a_duplicate(write: Any) -> bool:
    try:
        with transaction.atomic():
            write()
    except IntegrityError:
        return True
    return False


def test_every_write_path_keeps_event_ids_unique_across_partitions(dataset: Dataset) -> None:
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    BlogView.objects.create(blog=dataset.b1, timestamp=at("2025-02-01T00:00"), event_id=first)
    other_month = at("2025-09-01T00:00")
    assert _fails_as_a_duplicate(
        lambda: BlogView.objects.create(blog=dataset.b2, timestamp=other_month, event_id=first)
    )
    assert _fails_as_a_duplicate(
        lambda: BlogView.objects.bulk_create(
            [BlogView(blog=dataset.b2, timestamp=other_month, event_id=second) for _ in range(2)]
        )
    )
    moved = BlogView.objects.create(blog=dataset.b2, timestamp=other_month, event_id=second)
    # An update may not take an id another view holds; it may take a free one, freeing its own.
    assert _fails_as_a_duplicate(lambda: BlogView.objects.filter(pk=moved.pk).update(event_id=first))
    BlogView.objects.filter(pk=moved.pk).update(event_id=third)
    BlogView.objects.create(blog=dataset.b3, timestamp=other_month, event_id=second)
    # Moving a view to another month's partition keeps its id.
    BlogView.objects.filter(event_id=third).update(timestamp=at("2025-03-03T03:00"))
    assert _fails_as_a_duplicate(
        lambda: BlogView.objects.create(blog=dataset.b1, timestamp=other_month, event_id=third)
    )
    # A delete frees its id.
    BlogView.objects.filter(event_id=first).delete()
    BlogView.objects.create(blog=dataset.b3, timestamp=other_month, event_id=first)
    assert _ledger_matches_the_table()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no deferred foreign-key check
        cursor.execute("TRUNCATE analytics_blogview")
    assert ViewEventId.objects.count() == 0


def test_a_view_moved_to_another_months_partition_marks_both_hours(dataset: Dataset) -> None:
    ViewChange.objects.all().delete()
    BlogView.objects.filter(blog=dataset.b2).update(timestamp=at("2025-01-20T05:45"))
    hours = set(ViewChange.objects.values_list("bucket", flat=True))
    assert {at("2025-01-20T05:00"), at("2025-06-14T08:00")} <= hours


@pytest.mark.django_db(transaction=True)
def test_an_event_id_stored_by_a_concurrent_request_is_a_duplicate_not_an_error(dataset: Dataset) -> None:
    """Request A has stored X and not committed; B sends X and Y. B waits on the ledger's key, then retries, and
    skips X: one view of X, one of Y, no error."""
    taken, fresh = uuid.uuid4(), uuid.uuid4()
    holding, release = threading.Event(), threading.Event()

    def request_a() -> None:
        try:
            with transaction.atomic():
                views_ingest(events=[{"blog_id": dataset.b1.pk, "event_id": str(taken)}], now=at("2025-06-15T12:00"))
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=request_a)
    thread.start()
    assert holding.wait(10)
    threading.Timer(0.5, release.set).start()
    result = views_ingest(
        events=[{"blog_id": dataset.b2.pk, "event_id": str(event)} for event in (taken, fresh)],
        now=at("2025-06-15T12:00"),
    )
    thread.join(10)
    assert (result.accepted, result.duplicates, result.rejected) == (1, 1, ())
    assert sorted(BlogView.objects.filter(event_id__in=[taken, fresh]).values_list("blog_id", flat=True)) == sorted(
        [dataset.b1.pk, dataset.b2.pk]
    )
    assert _ledger_matches_the_table()


# --- migration 0015, both ways, on a database of its own ----------------------------------------------------------
@pytest.mark.slow
def test_migration_0015_converts_an_existing_table_and_back() -> None:
    name = f"ideeza_partition_{uuid.uuid4().hex[:8]}"
    postgres_execute(postgres_url(name="postgres"), f"CREATE DATABASE {name}")
    env = child_env(DATABASE_URL=postgres_url(name=name))

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def psql(statement: str) -> list[tuple[Any, ...]]:
        return postgres_execute(postgres_url(name=name), statement)

    try:
        manage("migrate", "analytics", "0014", "-v0")
        manage("seed_data", "--views", "3000", "--blogs", "20", "--authors", "4", "--days", "90")
        psql(
            "INSERT INTO analytics_blogview (blog_id, timestamp, event_id) SELECT min(id), now() - interval '1 day', "
            "gen_random_uuid() FROM analytics_blog CROSS JOIN generate_series(1, 5) GROUP BY generate_series"
        )
        rows = "SELECT count(*), max(id), count(event_id), sum(blog_id), min(timestamp) FROM analytics_blogview"
        before = psql(rows)

        manage("migrate", "analytics", "-v0")
        assert psql(rows) == before
        assert psql("SELECT relkind FROM pg_class WHERE relname = 'analytics_blogview'") == [("p",)]
        assert psql("SELECT count(*) FROM analytics_vieweventid") == [(5,)]
        assert psql("SELECT count(*) FROM analytics_blogview_default") == [(0,)]
        new_id = psql(
            "INSERT INTO analytics_blogview (blog_id, timestamp) SELECT min(id), now() FROM analytics_blog RETURNING id"
        )
        assert new_id[0][0] > before[0][1]  # the identity goes on from where it was
        psql("DELETE FROM analytics_blogview WHERE id = (SELECT max(id) FROM analytics_blogview)")

        manage("migrate", "analytics", "0014", "-v0")
        assert psql(rows) == before
        assert psql("SELECT relkind FROM pg_class WHERE relname = 'analytics_blogview'") == [("r",)]
        assert psql(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'analytics_blogview'::regclass AND contype = 'u'"
        ) == [(1,)]
        manage("migrate", "analytics", "-v0")
        assert psql(rows) == before
    finally:
        postgres_execute(postgres_url(name="postgres"), f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
