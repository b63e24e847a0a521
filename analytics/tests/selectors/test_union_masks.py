"""Trees that are "these blogs anywhere, or any blog in these countries" (docs/design.md, "Union masks").

``or(country GB, title ~ word)`` keeps a blog × country set that is the union of two products. Answers that do not
group by country (by author, performance) read it as the kept blogs' block totals plus those countries' rows for
every other blog: the two share no cell, and SPEC §4 says the sum must be exactly the reference scan's, folded or
not, and with late writes read raw.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest

from analytics.filters import Endpoint, parse_query
from analytics.models import Country
from analytics.selectors import reference, summaries
from analytics.services.folding import summaries_fold
from analytics.tests.conftest import calls_counted, timeline_reads
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory

NOW = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)
US = {"eq": {"field": "country", "value": "us"}}
ANN = {"eq": {"field": "author", "value": "ann"}}
TITLE = {"contains": {"field": "blog_title", "value": "blog 1"}}
UNIONS: list[dict[str, Any]] = [
    {"or": [US, ANN]},
    {"or": [{"in": {"field": "country", "values": ["US", "DE"]}}, TITLE]},
    {"or": [TITLE, {"and": [US, {"not": ANN}]}, ANN]},  # the same shape, written another way
]
NOT_UNIONS: list[dict[str, Any]] = [{"and": [{"not": US}, {"or": [ANN, TITLE]}]}, {"not": {"or": [US, ANN]}}]


@pytest.fixture
def views(db) -> list:  # type: ignore[no-untyped-def,type-arg]
    rng = random.Random(11)
    authors = [UserFactory(username=name) for name in ("ann", "bob", "cy")]
    blogs = [BlogFactory(author=authors[index % 3]) for index in range(9)]
    countries = [CountryFactory(code="US"), CountryFactory(code="DE"), CountryFactory(code="FR"), None]
    return [
        BlogViewFactory(
            blog=rng.choice(blogs),
            country=rng.choice(countries),
            timestamp=NOW - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1439)),
        )
        for _ in range(400)
    ]


def _every_answer_equals_the_reference(tree: dict[str, Any], names: tuple[str, ...]) -> None:
    for window in ({"range": "month"}, {"start_date": "2024-12-01", "end_date": "2025-03-10"}):
        grouped = parse_query({**window, "filters": tree}, endpoint=Endpoint.TOP, now=NOW)
        for name in names:
            assert getattr(summaries, name)(grouped) == getattr(reference, name)(grouped), (name, tree)
        for compare in ("day", "week", "month"):
            timed = parse_query({**window, "filters": tree, "compare": compare}, endpoint=Endpoint.PERFORMANCE, now=NOW)
            expected = reference.performance(timed, now=NOW, x_metric="viewed")
            assert summaries.performance(timed, now=NOW, x_metric="viewed") == expected, (compare, tree)


def _union_reads(tree: dict[str, Any]) -> int:
    """Compare the endpoints that do not group by country for ``tree``; return how often the union read ran."""
    with calls_counted(summaries, "_matched_union") as calls:
        names = ("blog_views_by_author", "top_authors", "blog_views_by_country", "top_blogs", "totals")
        _every_answer_equals_the_reference(tree, names)
    return calls[0]


@pytest.mark.parametrize("tree", UNIONS)
def test_a_union_of_products_reads_totals_and_a_few_countries_and_equals_the_reference(views, tree):
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        assert _union_reads(tree) == 0  # nothing folded: every answer is the reference's own scan
        summaries_fold(full=True)
        assert _union_reads(tree) > 0
        # Late writes, not folded: their days are read raw, the raw cells masked pair by pair.
        BlogViewFactory(blog=views[0].blog, country=views[1].country, timestamp=NOW - timedelta(days=3))
        views[2].delete()
        views[3].blog.author = views[4].blog.author  # a blog handed to another author: the mask follows it
        views[3].blog.save()
        assert _union_reads(tree) > 0
        summaries_fold()
        assert _union_reads(tree) > 0


@pytest.mark.parametrize("tree", NOT_UNIONS)
def test_other_trees_that_tie_blogs_to_countries_take_the_general_read(views, tree):
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        assert _union_reads(tree) == 0


# --- split reads (docs/design.md, "Query path" 2): the countries a tree keeps whole, and a few blogs elsewhere ---
SPLIT_TREES: list[dict[str, Any]] = [
    # US whole; the "blog 1" posts in DE only (not FR, not views without a country): their other cells must go.
    {"or": [US, {"and": [{"eq": {"field": "country", "value": "de"}}, TITLE]}]},
    UNIONS[1],
]


def _split_reads(tree: dict[str, Any]) -> int:
    """Compare every endpoint for ``tree`` with the timelines on; return how often a split coverage was counted
    from the whole countries' sets plus the few blogs' cells."""
    with calls_counted(summaries, "_split_parts", when=lambda parts: parts is not None) as calls, timeline_reads():
        names = ("blog_views_by_country", "top_countries", "totals", "blog_views_by_author", "top_blogs")
        _every_answer_equals_the_reference(tree, names)
    return calls[0]


@pytest.mark.parametrize("tree", SPLIT_TREES)
def test_a_split_read_counts_whole_countries_from_their_sets_and_equals_the_reference(views, tree):
    """SPEC §4: performance, by-country answers and totals of a tree that keeps some countries whole and a few
    blogs elsewhere equal the scan, folded and with late writes read raw."""
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        # A post of the title read in DE only: no whole country's set holds it, so only its own cells count it.
        lone = BlogFactory(title="blog 1, read in DE only", author=views[0].blog.author)
        BlogViewFactory(blog=lone, country=Country.objects.get(code="DE"), timestamp=NOW - timedelta(days=5))
        summaries_fold(full=True)
        assert _split_reads(tree) > 0
        BlogViewFactory(blog=views[0].blog, country=views[1].country, timestamp=NOW - timedelta(days=3))
        BlogViewFactory(blog=views[5].blog, country=None, timestamp=NOW - timedelta(hours=2))
        views[2].delete()
        assert _split_reads(tree) > 0
        summaries_fold()
        assert _split_reads(tree) > 0
