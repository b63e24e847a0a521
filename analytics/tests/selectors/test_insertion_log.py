"""The insertion log (docs/design.md, "The insertion log"): views inserted since the fold are added to the blocks
folded before them, so a late write to an old day costs what it inserted, not a raw read of the day. SPEC §4:
every answer still equals the scan; any other kind of change still reads its hours raw until the fold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import cast
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import override_settings

from analytics.filters import Endpoint, parse_query
from analytics.models import Blog, BlogView, Country, ViewChange, ViewInsertion
from analytics.periods import changed_days, local_date, local_midnight
from analytics.selectors import reference, summaries
from analytics.selectors.catalogue import catalogue
from analytics.services.folding import summaries_fold
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory
from analytics.triggers import LOGGED_ROWS_MAX

NOW = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)
ZONES = pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
GROUPED = ("blog_views_by_country", "blog_views_by_author", "top_blogs", "top_authors", "top_countries", "totals")
# Kolkata's midnight is 18:30 UTC: this instant is 00:10 on 2025-02-21 there, inside a UTC hour that began on the
# 20th. Logged by the hour, its view would be added to the wrong day.
ACROSS_MIDNIGHT = datetime(2025, 2, 20, 18, 40, tzinfo=UTC)


@pytest.fixture
def weeks_of_views(db):  # type: ignore[no-untyped-def]
    """Views every 7 hours over the 60 days before NOW, across three blogs and two countries (and none)."""
    blogs = [cast(Blog, BlogFactory()) for _ in range(3)]
    countries = [cast(Country, CountryFactory(code="US")), cast(Country, CountryFactory(code="DE")), None]
    BlogView.objects.bulk_create(
        BlogView(blog=blogs[step % 3], country=countries[step % 3 - 1], timestamp=NOW - step * timedelta(hours=7))
        for step in range(1, 206)
    )
    return blogs, countries


def _answers_equal(body: Mapping[str, object]) -> None:
    query = parse_query(body, endpoint=Endpoint.TOP, now=NOW)
    for name in GROUPED:
        assert getattr(summaries, name)(query) == getattr(reference, name)(query), (name, body)
    for by in ("day", "week"):
        timed = parse_query({**body, "compare": by}, endpoint=Endpoint.PERFORMANCE, now=NOW)
        assert summaries.performance(timed, now=NOW, x_metric="viewed") == reference.performance(
            timed, now=NOW, x_metric="viewed"
        ), (by, body)


def _coverage(start: datetime, end: datetime):  # type: ignore[no-untyped-def]
    return summaries._coverage([(start, end)], catalogue(parse_query({}, endpoint=Endpoint.TOP, now=NOW).filters))


def _whole_days(first: date, last: date) -> tuple[datetime, datetime]:
    return local_midnight(first), local_midnight(last + timedelta(days=1))


def _days_of(ranges: list[tuple[datetime, datetime, int]]) -> set[date]:
    days = set()
    for start, end, _ in ranges:
        day = local_date(start)
        while local_midnight(day) < end:
            days.add(day)
            day += timedelta(days=1)
    return days


def test_inserts_are_logged_by_quarter_hour_blog_and_country(weeks_of_views):
    """The insert trigger, whatever the way in (one row, a batch, raw SQL), marks its hours INSERTED and logs
    the views per quarter hour, blog and country key (0: no country); an update or a delete marks CHANGED and
    logs nothing."""
    blogs, countries = weeks_of_views
    ViewChange.objects.all().delete()
    ViewInsertion.objects.all().delete()
    BlogView.objects.create(blog=blogs[0], country=countries[0], timestamp=datetime(2025, 3, 1, 7, 14, tzinfo=UTC))
    BlogView.objects.bulk_create(
        BlogView(blog=blogs[1], country=None, timestamp=datetime(2025, 3, 1, 7, minute, tzinfo=UTC))
        for minute in (15, 29, 44)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {BlogView._meta.db_table} (blog_id, country_id, "timestamp") VALUES (%s, %s, %s)',
            [blogs[0].id, countries[0].id, datetime(2025, 3, 1, 7, 59, tzinfo=UTC)],
        )
    logged: Counter[tuple[str, int, int]] = Counter()  # PostgreSQL logs a row per statement and cell, SQLite per view
    for bucket, blog, key, views in ViewInsertion.objects.values_list("bucket", "blog_id", "country_key", "views"):
        logged[(bucket.astimezone(UTC).strftime("%H:%M"), blog, key)] += views
    us = countries[0].id
    assert logged == {("07:00", blogs[0].id, us): 1, ("07:15", blogs[1].id, 0): 2, ("07:30", blogs[1].id, 0): 1,
                      ("07:45", blogs[0].id, us): 1}  # fmt: skip
    assert set(ViewChange.objects.values_list("kind", flat=True)) == {ViewChange.Kind.INSERTED}
    ViewChange.objects.all().delete()
    BlogView.objects.filter(blog=blogs[1], timestamp__hour=7).update(country=countries[1])
    BlogView.objects.filter(blog=blogs[0], timestamp__hour=7).delete()
    assert set(ViewChange.objects.values_list("kind", flat=True)) == {ViewChange.Kind.CHANGED}
    assert ViewInsertion.objects.aggregate(Sum("views"))["views__sum"] == 5, "an update or a delete logs nothing"


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's row triggers cannot count a statement: they log every row"
)
def test_a_statement_of_many_rows_is_not_logged(weeks_of_views):
    """A backfill (more than LOGGED_ROWS_MAX rows in one statement) marks its hours CHANGED: they read raw until
    the fold, as they did before the log, rather than doubling the backfill's writes."""
    blogs, _ = weeks_of_views
    ViewChange.objects.all().delete()
    start = datetime(2025, 1, 5, tzinfo=UTC)

    def one_statement(blog, rows: int) -> None:  # type: ignore[no-untyped-def]
        views = (BlogView(blog=blog, timestamp=start + offset * timedelta(seconds=1)) for offset in range(rows))
        BlogView.objects.bulk_create(views, batch_size=rows)

    ViewInsertion.objects.all().delete()  # the fixture's own views
    one_statement(blogs[0], LOGGED_ROWS_MAX)
    assert set(ViewChange.objects.values_list("kind", flat=True)) == {ViewChange.Kind.INSERTED}
    assert ViewInsertion.objects.aggregate(Sum("views"))["views__sum"] == LOGGED_ROWS_MAX
    ViewChange.objects.all().delete()
    ViewInsertion.objects.all().delete()
    one_statement(blogs[1], LOGGED_ROWS_MAX + 1)
    assert set(ViewChange.objects.values_list("kind", flat=True)) == {ViewChange.Kind.CHANGED}
    assert not ViewInsertion.objects.exists()


