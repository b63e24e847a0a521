"""The raw part of an answer (docs/design.md, "Hour blocks"): the events of a coverage's raw ranges as (span, blog,
country, views) cells, each event in the span of the range it falls in. SPEC §4: the cells are what a scan of those
events counts, on SQLite (one ``GROUP BY``) and on PostgreSQL (events read ungrouped, grouped by numpy)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from analytics.blockcodec import NO_COUNTRY
from analytics.models import Blog, BlogView
from analytics.selectors.coverage import Cells, Coverage, _grouped, raw_cells
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory

START = datetime(2025, 3, 10, tzinfo=UTC)


def _counted(cells: Cells) -> Counter[tuple[int, int, int]]:
    counted: Counter[tuple[int, int, int]] = Counter()
    for span, blog, country, views in zip(cells.span, cells.blog, cells.country, cells.views, strict=True):
        assert (int(span), int(blog), int(country)) not in counted, "a cell is listed twice"
        counted[int(span), int(blog), int(country)] = int(views)
    return counted


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(1, 5), st.integers(0, 6)), max_size=200),
    st.sampled_from([1, 2**40, 2**57]),
)
@example(events=[(3, 1, 6), (3, 2, 6), (3, 1, 6), (0, 5, 0), (3, 2, 6)], blog_scale=2**57)
def test_grouping_counts_each_distinct_span_blog_and_country_once(events, blog_scale):
    # Blog ids near 2**63 overflow one int64 key: the three-key sort takes over and must agree.
    events = [(span, blog * blog_scale, key) for span, blog, key in events]
    columns = np.array(events, dtype=np.int64).reshape(-1, 3)
    cells = _grouped(columns[:, 0].copy(), columns[:, 1].copy(), columns[:, 2].copy())
    assert _counted(cells) == Counter(events)


def test_each_event_counts_in_the_span_of_its_raw_range(db):
    blogs: list[Blog] = [BlogFactory.create() for _ in range(3)]
    countries = [CountryFactory(code="US"), CountryFactory(code="DE"), None]
    views: list[BlogView] = [
        BlogViewFactory.create(
            blog=blogs[step % 3],
            country=countries[step % 2 + step % 3 // 2],
            timestamp=START + step * timedelta(minutes=7),
        )
        for step in range(60)
    ] + [
        BlogViewFactory.create(blog=blogs[1], country=None, timestamp=START + timedelta(hours=hour))
        for hour in (1, 2, 4, 6)
    ]
    # Views at the ranges' bounds too: a range holds its start and not its end.
    ranges = [
        (START, START + timedelta(hours=1), 0),
        (START + timedelta(hours=1), START + timedelta(hours=2), 1),
        (START + timedelta(hours=3), START + timedelta(hours=4), 0),
        (START + timedelta(hours=4, minutes=30), START + timedelta(hours=6), 2),
    ]

    def expected(kept: set[int] | None) -> Counter[tuple[int, int, int]]:
        counted: Counter[tuple[int, int, int]] = Counter()
        for view in views:
            for start, end, span in ranges:
                if start <= view.timestamp < end and (kept is None or view.blog_id in kept):
                    counted[span, view.blog_id, view.country_id or NO_COUNTRY] += 1
        return counted

    assert _counted(raw_cells(Coverage(raw=ranges))) == expected(None)
    kept = np.array([blogs[0].pk, blogs[2].pk], dtype=np.int64)
    assert _counted(raw_cells(Coverage(raw=ranges, blogs=kept))) == expected({blogs[0].pk, blogs[2].pk})
    assert _counted(raw_cells(Coverage(raw=ranges, blogs=np.zeros(0, dtype=np.int64)))) == Counter()
    one_span = [(start, end, 5) for start, end, _ in ranges]
    assert sum(_counted(raw_cells(Coverage(raw=one_span))).values()) == sum(expected(None).values())
    assert {span for span, _, _ in _counted(raw_cells(Coverage(raw=one_span)))} == {5}
