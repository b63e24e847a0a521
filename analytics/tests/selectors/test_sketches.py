"""IDEEZA_USE_HLL=true against the real Redis (SPEC §4, §7): distinct blog counts within HyperLogLog's error,
views exact, and an exact answer whenever a sketch is missing or the filters look at blogs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings

from analytics import sketches
from analytics.filters import Endpoint, parse_query
from analytics.models import BlogView
from analytics.selectors import reference, summaries
from analytics.services.folding import summaries_fold
from analytics.tests.conftest import NOW
from analytics.tests.factories import BlogFactory, CountryFactory, UserFactory

pytestmark = pytest.mark.skipif(
    not django_settings.REDIS_URL, reason="HyperLogLog sketches live in Redis: runs on the PostgreSQL + Redis leg"
)


@pytest.fixture
def sketched(db, frozen_now, settings):
    settings.IDEEZA_USE_HLL = True
    client = sketches._client(settings.REDIS_URL)
    client.delete(*client.keys("ideeza:hll:*") or ["none"])
    authors = [UserFactory.create(username=f"writer{index}") for index in range(5)]
    countries = [CountryFactory.create(code=code) for code in ("US", "DE", "FR")]
    blogs = [BlogFactory.create(author=authors[index % 5], created_at=NOW - timedelta(days=60)) for index in range(600)]
    views = [
        BlogView(blog=blog, country=countries[(index * 7 + day) % 3], timestamp=NOW - timedelta(days=day, hours=1))
        for index, blog in enumerate(blogs)
        for day in range(1, 6)
        if (index + day) % 4
    ]
    BlogView.objects.bulk_create(views)
    summaries_fold(full=True)
    yield client
    client.delete(*client.keys("ideeza:hll:*") or ["none"])


def answer(name: str, body: dict) -> tuple[list, list]:
    query = parse_query(body, endpoint=Endpoint.TOP, now=NOW)
    return getattr(summaries, name)(query), getattr(reference, name)(query)


@pytest.mark.parametrize("name", ["blog_views_by_country", "top_countries"])
def test_distinct_blogs_are_within_the_error_bound_and_views_exact(sketched, name, monkeypatch):
    exact = answer(name, {"range": "week"})[1]

    def no_exact_path(*args):  # type: ignore[no-untyped-def]
        raise AssertionError("the sketches should have answered")

    monkeypatch.setattr(summaries, "_per_country", no_exact_path)
    approximate = answer(name, {"range": "week"})[0]
    assert [row.x for row in approximate] == [row.x for row in exact]
    for fast, slow in zip(approximate, exact, strict=True):
        views, blogs = (fast.z, fast.y) if name == "blog_views_by_country" else (fast.y, fast.z)
        exact_views, exact_blogs = (slow.z, slow.y) if name == "blog_views_by_country" else (slow.y, slow.z)
        assert views == exact_views
        assert abs(blogs - exact_blogs) <= max(1, 5 * sketches.STANDARD_ERROR * exact_blogs)
        assert exact_blogs >= 300  # big enough for the sketch to matter


def test_a_missing_sketch_falls_back_to_exact(sketched):
    # A viewed day inside the window: deleting just any "done" key could pick a day the window does not read.
    assert sketched.delete(sketches._done_key((NOW - timedelta(days=2)).date())) == 1
    approximate, exact = answer("blog_views_by_country", {"range": "week"})
    assert approximate == exact


def test_blog_filters_are_always_exact(sketched):
    approximate, exact = answer("blog_views_by_country", {"range": "week", "author_username": "writer1"})
    assert approximate == exact
    approximate, exact = answer(
        "blog_views_by_country", {"range": "week", "filters": {"contains": {"field": "blog_title", "value": "1"}}}
    )
    assert approximate == exact


def test_a_changed_day_is_counted_exactly(sketched):
    BlogView.objects.filter(timestamp__lt=NOW - timedelta(days=4)).delete()
    approximate, exact = answer("blog_views_by_country", {"range": "week"})
    assert approximate == exact
