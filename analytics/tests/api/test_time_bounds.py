"""Window edges through the API (SPEC §2): inclusive bounds, to the second, in the reporting timezone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from analytics.tests.api.conftest import at
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory

TOP_COUNTRY = "/api/analytics/top/country/"


@pytest.fixture
def edge_views(db, frozen_now):
    """One view per instant, each in its own country, so the answer names exactly the views counted."""
    blog = BlogFactory(author=UserFactory(username="edge"), created_at=at("2025-01-01T00:00"))
    instants = {
        "A": at("2025-06-09T23:59:59"),
        "B": at("2025-06-10T00:00:00"),
        "C": at("2025-06-10T11:59:59"),
        "D": at("2025-06-10T12:00:00"),
        "E": at("2025-06-10T13:00:00"),
        "F": at("2025-06-10T13:00:00") + timedelta(microseconds=500_000),
        "G": at("2025-06-10T13:00:01"),
        "H": at("2025-06-10T23:59:59"),
        "I": at("2025-06-11T00:00:00"),
    }
    for code, instant in instants.items():
        BlogViewFactory(blog=blog, country=CountryFactory(code=code), timestamp=instant)
    return instants


def counted(post, body) -> list[str]:
    status, payload = post(TOP_COUNTRY, {**body, "limit": 100})
    assert status == 200, payload
    return sorted(row["x"] for row in payload)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # A date is the whole day: 00:00:00 and 23:59:59 are in, the neighbours' edges are out.
        ({"start_date": "2025-06-10", "end_date": "2025-06-10"}, ["B", "C", "D", "E", "F", "G", "H"]),
        ({"start_date": "2025-06-10"}, ["B", "C", "D", "E", "F", "G", "H", "I"]),
        ({"end_date": "2025-06-09"}, ["A"]),
        # A datetime is honoured to the second, both ends inclusive.
        ({"start_date": "2025-06-10T12:00:00", "end_date": "2025-06-10T13:00:00"}, ["D", "E", "F"]),
        ({"start_date": "2025-06-10T12:00:00Z", "end_date": "2025-06-10T13:00:00+00:00"}, ["D", "E", "F"]),
        # An offset is converted: 14:00+02:00 is 12:00 UTC.
        ({"start_date": "2025-06-10T14:00:00+02:00", "end_date": "2025-06-10T15:00:00+02:00"}, ["D", "E", "F"]),
        ({"start_date": "2025-06-10T13:00:00", "end_date": "2025-06-10T13:00:00"}, ["E", "F"]),
        # Mixed: a datetime start and a date end.
        ({"start_date": "2025-06-10T23:59:59", "end_date": "2025-06-10"}, ["H"]),
    ],
)
def test_inclusive_bounds(edge_views, post, body, expected):
    assert counted(post, body) == expected


@override_settings(TIME_ZONE="Asia/Tokyo")
def test_dates_and_naive_datetimes_are_in_the_reporting_timezone(edge_views, post):
    """2025-06-10 in Tokyo (UTC+9) is 06-09 15:00 .. 06-10 14:59:59 UTC."""
    assert counted(post, {"start_date": "2025-06-10", "end_date": "2025-06-10"}) == ["A", "B", "C", "D", "E", "F", "G"]
    # A naive datetime is Tokyo time: 21:00 JST is 12:00 UTC.
    assert counted(post, {"start_date": "2025-06-10T21:00:00", "end_date": "2025-06-10T22:00:00"}) == ["D", "E", "F"]


@override_settings(TIME_ZONE="America/New_York")
def test_range_day_is_today_in_the_reporting_timezone(db, post, frozen_now):
    """now = 2025-06-15 12:00 UTC = 08:00 in New York: today there began at 04:00 UTC."""
    blog = BlogFactory(author=UserFactory(username="ny"), created_at=at("2025-01-01T00:00"))
    BlogViewFactory(blog=blog, country=CountryFactory(code="IN"), timestamp=at("2025-06-15T04:00:00"))
    BlogViewFactory(blog=blog, country=CountryFactory(code="OUT"), timestamp=at("2025-06-15T03:59:59"))
    assert counted(post, {"range": "day"}) == ["IN"]
    assert counted(post, {"range": "week"}) == ["IN", "OUT"]
