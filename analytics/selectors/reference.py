"""The reference scan: every SPEC §5 answer computed straight from raw ``BlogView`` rows with the ORM.

Slow by design and kept for good: it is the oracle the pre-aggregated path is tested and benchmarked
against. Each function runs a constant number of SQL statements, whatever the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, QuerySet
from django.db.models.functions import Trunc

from analytics.filters import MAX_PERFORMANCE_PERIODS, MSG_TOO_MANY_PERIODS, AnalyticsQuery
from analytics.models import Blog, BlogView
from analytics.periods import (
    Granularity,
    count_periods,
    local_date,
    local_midnight,
    next_period_start,
    period_starts,
    previous_period_start,
    reporting_tz,
)
from analytics.selectors.collation import BinaryCollate
from analytics.selectors.predicates import creation_filters_q, instant_range_q, view_filters_q, window_q
from analytics.selectors.rows import Row
from ideeza.exceptions import RequestValidationError


def matching_views(query: AnalyticsQuery) -> QuerySet[BlogView]:
    """The views a request is about: its window and every filter, ANDed."""
    return BlogView.objects.filter(window_q(query.window), view_filters_q(query.filters))


def _limited(rows: QuerySet, limit: int | None) -> QuerySet:  # type: ignore[type-arg]
    return rows if limit is None else rows[:limit]


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
    return [Row(r["country__code"], r["y"], r["z"]) for r in _limited(rows, query.limit)]


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
    return [Row(r["blog__author__username"], r["y"], r["z"]) for r in _limited(rows, query.limit)]


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
    return [Row(r["blog__title"], r["y"], r["z"]) for r in _limited(rows, query.limit)]


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
    return [Row(r["blog__author__username"], r["y"], r["z"]) for r in _limited(rows, query.limit)]


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
    return [Row(r["country__code"], r["y"], r["z"]) for r in _limited(rows, query.limit)]


def default_compare(first_day: date, last_day: date) -> Granularity:
    """SPEC §5: > 365 days → month, > 30 → week, else day (both end days counted)."""
    days = (last_day - first_day).days + 1
    if days > 365:
        return Granularity.MONTH
    if days > 30:
        return Granularity.WEEK
    return Granularity.DAY


def growth(current: int, previous: int) -> float | None:
    """Growth in percent vs the previous period, rounded to 2 places; ``None`` when it had no views."""
    if previous == 0:
        return None
    return round((current - previous) / previous * 100, 2)


def _per_period(rows: QuerySet, granularity: Granularity, field: str, **counts) -> dict[date, dict[str, int]]:  # type: ignore[type-arg,no-untyped-def]
    grouped = (
        rows.annotate(period=Trunc(field, granularity.value, tzinfo=reporting_tz()))
        .values("period")
        .annotate(**counts)
        .order_by()
    )
    return {local_date(row["period"]): row for row in grouped}


@dataclass(frozen=True)
class PerformanceFrame:
    """The resolved window of a performance request and its calendar periods (SPEC §5)."""

    start: datetime
    end: datetime
    granularity: Granularity
    starts: tuple[date, ...]

    def period_range(self, index: int) -> tuple[datetime, datetime]:
        """Instants of period ``index`` clipped to the window; ``-1`` is the whole period before the first."""
        if index < 0:
            first = self.starts[0]
            return local_midnight(previous_period_start(first, self.granularity)), local_midnight(first)
        lower = local_midnight(self.starts[index])
        upper = local_midnight(next_period_start(self.starts[index], self.granularity))
        return max(lower, self.start), min(upper, self.end)


def earliest_matching_view(views: QuerySet[BlogView], before: datetime | None) -> datetime | None:
    # ORDER BY ... LIMIT 1 walks the timestamp index and stops at the first match; MIN() would scan.
    return views.filter(instant_range_q(None, before)).order_by("timestamp").values_list("timestamp", flat=True).first()


def performance_frame(query: AnalyticsQuery, *, now: datetime) -> PerformanceFrame | None:
    """Close the window's open ends and pick the periods; ``None`` when the answer is ``[]``."""
    window = query.window
    if window.is_empty:
        return None
    start = window.start
    if start is None:
        earliest = earliest_matching_view(BlogView.objects.filter(view_filters_q(query.filters)), window.end)
        if earliest is None:
            return None
        start = local_midnight(local_date(earliest))
    end = window.end or local_midnight(local_date(now) + timedelta(days=1))
    if start >= end:
        return None
    first_day, last_day = local_date(start), local_date(end - timedelta(microseconds=1))
    granularity = query.compare or default_compare(first_day, last_day)
    if (count := count_periods(first_day, last_day, granularity)) > MAX_PERFORMANCE_PERIODS:
        raise RequestValidationError(
            {"compare": [MSG_TOO_MANY_PERIODS.format(count=f"{count:,}", compare=granularity.value)]}
        )
    return PerformanceFrame(start, end, granularity, tuple(period_starts(first_day, last_day, granularity)))


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


def performance_rows(
    frame: PerformanceFrame, views: dict[date, int], blogs: dict[date, int], previous: int
) -> list[Row]:
    """Zero-filled rows, each with its growth against the row before (the first against ``previous``)."""
    rows: list[Row] = []
    for period in frame.starts:
        y = views.get(period, 0)
        rows.append(Row(f"{period.isoformat()} ({blogs.get(period, 0)} blogs)", y, growth(y, previous)))
        previous = y
    return rows


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
