"""Framing a request in time, shared by both engines: closing a window's open ends, performance periods and
growth (SPEC §5), and the shifted window of ``compare_to`` (SPEC §8).

The oracle (``reference``) and the fast path (``summaries``) both frame through here, so they differ only in how
they count, never in which instants they count.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from django.db.models import QuerySet

from analytics.filters import MAX_PERFORMANCE_PERIODS, MSG_TOO_MANY_PERIODS, AnalyticsQuery, Comparison, Window
from analytics.models import BlogView
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
from analytics.selectors.predicates import instant_range_q, view_filters_q
from analytics.selectors.rows import Row
from ideeza.exceptions import RequestValidationError


# --- closing a window ----------------------------------------------------------------------------------------
def earliest_matching_view(views: QuerySet[BlogView], before: datetime | None) -> datetime | None:
    # ORDER BY ... LIMIT 1 walks the timestamp index and stops at the first match; MIN() would scan.
    return views.filter(instant_range_q(None, before)).order_by("timestamp").values_list("timestamp", flat=True).first()


def closed_window(query: AnalyticsQuery, *, now: datetime) -> tuple[datetime, datetime] | None:
    """SPEC §5: an open lower end closes at the day of the earliest matching view, an open upper end at the end of
    today; ``None`` when nothing is left (an empty window, or an open lower end with no matching view)."""
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
    return (start, end) if start < end else None


# --- performance periods and growth --------------------------------------------------------------------------
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


def _days(start: datetime, end: datetime) -> tuple[date, date]:
    """The first and last local day the window ``[start, end)`` touches."""
    return local_date(start), local_date(end - timedelta(microseconds=1))


def performance_frame(query: AnalyticsQuery, *, now: datetime) -> PerformanceFrame | None:
    """Close the window's open ends and pick the periods; ``None`` when the answer is ``[]``."""
    closed = closed_window(query, now=now)
    if closed is None:
        return None
    start, end = closed
    first_day, last_day = _days(start, end)
    granularity = query.compare or default_compare(first_day, last_day)
    if (count := count_periods(first_day, last_day, granularity)) > MAX_PERFORMANCE_PERIODS:
        raise RequestValidationError(
            {"compare": [MSG_TOO_MANY_PERIODS.format(count=f"{count:,}", compare=granularity.value)]}
        )
    return PerformanceFrame(start, end, granularity, tuple(period_starts(first_day, last_day, granularity)))


def performance_rows(
    frame: PerformanceFrame, views: dict[date, int], blogs: dict[date, int], previous: int
) -> list[Row]:
    """Zero-filled rows, each with its growth against the row before (the first against ``previous``)."""
    rows: list[Row] = []
    for period in frame.starts:
        y = views.get(period, 0)
        rows.append(
            Row(f"{period.isoformat()} ({blogs.get(period, 0)} blogs)", y, growth(y, previous), period.isoformat())
        )
        previous = y
    return rows


# --- compare_to ----------------------------------------------------------------------------------------------
def _is_midnight(instant: datetime) -> bool:
    return local_midnight(local_date(instant)) == instant


def _year_before(local: datetime) -> datetime:
    """The same local date and wall time one calendar year earlier; 29 February becomes 28 February."""
    day = local.day if not (local.month == 2 and local.day == 29) else 28
    wall = local.replace(tzinfo=None).replace(year=local.year - 1, day=day)
    return wall.replace(tzinfo=reporting_tz())


def shifted_window(start: datetime, end: datetime, comparison: Comparison) -> Window:
    """SPEC §8: ``[start, end)`` shifted back by its own length (whole days when it is whole days), or by one
    calendar year at the same local dates and times. The end is exclusive, so its last included day (or second)
    is what moves: a window ending on 29 February ends on 28 February a year earlier."""
    whole_days = _is_midnight(start) and _is_midnight(end)
    if comparison is Comparison.PREVIOUS_PERIOD:
        if whole_days:
            days = (local_date(end) - local_date(start)).days
            return Window(local_midnight(local_date(start) - timedelta(days=days)), start)
        return Window(start - (end - start), start)
    lower = _year_before(start.astimezone(reporting_tz()))
    if whole_days:
        last_day = local_date(end) - timedelta(days=1)
        upper = local_midnight(_year_before(local_midnight(last_day)).date() + timedelta(days=1))
    else:
        upper = _year_before(end.astimezone(reporting_tz()))
    return Window(lower.astimezone(reporting_tz()), upper.astimezone(reporting_tz()))


def previous_query(query: AnalyticsQuery, *, now: datetime) -> AnalyticsQuery | None:
    """The same request over its ``compare_to`` window (SPEC §8): every group of it (no limit or offset), at the
    current window's performance granularity; ``None`` when the current window closes on nothing."""
    if query.compare_to is None:
        raise ValueError("previous_query needs a request with compare_to")
    closed = closed_window(query, now=now)
    if closed is None:
        return None
    start, end = closed
    granularity = query.compare or default_compare(*_days(start, end))
    window = shifted_window(start, end, query.compare_to)
    return replace(query, window=window, limit=None, offset=0, compare_to=None, compare=granularity)
