"""Performance with a few countries dropped (``exclude_country_codes``; docs/design.md, "Limits and trade-offs").

A span's distinct blogs are its blocks' ALL sets minus the blogs seen only in the dropped countries, which the
dropped countries' rows tell alone: each of their blogs carries its views over every country of the block
(``all_counts``, migration 0014). SPEC §4: the answer equals the scan, folded or not, and a block folded before those
counts existed is answered from the country matrices instead.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest

from analytics.filters import Endpoint, parse_query
from analytics.models import DailyAnalyticsSummary, HourlyAnalyticsSummary, PeriodAnalyticsSummary
from analytics.selectors import reference, summaries
from analytics.services.folding import summaries_fold
from analytics.tests.conftest import calls_counted
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory

NOW = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)
BODIES = [
    {"range": "month", "exclude_country_codes": ["US"]},
    {"range": "year", "exclude_country_codes": ["US", "DE"], "compare": "week"},
    {"start_date": "2025-02-20T06:00:00Z", "exclude_country_codes": ["DE"], "compare": "day"},
]


@pytest.fixture
def views(db) -> list:  # type: ignore[no-untyped-def,type-arg]
    """Blogs seen in one country only, in two, or in many, so that dropping countries removes some of them (two of
    six columns, counting views with no country, are "a few" to drop)."""
    rng = random.Random(5)
    blogs = [BlogFactory() for _ in range(8)]
    us, de, fr, gb, jp = (CountryFactory(code=code) for code in ("US", "DE", "FR", "GB", "JP"))
    reach: dict[int, list[Any]] = {  # countries, or None for a view with no country
        0: [us],
        1: [de],
        2: [us, de],
        3: [fr],
        4: [us, fr, gb],
        5: [us, de, fr, None],
        6: [None, jp],
        7: [de],
    }
    spread = [
        BlogViewFactory(
            blog=blogs[index],
            country=rng.choice(reach[index]),
            timestamp=NOW - timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 1439)),
        )
        for index in rng.choices(range(8), k=300)
    ]
    # One day where a blog has more views (300) than a byte holds while each country's share fits one: its dropped
    # rows' counts and their all_counts are stored in different widths, which decode in different orders.
    busy = NOW - timedelta(days=9)
    burst = [BlogViewFactory(blog=blogs[2], country=(us, de)[step % 2], timestamp=busy) for step in range(300)]
    return spread + burst


def _performance_equal() -> int:
    """Compare every body; return how often the dropped rows alone answered."""
    with calls_counted(summaries, "_per_span_dropping", when=lambda result: result is not None) as answered:
        for body in BODIES:
            query = parse_query(body, endpoint=Endpoint.PERFORMANCE, now=NOW)
            expected = reference.performance(query, now=NOW, x_metric="viewed")
            assert summaries.performance(query, now=NOW, x_metric="viewed") == expected, body
    return answered[0]


def test_dropped_countries_rows_tell_the_blogs_seen_only_there(views):
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        assert _performance_equal() == len(BODIES)
        BlogViewFactory(blog=views[0].blog, country=views[1].country, timestamp=NOW - timedelta(days=2, hours=3))
        views[2].delete()
        assert _performance_equal() == len(BODIES)  # the changed days raw, the rest from the blocks
        summaries_fold()
        assert _performance_equal() == len(BODIES)


def test_blocks_folded_before_the_counts_existed_are_answered_from_the_country_matrices(views):
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        for model in (DailyAnalyticsSummary, PeriodAnalyticsSummary, HourlyAnalyticsSummary):
            model.objects.update(all_counts=b"")  # as a fold before migration 0014 left them
        assert _performance_equal() == 0


def test_a_window_of_changed_days_reads_no_block(views):
    """A day and the day before it both changed since the fold: the window and the span its growth compares with are
    raw whole, no block in the coverage, and the counts are the raw cells'."""
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        summaries_fold(full=True)
        for day in (19, 20):
            late = datetime(2025, 2, day, 12, tzinfo=UTC)
            BlogViewFactory(blog=views[0].blog, country=views[1].country, timestamp=late)
        body = {"start_date": "2025-02-20", "end_date": "2025-02-20", "exclude_country_codes": ["US"], "compare": "day"}
        query = parse_query(body, endpoint=Endpoint.PERFORMANCE, now=NOW)
        assert summaries.performance(query, now=NOW, x_metric="viewed") == reference.performance(
            query, now=NOW, x_metric="viewed"
        )
