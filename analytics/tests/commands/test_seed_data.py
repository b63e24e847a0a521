"""``manage.py seed_data`` and its service: determinism, sizes, skew, time spread, reset, errors, the fixture."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone

from analytics.management.commands.seed_data import MSG_IF_EMPTY_WITH_RESET, MSG_SKIPPED
from analytics.models import Blog, BlogView, Country
from analytics.periods import local_date, local_midnight
from analytics.services import seeding
from analytics.services.seeding import MSG_OUT_OF_RANGE, SEED_EMAIL_DOMAIN
from analytics.tests.factories import BlogViewFactory, UserFactory

pytestmark = pytest.mark.django_db

SMALL = {"views": 2_000, "blogs": 12, "authors": 5, "countries": 8, "days": 365}
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "seed_data.json"
# The 30 days before this hold Sunday 29 March 2026, when Europe moved its clocks forward: a 23-hour day.
FROZEN_NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def seed(*args: str, **options: Any) -> tuple[str, str]:
    """Run the command with the small defaults above; return (stdout, stderr)."""
    stdout, stderr = StringIO(), StringIO()
    call_command("seed_data", *args, stdout=stdout, stderr=stderr, no_color=True, **{**SMALL, **options})
    return stdout.getvalue(), stderr.getvalue()


def view_rows() -> Counter[tuple[str, str | None, datetime]]:
    return Counter(BlogView.objects.values_list("blog__title", "country__code", "timestamp"))


def seeded_authors() -> list[str]:
    users = get_user_model().objects.filter(email__endswith=f"@{SEED_EMAIL_DOMAIN}")
    return sorted(users.values_list("username", flat=True))


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr(timezone, "now", lambda: FROZEN_NOW)
    return FROZEN_NOW


@pytest.mark.parametrize(("second_seed", "same"), [(7, True), (8, False)])
def test_the_seed_decides_every_row(frozen_now: datetime, second_seed: int, same: bool) -> None:
    seed(seed=7)
    first = (view_rows(), seeded_authors(), sorted(Blog.objects.values_list("title", "author__username")))

    seed(seed=second_seed, reset=True)
    second = (view_rows(), seeded_authors(), sorted(Blog.objects.values_list("title", "author__username")))

    assert sum(first[0].values()) == sum(second[0].values()) == SMALL["views"]
    assert (first == second) is same
    if not same:
        assert first[0] != second[0]
        assert first[1] != second[1]


@pytest.mark.parametrize(
    "sizes",
    [
        {"views": 2_000, "blogs": 12, "authors": 5, "countries": 8},
        {"views": 0, "blogs": 1, "authors": 1, "countries": 1},
        {"views": 500, "blogs": 3, "authors": 10, "countries": 70},  # more authors than blogs; beyond the real codes
    ],
)
def test_counts_match_the_options(sizes: dict[str, int]) -> None:
    seed(**sizes)

    assert BlogView.objects.count() == sizes["views"]
    assert Blog.objects.count() == sizes["blogs"]
    assert len(seeded_authors()) == sizes["authors"]
    codes = list(Country.objects.values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == sizes["countries"]
    assert all(code == code.upper() and 2 <= len(code) <= 5 for code in codes)
    assert not BlogView.objects.filter(timestamp__gt=timezone.now()).exists()


def test_a_few_countries_and_blogs_get_most_views() -> None:
    seed()

    per_country = Counter(BlogView.objects.filter(country__isnull=False).values_list("country__code", flat=True))
    no_country = BlogView.objects.filter(country__isnull=True).count()
    assert max(per_country.values()) >= 2 * statistics.median(per_country.values())
    assert 0.01 * SMALL["views"] <= no_country <= 0.06 * SMALL["views"]

    per_blog = sorted(Counter(BlogView.objects.values_list("blog_id", flat=True)).values(), reverse=True)
    assert sum(per_blog[: SMALL["blogs"] // 4]) > 0.4 * SMALL["views"]  # a quarter of the blogs; even would be 25%

    signed_in = BlogView.objects.filter(viewer__isnull=False).count()
    assert 0 < signed_in < SMALL["views"] / 4
    assert BlogView.objects.filter(ip_address__isnull=False).count() > SMALL["views"] / 2


@pytest.mark.parametrize(
    ("time_zone", "days", "at_least_distinct_days"),
    [("UTC", 365, 250), ("Europe/Berlin", 30, 30), ("America/Los_Angeles", 1, 1), ("Asia/Kolkata", 90, 85)],
)
def test_views_spread_over_the_whole_days_before_today(
    settings: Any, frozen_now: datetime, time_zone: str, days: int, at_least_distinct_days: int
) -> None:
    settings.TIME_ZONE = time_zone
    seed(days=days)

    today = local_date(frozen_now)
    timestamps = list(BlogView.objects.values_list("timestamp", flat=True))
    assert min(timestamps) >= local_midnight(today - timedelta(days=days))
    assert max(timestamps) < local_midnight(today) <= frozen_now
    assert len({local_date(instant) for instant in timestamps}) >= at_least_distinct_days


def test_the_platform_grows_over_the_year(frozen_now: datetime) -> None:
    seed()

    middle = local_midnight(local_date(frozen_now) - timedelta(days=SMALL["days"] // 2))
    assert (
        BlogView.objects.filter(timestamp__gte=middle).count() > BlogView.objects.filter(timestamp__lt=middle).count()
    )


def test_each_blog_is_written_before_its_first_view() -> None:
    seed()

    blogs = Blog.objects.annotate(first_view=Min("views__timestamp"))
    assert all(blog.created_at < blog.first_view for blog in blogs if blog.first_view is not None)
    assert all(blog.created_at < timezone.now() for blog in blogs)


def test_without_reset_it_adds_views_and_reuses_authors_and_countries() -> None:
    seed()
    authors = seeded_authors()

    seed()

    assert BlogView.objects.count() == 2 * SMALL["views"]
    assert Blog.objects.count() == 2 * SMALL["blogs"]
    assert Country.objects.count() == SMALL["countries"]
    assert seeded_authors() == authors


def test_reset_replaces_the_analytics_data_and_only_seeded_users() -> None:
    UserFactory(username="reader")
    seed()

    seed(reset=True, views=300, blogs=4, authors=2, countries=3)

    assert (BlogView.objects.count(), Blog.objects.count(), Country.objects.count()) == (300, 4, 3)
    assert len(seeded_authors()) == 2
    assert get_user_model().objects.filter(username="reader").exists()


@pytest.mark.parametrize("has_views", [True, False])
def test_if_empty_only_seeds_a_database_without_views(has_views: bool) -> None:
    if has_views:
        BlogViewFactory()

    stdout, _ = seed("--if-empty")

    if has_views:
        assert stdout.strip() == MSG_SKIPPED
        assert (BlogView.objects.count(), Blog.objects.count()) == (1, 1)
    else:
        assert BlogView.objects.count() == SMALL["views"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"views": -1}, MSG_OUT_OF_RANGE.format(option="views", low=0, high=100_000_000, value=-1)),
        ({"days": 0}, MSG_OUT_OF_RANGE.format(option="days", low=1, high=3_650, value=0)),
        ({"blogs": 0}, MSG_OUT_OF_RANGE.format(option="blogs", low=1, high=1_000_000, value=0)),
        ({"authors": 0}, MSG_OUT_OF_RANGE.format(option="authors", low=1, high=100_000, value=0)),
        ({"countries": 5_000}, MSG_OUT_OF_RANGE.format(option="countries", low=1, high=1_000, value=5_000)),
        ({"reset": True, "if_empty": True}, MSG_IF_EMPTY_WITH_RESET),
    ],
)
def test_operator_mistakes_are_explained(options: dict[str, Any], message: str) -> None:
    with pytest.raises(CommandError, match=f"^{re.escape(message)}$"):
        seed(**options)

    assert not Blog.objects.exists()
    assert not seeded_authors()


def test_a_value_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(CommandError, match="--views: invalid int value: 'lots'"):
        call_command("seed_data", "--views", "lots")


def test_a_failed_seed_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(**_: Any) -> None:
        raise DatabaseError("could not extend file: No space left on device")

    monkeypatch.setattr(seeding, "seeded_views_insert", disk_full)
    with pytest.raises(DatabaseError):
        seed()

    assert not (Blog.objects.exists() or Country.objects.exists() or seeded_authors())


def test_progress_goes_to_stderr_and_one_summary_line_to_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seeding, "VIEW_CHUNK_ROWS", 500)

    stdout, stderr = seed()

    bars = stderr.strip().splitlines()
    assert len(bars) >= 3
    assert re.fullmatch(r"views 2,000/2,000 \[#{20}\] 100% +\d+\.\ds", bars[-1])
    assert re.fullmatch(r"Seeded 2,000 views of 12 blogs by 5 authors from 8 countries, .* in \d+\.\ds\.\n", stdout)


def test_the_service_reports_progress_up_to_the_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seeding, "VIEW_CHUNK_ROWS", 250)
    calls: list[tuple[int, int]] = []

    result = seeding.demo_data_seed(
        views=1_000, blogs=3, authors=2, countries=2, days=10, progress=lambda *call: calls.append(call)
    )

    done = [written for written, _ in calls]
    assert done == sorted(done) and done[-1] == 1_000 and {total for _, total in calls} == {1_000}
    assert (result.views, result.first_day, result.last_day) == (
        1_000,
        local_date(timezone.now()) - timedelta(days=10),
        local_date(timezone.now()) - timedelta(days=1),
    )


def test_the_fixture_loads_and_the_api_serves_its_numbers(api_client: Any) -> None:
    call_command("loaddata", "seed_data", stdout=StringIO())

    records = json.loads(FIXTURE.read_text())
    codes = {r["pk"]: r["fields"]["code"] for r in records if r["model"] == "analytics.country"}
    views = [r["fields"] for r in records if r["model"] == "analytics.blogview"]
    by_code: dict[str, list[int]] = {}
    for view in views:
        if view["country"] is not None:
            by_code.setdefault(codes[view["country"]], []).append(view["blog"])
    ranked = sorted(by_code.items(), key=lambda item: (-len(item[1]), item[0]))
    expected = [{"x": code, "y": len(blogs), "z": len(set(blogs))} for code, blogs in ranked]

    response = api_client.post("/api/analytics/top/country/", {}, format="json")

    assert response.status_code == 200
    assert response.json() == expected
    assert BlogView.objects.count() == len(views)
    assert {view["timestamp"][:4] for view in views} == {"2025"}
    blogs = Blog.objects.annotate(first_view=Min("views__timestamp"), n=Count("views"))
    assert all(blog.n and blog.created_at < blog.first_view for blog in blogs)


def test_reset_also_removes_the_fixture_authors() -> None:
    call_command("loaddata", "seed_data", stdout=StringIO())
    fixture_authors = seeded_authors()

    seed(reset=True, authors=2)

    assert fixture_authors
    assert not get_user_model().objects.filter(username__in=fixture_authors, date_joined__year=2025).exists()
