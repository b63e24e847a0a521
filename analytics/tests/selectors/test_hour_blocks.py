"""Hour blocks (docs/design.md, "Hour blocks"): the fold's recent days get a block per UTC hour, so a day changed
since its fold is read raw only for the hours that changed. SPEC §4: every answer still equals the scan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from unittest import mock

import numpy as np
import pytest
from django.test import override_settings

from analytics.blockcodec import ALL_COUNTRIES, NO_COUNTRY
from analytics.filters import Endpoint, parse_query
from analytics.models import BlogView, HourlyAnalyticsSummary
from analytics.periods import local_date, local_midnight
from analytics.selectors import reference, summaries
from analytics.selectors.catalogue import catalogue
from analytics.selectors.coverage import HOUR
from analytics.services import folding
from analytics.services.folding import summaries_fold
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory

NOW = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)
ZONES = pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
EVERY_20_MINUTES = timedelta(minutes=20)
GROUPED = ("blog_views_by_country", "blog_views_by_author", "top_blogs", "top_authors", "top_countries", "totals")


@pytest.fixture
def day_of_views(db):  # type: ignore[no-untyped-def]
    """Views every 20 minutes over the last two days, across three blogs and two countries (and none)."""
    blogs = [BlogFactory() for _ in range(3)]
    countries = [CountryFactory(code="US"), CountryFactory(code="DE"), None]
    return [
        BlogViewFactory(
            blog=blogs[step % 3], country=countries[step % 3 - 1], timestamp=NOW - step * timedelta(minutes=20)
        )
        for step in range(1, 2 * 72)
    ]


def _answers_equal(body: Mapping[str, object]) -> None:
    query = parse_query(body, endpoint=Endpoint.TOP, now=NOW)
    for name in GROUPED:
        assert getattr(summaries, name)(query) == getattr(reference, name)(query), (name, body)
    timed = parse_query({**body, "compare": "day"}, endpoint=Endpoint.PERFORMANCE, now=NOW)
    assert summaries.performance(timed, now=NOW, x_metric="viewed") == reference.performance(
        timed, now=NOW, x_metric="viewed"
    )


def _blocks() -> dict[int, tuple[datetime, int]]:
    """Every hour block's ALL row: id → (start, hours)."""
    rows = HourlyAnalyticsSummary.objects.filter(country_key=ALL_COUNTRIES)
    return {row: (start, hours) for row, start, hours in rows.values_list("id", "start", "hours")}


def _coverage(start: datetime, end: datetime):  # type: ignore[no-untyped-def]
    return summaries._coverage([(start, end)], catalogue(parse_query({}, endpoint=Endpoint.TOP, now=NOW).filters))


@ZONES
def test_a_changed_hour_is_read_raw_and_the_rest_of_its_day_from_hour_blocks(day_of_views, zone):
    with override_settings(TIME_ZONE=zone), mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        changed = NOW - timedelta(hours=5, minutes=7)
        BlogViewFactory(blog=day_of_views[0].blog, country=day_of_views[1].country, timestamp=changed)
        day_of_views[4].delete()  # another hour, yesterday
        for body in ({"range": "day"}, {"range": "week"}, {"start_date": (NOW - timedelta(hours=30)).isoformat()}):
            _answers_equal(body)
        coverage = _coverage(local_midnight(local_date(NOW) - timedelta(days=1)), NOW)  # the recent days
        assert coverage.hours, "the unchanged hours of the changed days read their blocks"
        dirty = {changed.replace(minute=0), day_of_views[4].timestamp.replace(minute=0, second=0, microsecond=0)}
        for start, end, _ in coverage.raw:
            # Raw: the changed hours, the window's last partial hour and, in Kolkata, half hours at day edges.
            assert end - start <= HOUR or any(hour <= start and end <= hour + HOUR for hour in dirty), (start, end)
        summaries_fold()
        _answers_equal({"range": "week"})


