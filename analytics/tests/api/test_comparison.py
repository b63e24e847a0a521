"""SPEC §8 against the reference scan: ``compare_to`` is two reference answers, ``offset``/``X-Total-Count`` page
the reference's ordered rows, and ``totals`` counts what the reference counts.

Random data and requests (the generators of the fast-path differential test) go through HTTP, before and after a
fold and after late writes; the shifted window is computed here from SPEC §8's words, independently of
``analytics.selectors.framing``, and the expected numbers come from ``analytics.selectors.reference``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from analytics.filters import AnalyticsQuery, Endpoint, Window, parse_query
from analytics.models import Blog, BlogView, Country
from analytics.periods import Granularity
from analytics.selectors import reference
from analytics.services.folding import summaries_fold
from analytics.tests.selectors.test_summaries_vs_reference import NOW, URLS, _apply, _build, bodies, late_writes, views

GROUPED_URLS = {name: url for name, url in URLS.items() if name != "performance"}
TOTALS_URL = "/api/analytics/totals/"


# --- SPEC §8's shifted window, from its words ----------------------------------------------------------------
def _minus_year(day: date) -> date:
    return day.replace(year=day.year - 1, day=28) if (day.month, day.day) == (2, 29) else day.replace(year=day.year - 1)


def _closed(query: AnalyticsQuery, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """Open ends closed as SPEC §5 closes performance's: the earliest matching view's day, the end of today."""
    start, end = query.window.start, query.window.end
    if start is None:
        first = reference.matching_views(replace(query, window=Window(None, end))).order_by("timestamp").first()
        if first is None:
            return None
        start = datetime.combine(first.timestamp.astimezone(zone).date(), time.min, tzinfo=zone)
    if end is None:
        end = datetime.combine(NOW.astimezone(zone).date() + timedelta(days=1), time.min, tzinfo=zone)
    return (start, end) if start < end else None


def expected_shift(query: AnalyticsQuery, comparison: str, zone: ZoneInfo) -> Window | None:
    closed = _closed(query, zone)
    if closed is None:
        return None
    start, end = (instant.astimezone(zone) for instant in closed)
    whole_days = start.time() == time.min and end.time() == time.min
    if whole_days:
        first, last = start.date(), end.date() - timedelta(days=1)
        if comparison == "previous_period":
            length = (last - first).days + 1
            first, last = first - timedelta(days=length), last - timedelta(days=length)
        else:
            first, last = _minus_year(first), _minus_year(last)
        return Window(
            datetime.combine(first, time.min, tzinfo=zone),
            datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone),
        )
    if comparison == "previous_period":
        return Window(start - (end - start), start)

    def wall_year_before(instant: datetime) -> datetime:
        return datetime.combine(_minus_year(instant.date()), instant.time(), tzinfo=zone)

    return Window(wall_year_before(start), wall_year_before(end))


def _granularity(query: AnalyticsQuery, zone: ZoneInfo) -> Granularity | None:
    closed = _closed(query, zone)
    if closed is None:
        return None
    days = (closed[1].astimezone(zone).date() - closed[0].astimezone(zone).date()).days + (
        0 if closed[1].astimezone(zone).time() == time.min else 1
    )
    return query.compare or (Granularity.MONTH if days > 365 else Granularity.WEEK if days > 30 else Granularity.DAY)


# --- the checks ----------------------------------------------------------------------------------------------
def _post(url: str, body: dict[str, Any]) -> tuple[int, Any, Any]:
    response = APIClient().post(url, body, format="json")
    return response.status_code, response.json(), response


def _json_rows(rows: list[Any]) -> list[dict[str, Any]]:
    return [{"x": row.x, "y": row.y, "z": row.z} for row in rows]


def check_comparison(body: dict[str, Any], comparison: str, zone: ZoneInfo) -> None:
    try:
        query = parse_query(body, endpoint=Endpoint.TOP, now=NOW)
    except Exception:
        return  # a 400 for the request without compare_to too (covered by the §6 tests)
    whole = replace(query, limit=None)
    shifted = expected_shift(whole, comparison, zone)
    compared = {**body, "compare_to": comparison}

    for name, url in GROUPED_URLS.items():
        select = getattr(reference, name)
        current = select(whole)
        before = {} if shifted is None else {row.key: row for row in select(replace(whole, window=shifted))}
        status, data, response = _post(url, {**compared, "limit": 100})
        assert status == 200, data
        assert int(response["X-Total-Count"]) == len(current)
        expected = [
            {"x": row.x, "y": row.y, "z": row.z, "previous": None}
            | ({"previous": {"y": before[row.key].y, "z": before[row.key].z}} if row.key in before else {})
            for row in current[:100]
        ]
        assert data == expected, (name, compared, shifted)

    status, data, _ = _post(TOTALS_URL, compared)
    assert status == 200, data
    totals_now = reference.totals(whole)
    totals_before = reference.totals(replace(whole, window=shifted)) if shifted is not None else None
    assert data == {
        "views": totals_now.views,
        "blogs": totals_now.blogs,
        "authors": totals_now.authors,
        "countries": totals_now.countries,
        "previous": {"views": 0, "blogs": 0, "authors": 0, "countries": 0}
        if totals_before is None
        else vars_of(totals_before),
    }

    performance_query = parse_query(body, endpoint=Endpoint.PERFORMANCE, now=NOW)
    current_rows = _json_rows(reference.performance(performance_query, now=NOW, x_metric="viewed"))
    previous_rows: list[dict[str, Any]] = []
    if shifted is not None:
        shifted_query = replace(performance_query, window=shifted, compare=_granularity(performance_query, zone))
        previous_rows = _json_rows(reference.performance(shifted_query, now=NOW, x_metric="viewed"))
    status, data, _ = _post(URLS["performance"], compared)
    assert status == 200, data
    assert data == [
        row | {"previous": previous_rows[index] if index < len(previous_rows) else None}
        for index, row in enumerate(current_rows)
    ], (compared, shifted)


def vars_of(totals: Any) -> dict[str, int]:
    return {"views": totals.views, "blogs": totals.blogs, "authors": totals.authors, "countries": totals.countries}


def check_paging(body: dict[str, Any], offset: int, limit: int) -> None:
    try:
        query = parse_query(body, endpoint=Endpoint.BLOG_VIEWS, now=NOW)
    except Exception:
        return
    for name, url in GROUPED_URLS.items():
        rows = _json_rows(getattr(reference, name)(query))
        status, data, response = _post(url, {**body, "offset": offset, "limit": limit})
        assert status == 200, data
        assert data == rows[offset : offset + limit], (name, body, offset, limit)
        assert int(response["X-Total-Count"]) == len(rows)


@pytest.mark.django_db
@pytest.mark.parametrize("zone_name", ["UTC", "America/New_York", "Asia/Kolkata"])
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    view_specs=views,
    writes=late_writes,
    requests=st.lists(bodies, min_size=1, max_size=3),
    comparison=st.sampled_from(["previous_period", "previous_year"]),
    offset=st.integers(0, 6),
    limit=st.integers(1, 4),
)
def test_compare_to_paging_and_totals_equal_the_reference(
    zone_name, view_specs, writes, requests, comparison, offset, limit
):
    """SPEC §8: previous = the same request over the shifted window; pages and totals as the reference counts."""
    zone = ZoneInfo(zone_name)
    with override_settings(TIME_ZONE=zone_name), mock.patch("django.utils.timezone.now", return_value=NOW):
        try:
            blogs, countries, users = _build(view_specs)
            for body in requests:
                check_comparison(body, comparison, zone)  # nothing folded
            summaries_fold(full=True)
            for body in requests:
                check_comparison(body, comparison, zone)
                check_paging(body, offset, limit)
            _apply(writes, blogs, countries, users)  # late writes on folded days
            for body in requests:
                check_comparison(body, comparison, zone)
        finally:
            for model in (BlogView, Blog, Country, User):
                model.objects.all().delete()
