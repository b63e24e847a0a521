"""The raw part of an answer (docs/design.md, "Hour blocks"): the events of a coverage's raw ranges as (span, blog,
country, views) cells, each event in the span of its reporting-timezone day. SPEC §4: the cells are what a scan of
those events counts, on SQLite and on PostgreSQL, for one span (events read ungrouped, grouped by numpy) and for
many (one ``GROUP BY`` of day, blog and country; a performance answer over a year of changed days has hundreds)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.test import override_settings
from hypothesis import example, given
from hypothesis import strategies as st

from analytics.blockcodec import NO_COUNTRY
from analytics.models import Blog, BlogView
from analytics.periods import local_date, local_midnight
from analytics.selectors.coverage import Cells, Coverage, _counted_pairs, _touching_merged, raw_cells, raw_ranges_q
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory

START = datetime(2025, 3, 10, tzinfo=UTC)
ZONES = pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])


def _counted(cells: Cells) -> Counter[tuple[int, int, int]]:
    """Views per (span, blog, country); a span's days may each bring their own cell, as blocks do."""
    counted: Counter[tuple[int, int, int]] = Counter()
    for span, blog, country, views in zip(cells.span, cells.blog, cells.country, cells.views, strict=True):
        assert views > 0
        counted[int(span), int(blog), int(country)] += int(views)
    return counted


@given(
    st.lists(st.tuples(st.integers(1, 5), st.integers(0, 6)), max_size=200),
    st.sampled_from([1, 2**40, 2**60]),
)
@example(events=[(1, 6), (2, 6), (1, 6), (5, 0), (2, 6)], blog_scale=2**60)
def test_each_distinct_blog_and_country_is_counted_once(events, blog_scale):
    # Blog ids near 2**63 overflow one int64 key: the two-key sort takes over and must agree.
    events = [(blog * blog_scale, key) for blog, key in events]
    columns = np.array(events, dtype=np.int64).reshape(-1, 2)
    blog, key, views = _counted_pairs(columns[:, 0].copy(), columns[:, 1].copy())
    assert len(set(zip(blog.tolist(), key.tolist(), strict=True))) == len(blog)
    assert dict(zip(zip(blog.tolist(), key.tolist(), strict=True), views.tolist(), strict=True)) == Counter(events)


@ZONES
def test_each_event_counts_in_the_span_of_its_day(db, zone):
    with override_settings(TIME_ZONE=zone):
        blogs: list[Blog] = [BlogFactory.create() for _ in range(3)]
        countries = [CountryFactory(code="US"), CountryFactory(code="DE"), None]
        views: list[BlogView] = [
            BlogViewFactory.create(
                blog=blogs[step % 3],
                country=countries[step % 2 + step % 3 // 2],
                timestamp=START + step * timedelta(minutes=53),
            )
            for step in range(150)
        ]
        first = local_date(START) + timedelta(days=1)
        day = [local_midnight(first + timedelta(days=offset)) for offset in range(5)]
        # Views on the ranges' bounds too: a range holds its start and not its end.
        views += [BlogViewFactory.create(blog=blogs[1], country=None, timestamp=moment) for moment in day]
        partial = day[3] + timedelta(hours=5)
        many = [(day[0], day[1], 0), (day[1], day[2], 1), (day[2], day[3], 0), (day[3], partial, 2)]

        def expected(ranges, kept: set[int] | None = None) -> Counter[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
            counted: Counter[tuple[int, int, int]] = Counter()
            for view in views:
                for start, end, span in ranges:
                    if start <= view.timestamp < end and (kept is None or view.blog_id in kept):
                        counted[span, view.blog_id, view.country_id or NO_COUNTRY] += 1
            return counted

        one = [(start, end, 5) for start, end, _ in many]
        kept = {blogs[0].pk, blogs[2].pk}
        for ranges in (many, one):
            assert _counted(raw_cells(Coverage(raw=ranges))) == expected(ranges)
            only = np.array(sorted(kept), dtype=np.int64)
            assert _counted(raw_cells(Coverage(raw=ranges, blogs=only))) == expected(ranges, kept)
            assert _counted(raw_cells(Coverage(raw=ranges, blogs=np.zeros(0, dtype=np.int64)))) == Counter()
        assert expected(many) and expected(one)  # the data reaches every range


@pytest.mark.parametrize("spans", [1, 2])
def test_years_of_changed_days_are_read_in_a_few_statements(db, django_assert_num_queries, spans):
    """A performance answer by day over years of days read raw: 1,500 ranges, one span per day or all in one.
    SQLite refuses the OR of 1,000 ranges ("Expression tree is too large"), so they are read 500 at a time."""
    blog = BlogFactory.create()
    days = [local_midnight(local_date(START) + timedelta(days=offset)) for offset in range(1501)]
    for moment in days[::7]:
        BlogViewFactory.create(blog=blog, country=None, timestamp=moment + timedelta(hours=3))
    pieces = [(start, start + timedelta(hours=20)) for start in days[:-1]]  # not adjacent: never merged
    ranges = [(start, end, index % spans) for index, (start, end) in enumerate(pieces)]
    with django_assert_num_queries(3):
        cells = raw_cells(Coverage(raw=ranges))
    assert _counted(cells) == Counter((index % spans, blog.pk, NO_COUNTRY) for index in range(0, 1500, 7))


def test_touching_ranges_are_one_condition_whatever_their_spans():
    """A few blogs' performance answer read raw is a year of weekly spans end to end: one range for the database to
    plan, not 53 ``OR``-ed ones; ranges with a gap stay apart (their events are not all wanted)."""
    hour = timedelta(hours=1)
    touching = [(START + step * hour, START + (step + 1) * hour, step) for step in range(53)]
    assert len(raw_ranges_q(Coverage(raw=touching)).children) == 2  # the empty seed and one range
    gapped = [(START, START + hour), (START + hour / 2, START + 2 * hour), (START + 3 * hour, START + 4 * hour)]
    assert _touching_merged(gapped) == [(START, START + 2 * hour), (START + 3 * hour, START + 4 * hour)]
    assert _touching_merged([(START, START + 3 * hour), (START + hour, START + 2 * hour)]) == [
        (START, START + 3 * hour)
    ]
