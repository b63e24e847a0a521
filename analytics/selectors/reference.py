"""The reference scan: every SPEC §5 answer computed straight from raw ``BlogView`` rows with the ORM.

Slow by design and kept for good: it is the oracle the pre-aggregated path is tested and benchmarked
against. Each function runs a constant number of SQL statements, whatever the data. Which instants a request
covers (open ends, performance periods) is decided in ``framing``, shared with the fast path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import Trunc

from analytics.filters import AnalyticsQuery
from analytics.models import Blog, BlogView
from analytics.periods import Granularity, local_date, local_midnight, next_period_start, reporting_tz
from analytics.selectors.collation import BinaryCollate
from analytics.selectors.framing import PerformanceFrame, performance_frame, performance_rows
from analytics.selectors.predicates import creation_filters_q, instant_range_q, view_filters_q, window_q
from analytics.selectors.rows import NO_TOTALS, Row, Totals, first


def matching_views(query: AnalyticsQuery) -> QuerySet[BlogView]:
    """The views a request is about: its window and every filter, ANDed."""
    return BlogView.objects.filter(window_q(query.window), view_filters_q(query.filters))


def _author_row(values: Mapping[str, Any]) -> Row:
    return Row(values["blog__author__username"], values["y"], values["z"], values["blog__author__username"])


def blog_views_by_country(query: AnalyticsQuery) -> list[Row]:
    """Per country: distinct blogs (y) and views (z), z desc then code asc. Views with no country are left out."""
    if query.window.is_empty:
        return []
    rows = (
        matching_views(query)
        .filter(country__isnull=False)
        .values("country__code")
        .annotate(y=Count("blog_id", distinct=True), z=Count("id"))
        .order_by("-z", BinaryCollate("country__code"))
    )
    return first([Row(r["country__code"], r["y"], r["z"], r["country__code"]) for r in rows], query.limit)


def blog_views_by_author(query: AnalyticsQuery) -> list[Row]:
    """Per author: distinct blogs (y) and views (z), z desc then username asc."""
    if query.window.is_empty:
        return []
    rows = (
        matching_views(query)
        .values("blog__author__username")
        .annotate(y=Count("blog_id", distinct=True), z=Count("id"))
        .order_by("-z", BinaryCollate("blog__author__username"))
    )
    return first([_author_row(r) for r in rows], query.limit)


def top_blogs(query: AnalyticsQuery) -> list[Row]:
    """Top blogs by views (y), with distinct countries (z); grouped by blog id, ties broken by blog id."""
    if query.window.is_empty:
        return []
    rows = (
        matching_views(query)
        .values("blog_id", "blog__title")
        .annotate(y=Count("id"), z=Count("country_id", distinct=True))
        .order_by("-y", "blog_id")
    )
    return first([Row(r["blog__title"], r["y"], r["z"], r["blog_id"]) for r in rows], query.limit)


def top_authors(query: AnalyticsQuery) -> list[Row]:
    """Top authors by views (y), with distinct blogs (z)."""
    if query.window.is_empty:
        return []
    rows = (
        matching_views(query)
        .values("blog__author__username")
        .annotate(y=Count("id"), z=Count("blog_id", distinct=True))
        .order_by("-y", BinaryCollate("blog__author__username"))
    )
    return first([_author_row(r) for r in rows], query.limit)


def top_countries(query: AnalyticsQuery) -> list[Row]:
    """Top countries by views (y), with distinct blogs (z). Views with no country are left out."""
    if query.window.is_empty:
        return []
    rows = (
        matching_views(query)
        .filter(country__isnull=False)
        .values("country__code")
        .annotate(y=Count("id"), z=Count("blog_id", distinct=True))
        .order_by("-y", BinaryCollate("country__code"))
    )
    return first([Row(r["country__code"], r["y"], r["z"], r["country__code"]) for r in rows], query.limit)


def totals(query: AnalyticsQuery) -> Totals:
    """Matching views, and the distinct blogs, authors and named countries among them (SPEC §8)."""
    if query.window.is_empty:
        return NO_TOTALS
    counts = matching_views(query).aggregate(
        views=Count("id"),
        blogs=Count("blog_id", distinct=True),
        authors=Count("blog__author_id", distinct=True),
        countries=Count("country_id", distinct=True),
    )
    return Totals(**counts)


def _per_period(rows: QuerySet, granularity: Granularity, field: str, **counts) -> dict[date, dict[str, int]]:  # type: ignore[type-arg,no-untyped-def]
    grouped = (
        rows.annotate(period=Trunc(field, granularity.value, tzinfo=reporting_tz()))
        .values("period")
        .annotate(**counts)
        .order_by()
    )
    return {local_date(row["period"]): row for row in grouped}


def created_per_period(query: AnalyticsQuery, frame: PerformanceFrame) -> dict[date, int]:
    """Blogs created in each whole calendar period, restricted as SPEC §5 says for the "created" metric."""
    calendar = instant_range_q(
        local_midnight(frame.starts[0]),
        local_midnight(next_period_start(frame.starts[-1], frame.granularity)),
        "created_at",
    )
    blogs = Blog.objects.filter(calendar, creation_filters_q(query.filters))
    return {
        day: row["blogs"] for day, row in _per_period(blogs, frame.granularity, "created_at", blogs=Count("id")).items()
    }


def performance(query: AnalyticsQuery, *, now: datetime, x_metric: str) -> list[Row]:
    """Views per calendar period over the window, zero-filled, with growth vs the period before (SPEC §5)."""
    frame = performance_frame(query, now=now)
    if frame is None:
        return []
    views = BlogView.objects.filter(view_filters_q(query.filters))
    in_window = _per_period(
        views.filter(instant_range_q(frame.start, frame.end)),
        frame.granularity,
        "timestamp",
        views=Count("id"),
        blogs=Count("blog_id", distinct=True),
    )
    previous = views.filter(instant_range_q(*frame.period_range(-1))).count()
    if x_metric == "created":
        blogs = created_per_period(query, frame)
    else:
        blogs = {day: row["blogs"] for day, row in in_window.items()}
    return performance_rows(frame, {day: row["views"] for day, row in in_window.items()}, blogs, previous)
