"""Blog timelines (docs/design.md, "Blog timelines"): the fold's timeline rows hold exactly the raw views of their
window, per blog, day and country; they live and die with the window's trailing block; and a request that reads
them answers as the reference scan does (SPEC §4), late writes included."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import numpy as np
import pytest

from analytics.blockcodec import NO_COUNTRY, decode_timelines
from analytics.filters import Endpoint, parse_query
from analytics.models import BlogTimeline, BlogView, PeriodAnalyticsSummary
from analytics.periods import TIMELINE_DAYS, local_date
from analytics.selectors import coverage, reference, summaries
from analytics.services import timelines
from analytics.services.folding import summaries_fold
from analytics.tests.conftest import calls_counted, timeline_reads
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory

NOW = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)
TODAY = NOW.date()
WINDOW_START = TODAY - timedelta(days=TIMELINE_DAYS)


def _views(seed: int, count: int = 300) -> list:  # type: ignore[type-arg]
    """Views of six blogs by two authors in two countries and none, from 400 days ago to now."""
    rng = random.Random(seed)
    authors = [UserFactory(username=name) for name in ("ann", "bob")]
    blogs = [BlogFactory(author=authors[index % 2]) for index in range(6)]
    countries = [CountryFactory(code="US"), CountryFactory(code="DE"), None]
    return [
        BlogViewFactory(
            blog=rng.choice(blogs),
            country=rng.choice(countries),
            timestamp=NOW - timedelta(days=rng.randint(0, 400), minutes=rng.randint(0, 1439)),
        )
        for _ in range(count)
    ]


def _raw_cells(start):  # type: ignore[no-untyped-def]
    """(blog, day offset, country key) → views of the raw events in the window from ``start``."""
    cells: Counter[tuple[int, int, int]] = Counter()
    for blog_id, country_id, timestamp in BlogView.objects.values_list("blog_id", "country_id", "timestamp"):
        offset = (local_date(timestamp) - start).days
        if 0 <= offset < TIMELINE_DAYS:
            cells[(blog_id, offset, country_id or NO_COUNTRY)] += 1
    return cells


def _stored_cells(start):  # type: ignore[no-untyped-def]
    rows = BlogTimeline.objects.filter(start=start).exclude(blog_id=0)
    stored = rows.values_list("blog_id", "cells", "days", "countries", "view_counts")
    found = decode_timelines(
        [
            (np.array([blog]), np.array([cells]), days, countries, counts)
            for blog, cells, days, countries, counts in stored
        ]
    )
    cells: Counter[tuple[int, int, int]] = Counter()
    for blog, day, country, views in zip(found.blog, found.day, found.country, found.views, strict=True):
        cells[(int(blog), int(day), int(country))] += int(views)
    return cells


def _marker_total(start) -> int | None:  # type: ignore[no-untyped-def]
    return BlogTimeline.objects.filter(start=start, blog_id=0).values_list("total_views", flat=True).first()


@pytest.mark.django_db
@pytest.mark.parametrize("pass_cells", [timelines.PASS_CELLS, 7])
def test_the_fold_writes_timelines_that_hold_exactly_the_raw_views_of_their_window(monkeypatch, pass_cells):
    monkeypatch.setattr(timelines, "PASS_CELLS", pass_cells)  # 7: many passes over ranges of blog ids
    _views(seed=pass_cells)
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
    expected = _raw_cells(WINDOW_START)
    assert expected, "the data set must have views in the window"
    assert _stored_cells(WINDOW_START) == expected
    assert _marker_total(WINDOW_START) == sum(expected.values())
    rows = BlogTimeline.objects.filter(start=WINDOW_START).exclude(blog_id=0)
    assert sorted(rows.values_list("blog_id", flat=True)) == sorted({blog for blog, _, _ in expected})
    assert set(BlogTimeline.objects.values_list("start", flat=True)) == {WINDOW_START}


@pytest.mark.django_db
def test_timelines_follow_late_writes_and_move_with_the_window():
    views = _views(seed=1)
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        # A late write inside the window, and a deletion: the incremental fold rebuilds the timeline.
        BlogViewFactory(blog=views[0].blog, country=None, timestamp=NOW - timedelta(days=100))
        views[1].delete()
        summaries_fold()
    assert _stored_cells(WINDOW_START) == _raw_cells(WINDOW_START)
    tomorrow = NOW + timedelta(days=1)
    with mock.patch("django.utils.timezone.now", return_value=tomorrow):
        summaries_fold()
    moved = WINDOW_START + timedelta(days=1)
    assert set(BlogTimeline.objects.values_list("start", flat=True)) == {moved}
    assert _stored_cells(moved) == _raw_cells(moved)
    assert _marker_total(moved) == sum(_raw_cells(moved).values())


@pytest.mark.django_db
def test_no_trailing_block_no_timeline():
    """A window whose trailing block is gone (a day in it changed during the fold) keeps no timeline either."""
    _views(seed=2)
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
    assert BlogTimeline.objects.exists()
    assert coverage.timeline_start() == WINDOW_START
    PeriodAnalyticsSummary.objects.filter(granularity="364d").delete()
    assert coverage.timeline_start() is None  # rows without their block are never read
    with (
        mock.patch("django.utils.timezone.now", return_value=NOW),
        mock.patch("analytics.services.rollups.timeline_write", side_effect=AssertionError("not due")),
        mock.patch("analytics.services.folding.trailing_due", return_value=()),
    ):
        summaries_fold()
    assert not BlogTimeline.objects.exists()
    assert coverage.timeline_start() is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lead_days", "probed"),
    [(0, False), (summaries.TIMELINE_LEAD_DAYS, False), (summaries.TIMELINE_LEAD_DAYS + 1, True)],
)
def test_spans_starting_shortly_before_the_window_read_timelines_without_the_raw_probe(lead_days, probed):
    """A few blogs may read raw events (``summaries._few_views`` decides) where timelines cannot serve; a window
    that starts at most ``TIMELINE_LEAD_DAYS`` before theirs reads them, and blocks for the days before, unprobed:
    performance over ``range=year`` by week, whose first week and growth look back before the window."""
    blog = _views(seed=3)[0].blog
    start = WINDOW_START - timedelta(days=lead_days)
    narrowed = mock.patch.multiple(summaries, RAW_BLOGS_MAX=10**9, RAW_VIEWS_MAX=10**9, TIMELINE_BLOGS_SHARE=1.0)
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        with narrowed, calls_counted(summaries, "_few_views") as probes:
            query = parse_query({"start_date": start.isoformat(), "blog_id": blog.id}, endpoint=Endpoint.TOP, now=NOW)
            assert summaries.top_countries(query) == reference.top_countries(query)
        assert bool(probes[0]) is probed
        with narrowed, calls_counted(summaries, "_few_views") as probes:
            query = parse_query({"range": "year", "blog_id": blog.id}, endpoint=Endpoint.PERFORMANCE, now=NOW)
            assert summaries.performance(query, now=NOW, x_metric="viewed") == reference.performance(
                query, now=NOW, x_metric="viewed"
            )
        assert not probes[0], "the year's weeks from 13 days before the window read timelines"


AUTHOR_ANN = {"eq": {"field": "author", "value": "ann"}}
TITLE_BLOG_1 = {"contains": {"field": "blog_title", "value": "blog 1"}}
BODIES: list[dict[str, Any]] = [
    {"range": "year", "author_username": "ann"},
    {"range": "month", "author_username": "bob", "country_codes": ["US"]},
    {"start_date": (TODAY - timedelta(days=399)).isoformat(), "author_username": "ann"},  # reaches before it
    {"range": "year", "filters": {"contains": {"field": "blog_title", "value": "blog 1"}}},
    # Trees that tie countries to blogs: read split, whole countries from blocks and the rest from timelines.
    {"range": "year", "filters": {"or": [{"eq": {"field": "country", "value": "us"}}, AUTHOR_ANN]}},
    {"range": "month", "filters": {"or": [{"in": {"field": "country", "values": ["US", "DE"]}}, TITLE_BLOG_1]}},
    {"range": "year", "filters": {"not": {"or": [{"eq": {"field": "country", "value": "de"}}, AUTHOR_ANN]}}},
]


def _answers_equal_the_reference() -> int:
    """Compare every endpoint for every body; return how many timeline cells the fast path read."""
    read = 0
    real = coverage.timeline_cells

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal read
        cells = real(*args, **kwargs)
        read += len(cells.blog)
        return cells

    with mock.patch.object(coverage, "timeline_cells", counted):
        for body in BODIES:
            grouped = parse_query(body, endpoint=Endpoint.TOP, now=NOW)
            for name in ("blog_views_by_country", "blog_views_by_author", "top_blogs", "top_authors", "totals"):
                assert getattr(summaries, name)(grouped) == getattr(reference, name)(grouped), (name, body)
            for compare in ("day", "week", "month"):
                timed = parse_query({**body, "compare": compare}, endpoint=Endpoint.PERFORMANCE, now=NOW)
                expected = reference.performance(timed, now=NOW, x_metric="viewed")
                assert summaries.performance(timed, now=NOW, x_metric="viewed") == expected, (compare, body)
    return read


@pytest.mark.django_db
def test_answers_read_from_timelines_equal_the_reference_scan_before_and_after_late_writes():
    views = _views(seed=3)
    with mock.patch("django.utils.timezone.now", return_value=NOW), timeline_reads():
        summaries_fold(full=True)
        assert _answers_equal_the_reference() > 0, "the timelines were never read"
        # Not folded yet: the changed days are dirty and read raw, the other days still from the timelines.
        BlogViewFactory(blog=views[0].blog, timestamp=NOW - timedelta(days=30))
        views[2].delete()
        views[3].blog.author = views[4].blog.author  # a blog handed to another author: the mask follows it
        views[3].blog.save()
        assert _answers_equal_the_reference() > 0
        summaries_fold()
        assert _answers_equal_the_reference() > 0