def test_a_fold_rewrites_the_changed_hours_only(day_of_views):
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        before = _blocks()
        lengths = Counter(hours for _, hours in before.values())
        assert lengths == {1: 48, 2: 24, 4: 12, 8: 6}, "every hour of today and yesterday, viewed or not, and runs"
        late = NOW - timedelta(hours=3, minutes=1)  # 12:29 UTC
        BlogViewFactory(blog=day_of_views[0].blog, timestamp=late)
        summaries_fold()
        after = _blocks()
        rewritten = {block for row, block in after.items() if row not in before}
        twelve = late.replace(minute=0)
        assert rewritten == {(twelve, 1), (twelve, 2), (twelve, 4), (twelve - 4 * HOUR, 8)}, "and the runs holding it"
        _answers_equal({"range": "day"})
        BlogViewFactory(blog=day_of_views[1].blog, timestamp=NOW - timedelta(minutes=5))  # today changed again
        _answers_equal({"start_date": (NOW - timedelta(hours=6, minutes=10)).isoformat()})  # reads hour 12 again


def test_hour_blocks_of_days_no_longer_recent_are_dropped(day_of_views):
    """Hour blocks written while a day was recent must not outlive it: a late write to it three days on is folded
    with its day, and a window that starts inside that day must then not read the hour block written before."""
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
    later = NOW + timedelta(days=3)
    late = NOW - timedelta(hours=2, minutes=30)
    with mock.patch("django.utils.timezone.now", return_value=later):
        BlogViewFactory(blog=day_of_views[0].blog, timestamp=late)
        summaries_fold()
        assert not HourlyAnalyticsSummary.objects.filter(start__lt=datetime(2025, 3, 12, tzinfo=UTC)).exists()
        query = parse_query({"start_date": (NOW - timedelta(hours=4)).isoformat()}, endpoint=Endpoint.TOP, now=later)
        assert summaries.top_blogs(query) == reference.top_blogs(query)


def _unlogged_change(view: BlogView, how: str) -> None:
    """A change the insertion log does not hold: the view's country changes, or the view goes."""
    views = BlogView.objects.filter(pk=view.pk)
    views.update(country=None) if how == "updated" else views.delete()


UNLOGGED = pytest.mark.parametrize("how", ["updated", "deleted"])


@UNLOGGED
def test_unchanged_hours_are_read_from_the_longest_blocks_that_fit(day_of_views, how):
    """Today 00:00–15:30 UTC with 10:00 changed: blocks of 8, 2, 1, 2 and 1 hours, not 14 single hours."""
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        at_ten = day_of_views[15]
        assert at_ten.timestamp == NOW.replace(hour=10, minute=10) and at_ten.country is not None
        _unlogged_change(at_ten, how)
        midnight = NOW.replace(hour=0, minute=0)
        coverage = _coverage(midnight, NOW)
        assert coverage.hours == {
            (midnight, 8): 0,
            (midnight + 8 * HOUR, 2): 0,
            (midnight + 11 * HOUR, 1): 0,
            (midnight + 12 * HOUR, 2): 0,
            (midnight + 14 * HOUR, 1): 0,
        }
        assert coverage.raw == [(midnight + 10 * HOUR, midnight + 11 * HOUR, 0), (midnight + 15 * HOUR, NOW, 0)]
        _answers_equal({"range": "day"})


@ZONES
@UNLOGGED
def test_a_long_block_holding_a_changed_hour_waits_for_the_fold(day_of_views, zone, how):
    """A change to one hour of yesterday's 08:00–16:00 UTC block that the insertion log does not hold: no answer
    reads that block (it lacks the change) until the next fold rewrites it, and then they read it again."""
    yesterday_eight = NOW.replace(hour=8, minute=0) - timedelta(days=1)
    with override_settings(TIME_ZONE=zone), mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        assert (yesterday_eight, 8) in _blocks().values()
        at_thirteen = day_of_views[78]
        assert at_thirteen.timestamp == yesterday_eight + timedelta(hours=5, minutes=10) and at_thirteen.country
        _unlogged_change(at_thirteen, how)
        window = (yesterday_eight - HOUR, yesterday_eight + 9 * HOUR)
        assert (yesterday_eight, 8) not in _coverage(*window).hours
        body = {"start_date": window[0].isoformat(), "end_date": window[1].isoformat()}
        _answers_equal(body)
        _answers_equal({"range": "week"})
        summaries_fold()
        assert (yesterday_eight, 8) in _coverage(*window).hours
        _answers_equal(body)