@ZONES
def test_a_late_insert_to_an_old_day_reads_its_block_and_the_log(weeks_of_views, zone):
    """Inserts into days weeks old, after their fold: the day blocks and the trailing blocks still answer, plus
    the log's rows for those days; no raw range. After the next fold the log is empty and the blocks hold them."""
    blogs, countries = weeks_of_views
    with override_settings(TIME_ZONE=zone), mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        BlogViewFactory(blog=blogs[0], country=countries[1], timestamp=ACROSS_MIDNIGHT)
        BlogViewFactory(blog=blogs[2], country=None, timestamp=datetime(2025, 2, 3, 11, 5, tzinfo=UTC))
        BlogViewFactory(blog=blogs[1], country=countries[0], timestamp=datetime(2025, 2, 3, 23, 55, tzinfo=UTC))
        changed = {local_date(at) for at in (ACROSS_MIDNIGHT, datetime(2025, 2, 3, 11, 5, tzinfo=UTC))}
        changed.add(local_date(datetime(2025, 2, 3, 23, 55, tzinfo=UTC)))
        coverage = _coverage(*_whole_days(date(2025, 2, 1), date(2025, 2, 28)))
        assert coverage.raw == []
        assert changed <= set(coverage.whole_days()), "each read from a block: its day's, or the month's"
        marked = changed_days(ViewChange.objects.values_list("bucket", flat=True))
        assert changed <= marked == _days_of(coverage.logged), "the log read for every marked day, and no other"
        year = _coverage(*_whole_days(local_date(NOW) - timedelta(days=364), local_date(NOW) - timedelta(days=1)))
        assert len(year.periods) == 1 and not year.days and not year.raw, "the trailing year's block, and the log"
        for body in ({"range": "year"}, {"range": "month"}, {"start_date": "2025-02-03", "end_date": "2025-02-21"},
                     {"start_date": ACROSS_MIDNIGHT.isoformat(), "end_date": "2025-02-22"}):  # fmt: skip
            _answers_equal(body)
        summaries_fold()
        assert not ViewInsertion.objects.exists() and not ViewChange.objects.exists()
        assert _coverage(*_whole_days(date(2025, 2, 1), date(2025, 2, 28))).logged == []
        _answers_equal({"range": "year"})


@ZONES
def test_a_day_with_another_change_reads_raw(weeks_of_views, zone):
    """A day that gained views and lost one since its fold: the log cannot say what went, so the day is raw."""
    blogs, countries = weeks_of_views
    with override_settings(TIME_ZONE=zone), mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        at_six = datetime(2025, 2, 3, 6, tzinfo=UTC)
        inserted = BlogView.objects.create(blog=blogs[0], country=countries[0], timestamp=at_six)
        day = local_date(inserted.timestamp)
        gone = BlogView.objects.filter(timestamp__gte=_whole_days(day, day)[0]).exclude(pk=inserted.pk)
        gone.filter(pk=gone.order_by("timestamp").values_list("pk", flat=True)[:1]).delete()
        coverage = _coverage(*_whole_days(day - timedelta(days=3), day + timedelta(days=3)))
        assert day not in coverage.days and day in _days_of(coverage.raw)
        assert coverage.logged == []
        _answers_equal({"start_date": (day - timedelta(days=3)).isoformat(), "end_date": day.isoformat()})
        _answers_equal({"range": "year"})


def test_a_fold_that_leaves_a_day_marked_leaves_it_raw(weeks_of_views):
    """A fold of the last few days only (``--days``) deletes the whole log, so the older day it leaves marked can
    no longer be told from its log: its marker becomes CHANGED and the day reads raw until a fold reaches it."""
    blogs, countries = weeks_of_views
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        BlogViewFactory(blog=blogs[0], country=countries[0], timestamp=datetime(2025, 2, 3, 6, tzinfo=UTC))
        BlogViewFactory(blog=blogs[1], country=countries[1], timestamp=NOW - timedelta(hours=1))
        summaries_fold(days=3)
        assert not ViewInsertion.objects.exists()
        assert set(ViewChange.objects.values_list("kind", flat=True)) == {ViewChange.Kind.CHANGED}
        coverage = _coverage(*_whole_days(date(2025, 2, 1), date(2025, 2, 5)))
        assert date(2025, 2, 3) in _days_of(coverage.raw)
        _answers_equal({"range": "year"})
        _answers_equal({"start_date": "2025-02-01", "end_date": "2025-02-05"})
