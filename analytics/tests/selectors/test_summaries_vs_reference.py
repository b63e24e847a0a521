"""The fast path equals the reference scan (SPEC §4) on random data and random requests: before any fold, after
a fold, and after late writes (inserts, deletes, moves, a blog handed to another author, a rename) land on days
that were already folded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from analytics.filters import Endpoint, parse_query
from analytics.models import Blog, BlogView, Country
from analytics.selectors import reference, summaries
from analytics.services.folding import summaries_fold
from analytics.tests.conftest import hour_reads, narrowed_reads, timeline_reads

NOW = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)  # a Monday, 3 weeks after a DST-free stretch, near month ends
CODES = ["US", "DE", "FR", "IN"]
TITLES = ["Alpha", "beta", "Alpha Beta", "gamma"]
USERS = ["ann", "Bob", "cyd"]
GROUPED = ["blog_views_by_country", "blog_views_by_author", "top_blogs", "top_authors", "top_countries"]
# SPEC §8's totals: one object, compared whole.
SINGLE = ["totals"]

instants = st.builds(
    lambda days, minutes: NOW - timedelta(days=days, minutes=minutes),
    st.integers(min_value=-1, max_value=75),
    st.sampled_from([0, 1, 59, 60, 61, 330, 719, 720, 721, 1439, 1440]) | st.integers(0, 1439),
)
views = st.lists(
    st.tuples(st.integers(0, 4), st.one_of(st.none(), st.integers(0, 3)), instants), min_size=0, max_size=30
)
dates = st.builds(lambda days: (NOW - timedelta(days=days)).date().isoformat(), st.integers(-2, 80))
datetimes = st.builds(
    lambda days, minutes, suffix: (
        (NOW - timedelta(days=days, minutes=minutes)).replace(tzinfo=None).isoformat() + suffix
    ),
    st.integers(-1, 80),
    st.integers(0, 1439),
    st.sampled_from(["", "Z", "+05:30", "-04:00"]),
)
leaf = st.one_of(
    st.builds(lambda v: {"eq": {"field": "country", "value": v}}, st.sampled_from(["us", "DE", "zz"])),
    st.builds(lambda v: {"in": {"field": "country", "values": v}}, st.lists(st.sampled_from(CODES), min_size=1)),
    st.builds(lambda v: {"eq": {"field": "author", "value": v}}, st.sampled_from(USERS)),
    st.builds(lambda v: {"in": {"field": "blog_title", "values": v}}, st.lists(st.sampled_from(TITLES), min_size=1)),
    st.builds(lambda v: {"contains": {"field": "blog_title", "value": v}}, st.sampled_from(["alpha", "BETA", "a"])),
)
trees = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.builds(lambda c: {"and": c}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda c: {"or": c}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, children),
    ),
    max_leaves=5,
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "range": st.sampled_from(["day", "week", "month", "year"]),
        "start_date": dates | datetimes,
        "end_date": dates | datetimes,
        "country_codes": st.lists(st.sampled_from(CODES + ["us", "xx"]), min_size=1, max_size=2),
        "exclude_country_codes": st.lists(st.sampled_from(CODES), min_size=1, max_size=2),
        "author_username": st.sampled_from(USERS),
        "filters": trees,
    },
)
late_writes = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(0, 4), st.one_of(st.none(), st.integers(0, 3)), instants),
        st.tuples(st.just("delete"), st.integers(0, 29)),
        st.tuples(st.just("move"), st.integers(0, 29), instants),
        st.tuples(st.just("reassign"), st.integers(0, 4), st.integers(0, 2)),
        st.tuples(st.just("rename"), st.integers(0, 4), st.sampled_from(TITLES)),
    ),
    max_size=4,
)


def _build(view_specs) -> tuple[list[Blog], list[Country], list[User]]:  # type: ignore[no-untyped-def]
    users = [User.objects.create(username=name) for name in USERS]
    countries = [Country.objects.create(code=code, name=code) for code in CODES]
    blogs = [
        Blog.objects.create(
            title=TITLES[index % 4], author=users[index % 3], created_at=NOW - timedelta(days=90 - index)
        )
        for index in range(5)
    ]
    BlogView.objects.bulk_create(
        BlogView(blog=blogs[b], country=None if c is None else countries[c], timestamp=at) for b, c, at in view_specs
    )
    return blogs, countries, users


def _apply(writes, blogs, countries, users) -> None:  # type: ignore[no-untyped-def]
    ids = list(BlogView.objects.order_by("id").values_list("id", flat=True))
    for write in writes:
        kind = write[0]
        if kind == "insert":
            BlogView.objects.create(
                blog=blogs[write[1]], country=None if write[2] is None else countries[write[2]], timestamp=write[3]
            )
        elif kind == "delete" and ids:
            BlogView.objects.filter(id=ids[write[1] % len(ids)]).delete()
        elif kind == "move" and ids:
            BlogView.objects.filter(id=ids[write[1] % len(ids)]).update(timestamp=write[2])
        elif kind == "reassign":
            Blog.objects.filter(id=blogs[write[1]].id).update(author=users[write[2]])
        elif kind == "rename":
            Blog.objects.filter(id=blogs[write[1]].id).update(title=write[2])


URLS = {
    "blog_views_by_country": "/api/analytics/blog-views/country/",
    "blog_views_by_author": "/api/analytics/blog-views/user/",
    "top_blogs": "/api/analytics/top/blog/",
    "top_authors": "/api/analytics/top/user/",
    "top_countries": "/api/analytics/top/country/",
    "performance": "/api/analytics/performance/",
}


def _through_the_cache(name: str, body: dict, expected: list) -> None:
    """The same answer over HTTP with the response cache in front, asked twice (a miss, then a hit)."""
    client = APIClient()
    for _ in range(2):
        response = client.post(URLS[name], body, format="json")
        assert response.status_code == 200, response.content
        assert response.json() == [{"x": row.x, "y": row.y, "z": row.z} for row in expected], (name, body)
    assert response["X-Cache"] == "HIT"


def _compare(body: dict, *, http: bool = False) -> None:
    for endpoint, names in ((Endpoint.TOP, GROUPED + SINGLE), (Endpoint.PERFORMANCE, ["performance"])):
        try:
            query = parse_query(body, endpoint=endpoint, now=NOW)
        except Exception:
            return  # e.g. start_date after end_date: the API answers 400 before any engine runs
        for name in names:
            if name == "performance":
                for metric in ("viewed", "created"):
                    expected = reference.performance(query, now=NOW, x_metric=metric)
                    assert summaries.performance(query, now=NOW, x_metric=metric) == expected, (name, metric, body)
                if http:
                    _through_the_cache(name, body, reference.performance(query, now=NOW, x_metric="viewed"))
            else:
                expected = getattr(reference, name)(query)
                assert getattr(summaries, name)(query) == expected, (name, body)
                if http and name in GROUPED:
                    _through_the_cache(name, {**body, "limit": 10}, expected)


ZONES = pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
SCENARIOS = given(
    view_specs=views, fold_first=st.booleans(), writes=late_writes, requests=st.lists(bodies, min_size=1, max_size=4)
)


def _examples(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.mark.django_db
@ZONES
@_examples(30)
@SCENARIOS
def test_summaries_equal_the_reference_scan(zone, view_specs, fold_first, writes, requests):
    _differential(zone, view_specs, fold_first, writes, requests)


@pytest.mark.django_db
@ZONES
@_examples(15)
@SCENARIOS
def test_summaries_reading_a_few_blogs_raw_equal_the_reference_scan(zone, view_specs, fold_first, writes, requests):
    """The same proof with the narrowed read on: a mask that keeps some blogs reads their raw events, folded or not."""
    with narrowed_reads():
        _differential(zone, view_specs, fold_first, writes, requests)


@pytest.mark.django_db
@ZONES
@_examples(15)
@SCENARIOS
def test_summaries_reading_blog_timelines_equal_the_reference_scan(zone, view_specs, fold_first, writes, requests):
    """The same proof with the blog timelines on: a mask that keeps some blogs reads its clean days of the last
    364 from their timeline rows, late writes and unfolded days raw (docs/design.md, "Blog timelines")."""
    with timeline_reads():
        _differential(zone, view_specs, fold_first, writes, requests)


@pytest.mark.django_db
@ZONES
@_examples(15)
@SCENARIOS
def test_summaries_reading_hour_blocks_equal_the_reference_scan(zone, view_specs, fold_first, writes, requests):
    """The same proof with hour blocks on every folded day, not only the recent ones: a day changed since its
    fold reads its unchanged hours from them, and a window's partial-day edges read their whole hours from them
    (docs/design.md, "Hour blocks")."""
    with hour_reads():
        _differential(zone, view_specs, fold_first, writes, requests)


def _differential(zone, view_specs, fold_first, writes, requests) -> None:  # type: ignore[no-untyped-def]
    with override_settings(TIME_ZONE=zone), mock.patch("django.utils.timezone.now", return_value=NOW):
        try:
            blogs, countries, users = _build(view_specs)
            for body in requests:
                _compare(body)  # nothing folded: the fast path must fall back or read raw
            if fold_first:
                summaries_fold(full=True)
            else:
                summaries_fold()
            for body in requests:
                _compare(body)
            _apply(writes, blogs, countries, users)
            for body in requests:
                _compare(body, http=True)  # late writes on folded days, not folded yet; and via the cache
            summaries_fold()
            for body in requests:
                _compare(body)
        finally:
            for model in (BlogView, Blog, Country, User):
                model.objects.all().delete()