@ZONES
def test_long_hour_blocks_lie_within_the_recent_days(day_of_views, zone):
    """A block of several hours is written only where every one of its hours belongs to the recent days, whose
    markers the fold rewrites it for; after the days move on, none starts before them."""
    with override_settings(TIME_ZONE=zone), mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        blocks = set(_blocks().values())
        first = local_midnight(local_date(NOW) - timedelta(days=1))
        end = local_midnight(local_date(NOW) + timedelta(days=1))
        recent = {start for start, hours in blocks if hours == 1}
        assert min(recent) <= first < min(recent) + HOUR and max(recent) < end <= max(recent) + HOUR
        longer = {(start, hours) for start, hours in blocks if hours > 1}
        assert len(longer) >= 36, "at least the 8-, 4- and 2-hour blocks of the two UTC days"
        for start, hours in longer:
            assert {start + step * HOUR for step in range(hours)} <= recent, (start, hours)
    later = NOW + timedelta(days=3)
    with override_settings(TIME_ZONE=zone), mock.patch("django.utils.timezone.now", return_value=later):
        BlogViewFactory(blog=day_of_views[0].blog, timestamp=later - timedelta(minutes=3))
        summaries_fold()
        cutoff = local_midnight(local_date(later) - timedelta(days=1)) - HOUR
        assert all(start >= cutoff for start, _ in _blocks().values())


def _packed_from_raw(start: datetime, hours: int) -> dict[int, dict[str, object]]:
    """The rows a block of ``hours`` hours from ``start`` must have, packed from the raw views: country key → fields."""
    views = BlogView.objects.filter(timestamp__gte=start, timestamp__lt=start + hours * HOUR)
    cells = Counter((view.country_id or NO_COUNTRY, view.blog_id) for view in views)
    ordered = [(key, blog, cells[key, blog]) for key, blog in sorted(cells)]
    keys, blogs, counts = (np.array([cell[at] for cell in ordered], dtype=np.int64) for at in range(3))
    block = folding.BlockCells(start, keys, blogs, counts)
    return {packed.country_key: packed.fields() for packed in folding._pack(iter([block] if ordered else []), (start,))}


@ZONES
def test_every_hour_block_holds_what_the_raw_views_of_its_hours_hold(day_of_views, zone):
    """The 2-, 4- and 8-hour blocks are merged from the single-hour blocks, not read from the raw views again: each
    of their rows, byte for byte, is the row packed from the raw views of its hours, after a full fold and after an
    incremental one that rewrote some of them (and a row with no country)."""
    with override_settings(TIME_ZONE=zone), mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        BlogViewFactory(blog=day_of_views[0].blog, country=None, timestamp=NOW - timedelta(hours=3, minutes=1))
        BlogViewFactory(blog=day_of_views[1].blog, timestamp=NOW - timedelta(hours=26))
        summaries_fold()
    blocks = set(_blocks().values())
    assert {hours for _, hours in blocks} == {1, 2, 4, 8}
    for start, hours in blocks:
        rows = HourlyAnalyticsSummary.objects.filter(start=start, hours=hours)
        stored = {row.country_key: {name: _plain(getattr(row, name)) for name in _FIELDS} for row in rows}
        expected = _packed_from_raw(start, hours)
        assert stored == {key: {name: fields[name] for name in _FIELDS} for key, fields in expected.items()}, (
            start,
            hours,
        )


_FIELDS = ("blog_ids", "view_counts", "all_counts", "blog_bits", "country_matrix", "total_views", "unique_blogs")


def _plain(value: object) -> object:
    return bytes(value) if isinstance(value, memoryview) else value


@ZONES
def test_a_run_over_an_hour_with_no_block_comes_from_the_raw_views(day_of_views, zone):
    """A run is merged from single-hour blocks only when each of its hours has one; an hour without (a recent day
    folded before hour blocks existed) makes the run come from the raw views, as packed from them."""
    start = NOW.replace(hour=0, minute=0)
    with override_settings(TIME_ZONE=zone), mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        HourlyAnalyticsSummary.objects.filter(start=start + 3 * HOUR, hours=1).delete()
        assert BlogView.objects.filter(timestamp__gte=start + 3 * HOUR, timestamp__lt=start + 4 * HOUR).exists()
        run = {packed.country_key: packed.fields() for packed in folding._rolled_hours(start, 8)}
    assert run == _packed_from_raw(start, 8)
