"""performance/ against hand-computed numbers (SPEC §2, §5). Data: see conftest.py; now = Sun 2025-06-15 12:00 UTC."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import override_settings

from analytics.periods import Granularity
from analytics.selectors.framing import default_compare, growth
from analytics.tests.api.conftest import at
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory

PERFORMANCE = "/api/analytics/performance/"


def rows(payload: list[dict]) -> list[tuple]:
    return [(row["x"], row["y"], row["z"]) for row in payload]


def test_daily(dataset, post):
    status, body = post(PERFORMANCE, {"start_date": "2025-06-09", "end_date": "2025-06-15", "compare": "day"})
    assert status == 200
    assert rows(body) == [
        ("2025-06-09 (0 blogs)", 0, None),  # the day before (06-08) had no views
        ("2025-06-10 (1 blogs)", 3, None),
        ("2025-06-11 (1 blogs)", 1, -66.67),
        ("2025-06-12 (1 blogs)", 1, 0.0),
        ("2025-06-13 (0 blogs)", 0, -100.0),
        ("2025-06-14 (1 blogs)", 2, None),
        ("2025-06-15 (0 blogs)", 0, -100.0),
    ]


def test_weekly_periods_start_on_monday(dataset, post):
    """2025-06-01 is a Sunday: its views belong to the week of Monday 05-26."""
    status, body = post(PERFORMANCE, {"start_date": "2025-05-19", "end_date": "2025-06-15", "compare": "week"})
    assert status == 200
    assert rows(body) == [
        ("2025-05-19 (1 blogs)", 1, None),
        ("2025-05-26 (1 blogs)", 2, 100.0),
        ("2025-06-02 (0 blogs)", 0, -100.0),
        ("2025-06-09 (2 blogs)", 7, None),
    ]


def test_first_period_grows_against_the_period_before_the_window(dataset, post):
    """SPEC §5: prev of the first period looks back outside the window (06-10 had 3 views)."""
    status, body = post(PERFORMANCE, {"start_date": "2025-06-11", "end_date": "2025-06-11"})
    assert status == 200
    assert rows(body) == [("2025-06-11 (1 blogs)", 1, -66.67)]


def test_partial_periods_count_only_inside_the_window(dataset, post):
    """The week of 06-09 overlaps a window that ends on 06-11: only 06-09..06-11 views count."""
    status, body = post(PERFORMANCE, {"start_date": "2025-06-02", "end_date": "2025-06-11", "compare": "week"})
    assert status == 200
    assert rows(body) == [("2025-06-02 (0 blogs)", 0, -100.0), ("2025-06-09 (1 blogs)", 4, None)]


def test_monthly_and_yearly(dataset, post):
    status, body = post(PERFORMANCE, {"year": 2025, "compare": "month"})
    assert status == 200
    assert len(body) == 12
    assert rows(body)[4:6] == [("2025-05-01 (1 blogs)", 1, None), ("2025-06-01 (3 blogs)", 9, 800.0)]
    assert rows(body)[6] == ("2025-07-01 (0 blogs)", 0, -100.0)
    status, body = post(PERFORMANCE, {"year": 2025, "compare": "year"})
    assert rows(body) == [("2025-01-01 (3 blogs)", 10, None)]


def test_open_lower_end_starts_at_the_earliest_matching_view(dataset, post):
    status, body = post(PERFORMANCE, {"end_date": "2025-06-15", "compare": "week"})
    assert status == 200
    assert [row["x"][:10] for row in body] == ["2025-05-19", "2025-05-26", "2025-06-02", "2025-06-09"]
    status, body = post(PERFORMANCE, {"author_username": "bob"})
    # bob's only views are on 06-14; the open upper end closes at the end of today (06-15).
    assert rows(body) == [("2025-06-14 (1 blogs)", 2, None), ("2025-06-15 (0 blogs)", 0, -100.0)]


def test_open_lower_end_with_no_matching_view_is_empty(dataset, post):
    status, body = post(PERFORMANCE, {"country_codes": ["FR"]})
    assert (status, body) == (200, [])


def test_bounded_window_with_no_views_is_zero_filled(dataset, post):
    status, body = post(PERFORMANCE, {"start_date": "2024-01-01", "end_date": "2024-01-03"})
    assert rows(body) == [(f"2024-01-0{day} (0 blogs)", 0, None) for day in (1, 2, 3)]


def test_default_compare_is_chosen_from_the_window(dataset, post):
    assert len(post(PERFORMANCE, {"range": "month"})[1]) == 30  # 30 days → day
    weekly = post(PERFORMANCE, {"start_date": "2025-05-16", "end_date": "2025-06-15"})[1]  # 31 days → week
    assert [row["x"][:10] for row in weekly][:2] == ["2025-05-12", "2025-05-19"]
    monthly = post(PERFORMANCE, {"start_date": "2024-06-15", "end_date": "2025-06-15"})[1]  # 366 days → month
    assert monthly[0]["x"].startswith("2024-06-01") and len(monthly) == 13


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (1, Granularity.DAY),
        (30, Granularity.DAY),
        (31, Granularity.WEEK),
        (365, Granularity.WEEK),
        (366, Granularity.MONTH),
    ],
)
def test_default_compare_thresholds(days, expected):
    first = date(2025, 1, 1)
    assert default_compare(first, date.fromordinal(first.toordinal() + days - 1)) is expected


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [(0, 0, None), (5, 0, None), (3, 1, 200.0), (1, 3, -66.67), (2, 3, -33.33), (0, 7, -100.0), (7, 7, 0.0)],
)
def test_growth_formula(current, previous, expected):
    assert growth(current, previous) == expected


@override_settings(IDEEZA_PERFORMANCE_X_METRIC="created")
def test_created_metric_counts_blogs_created_in_the_whole_period(dataset, post):
    """SPEC §5: N = blogs created in the calendar period; b2 was created 2025-06-14."""
    body = {"start_date": "2025-05-19", "end_date": "2025-06-15", "compare": "week"}
    assert [row["x"] for row in post(PERFORMANCE, body)[1]] == [
        "2025-05-19 (0 blogs)",
        "2025-05-26 (0 blogs)",
        "2025-06-02 (0 blogs)",
        "2025-06-09 (1 blogs)",
    ]
    # author restricts creations; b1 (created 05-01) counts for the whole month even outside the window.
    month = post(
        PERFORMANCE,
        {"start_date": "2025-05-20", "end_date": "2025-05-21", "compare": "month", "author_username": "alice"},
    )[1]
    assert rows(month) == [("2025-05-01 (1 blogs)", 1, None)]
    alice = post(PERFORMANCE, {**body, "author_username": "alice"})[1]
    assert [row["x"][-9:] for row in alice] == ["(0 blogs)"] * 4


@override_settings(IDEEZA_PERFORMANCE_X_METRIC="created")
def test_created_metric_ignores_country_filters(dataset, post):
    body = {"start_date": "2025-06-09", "end_date": "2025-06-15", "compare": "week"}
    for extra in (
        {"country_codes": ["DE"]},
        {
            "filters": {
                "and": [{"eq": {"field": "country", "value": "DE"}}, {"eq": {"field": "author", "value": "alice"}}]
            }
        },
    ):
        # The tree names a country, so none of it restricts creations: bob's b2 still counts.
        assert post(PERFORMANCE, {**body, **extra})[1][0]["x"] == "2025-06-09 (1 blogs)"
    tree = {"filters": {"eq": {"field": "author", "value": "alice"}}}
    assert post(PERFORMANCE, {**body, **tree})[1][0]["x"] == "2025-06-09 (0 blogs)"


@pytest.mark.django_db
@override_settings(TIME_ZONE="America/New_York")
def test_days_are_taken_in_the_reporting_timezone(post, frozen_now):
    """SPEC §2: 2025-06-10 03:30 UTC is 06-09 23:30 in New York."""
    blog = BlogFactory(author=UserFactory(username="ny"), created_at=at("2025-01-01T00:00"))
    BlogViewFactory(blog=blog, country=CountryFactory(code="US"), timestamp=at("2025-06-10T03:30"))
    body = rows(post(PERFORMANCE, {"start_date": "2025-06-09", "end_date": "2025-06-10"})[1])
    assert body == [("2025-06-09 (1 blogs)", 1, None), ("2025-06-10 (0 blogs)", 0, -100.0)]
    assert post("/api/analytics/top/country/", {"start_date": "2025-06-10"})[1] == []
