"""blog-views/* and top/* against hand-computed numbers (SPEC §3, §5). Data: see conftest.py."""

from __future__ import annotations

import pytest
from django.db import connection

from analytics.services.folding import summaries_fold
from analytics.tests.api.conftest import at
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory

BLOG_VIEWS_COUNTRY = "/api/analytics/blog-views/country/"
BLOG_VIEWS_USER = "/api/analytics/blog-views/user/"
TOP_BLOG = "/api/analytics/top/blog/"
TOP_USER = "/api/analytics/top/user/"
TOP_COUNTRY = "/api/analytics/top/country/"


def rows(payload: list[dict]) -> list[tuple]:
    return [(row["x"], row["y"], row["z"]) for row in payload]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # SPEC §5: x = code, y = distinct blogs, z = views; the view with no country is left out.
        (BLOG_VIEWS_COUNTRY, [("US", 3, 6), ("DE", 2, 3)]),
        (BLOG_VIEWS_USER, [("alice", 2, 8), ("bob", 1, 2)]),
        # top/blog groups by blog id: two blogs share the title "Django tips".
        (TOP_BLOG, [("Django tips", 5, 2), ("Redis deep dive", 3, 2), ("Django tips", 2, 1)]),
        (TOP_USER, [("alice", 8, 2), ("bob", 2, 1)]),
        (TOP_COUNTRY, [("US", 6, 3), ("DE", 3, 2)]),
    ],
)
def test_all_time_answers(dataset, post, url, expected):
    status, body = post(url, {})
    assert status == 200
    assert rows(body) == expected


@pytest.mark.parametrize(
    ("url", "request_body", "expected"),
    [
        # SPEC §3 flat filters; country codes are case-insensitive.
        (
            TOP_BLOG,
            {"country_codes": ["us"]},
            [("Django tips", 3, 1), ("Django tips", 2, 1), ("Redis deep dive", 1, 1)],
        ),
        # exclude keeps views with no country: b1 has DE×1 + none×1; ties broken by blog id.
        (TOP_BLOG, {"exclude_country_codes": ["US"]}, [("Django tips", 2, 1), ("Redis deep dive", 2, 1)]),
        (TOP_COUNTRY, {"author_username": "bob"}, [("US", 2, 1)]),
        (TOP_COUNTRY, {"author_username": "Bob"}, []),
        (BLOG_VIEWS_COUNTRY, {"country_codes": ["zz"]}, []),
        # The tree: "not country = us" keeps views with no country, like exclude_country_codes.
        (
            TOP_BLOG,
            {"filters": {"not": {"eq": {"field": "country", "value": "us"}}}},
            [("Django tips", 2, 1), ("Redis deep dive", 2, 1)],
        ),
        (TOP_USER, {"filters": {"contains": {"field": "blog_title", "value": "REDIS"}}}, [("alice", 3, 1)]),
        (
            TOP_USER,
            {"filters": {"eq": {"field": "blog_title", "value": "Django tips"}}},
            [("alice", 5, 1), ("bob", 2, 1)],
        ),
        (
            TOP_BLOG,
            {
                "filters": {
                    "or": [
                        {"eq": {"field": "author", "value": "bob"}},
                        {"in": {"field": "country", "values": ["de", "xx"]}},
                    ]
                }
            },
            [("Django tips", 2, 1), ("Redis deep dive", 2, 1), ("Django tips", 1, 1)],
        ),
        # Flat fields AND the tree.
        (
            BLOG_VIEWS_USER,
            {"country_codes": ["US", "DE"], "filters": {"not": {"eq": {"field": "author", "value": "bob"}}}},
            [("alice", 2, 7)],
        ),
        (TOP_COUNTRY, {"filters": {"and": [{"in": {"field": "blog", "values": [1_000_000]}}]}}, []),
    ],
)
def test_filters(dataset, post, url, request_body, expected):
    status, body = post(url, request_body)
    assert status == 200, body
    assert rows(body) == expected


def test_blog_id_filter(dataset, post):
    status, body = post(BLOG_VIEWS_COUNTRY, {"blog_id": dataset.b3.id})
    assert status == 200
    assert rows(body) == [("DE", 1, 2), ("US", 1, 1)]


def test_blog_tree_filter(dataset, post):
    tree = {"in": {"field": "blog", "values": [dataset.b2.id, dataset.b3.id]}}
    status, body = post(TOP_COUNTRY, {"filters": tree})
    assert status == 200
    assert rows(body) == [("US", 3, 2), ("DE", 2, 1)]


@pytest.mark.parametrize(
    ("request_body", "expected"),
    [
        # SPEC §2: both bounds inclusive, a date is the whole day.
        ({"start_date": "2025-06-10", "end_date": "2025-06-12"}, [("US", 3, 1), ("DE", 1, 1)]),
        # range=week: the last 7 whole days, today (2025-06-15) included → 06-09..06-15.
        ({"range": "week"}, [("US", 5, 2), ("DE", 1, 1)]),
        ({"range": "day"}, []),
        ({"year": 2025}, [("US", 6, 3), ("DE", 3, 2)]),
        ({"year": 2024}, []),
        # Time filters are intersected: the year and a later start.
        ({"year": 2025, "start_date": "2025-06-02"}, [("US", 5, 2), ("DE", 1, 1)]),
        # An empty intersection is an empty answer, not an error.
        ({"range": "day", "year": 2024}, []),
    ],
)
def test_time_window(dataset, post, request_body, expected):
    status, body = post(TOP_COUNTRY, request_body)
    assert status == 200, body
    assert rows(body) == expected


@pytest.mark.parametrize(("limit", "expected_len"), [(1, 1), (2, 2), (100, 3)])
def test_top_limit(dataset, post, limit, expected_len):
    status, body = post(TOP_BLOG, {"limit": limit})
    assert status == 200
    assert len(body) == expected_len
    assert body[0] == {"x": "Django tips", "y": 5, "z": 2}


def test_blog_views_limit(dataset, post):
    status, body = post(BLOG_VIEWS_USER, {"limit": 1})
    assert status == 200
    assert rows(body) == [("alice", 2, 8)]


@pytest.mark.django_db
def test_top_defaults_to_ten_rows(post, frozen_now):
    author = UserFactory(username="many")
    country = CountryFactory(code="US")
    for index in range(12):
        blog = BlogFactory(title=f"post {index:02d}", author=author)
        for _ in range(index + 1):
            BlogViewFactory(blog=blog, country=country, timestamp=at("2025-06-01T00:00"))
    status, body = post(TOP_BLOG, {})
    assert status == 200
    assert [row["x"] for row in body] == [f"post {index:02d}" for index in range(11, 1, -1)]


@pytest.mark.django_db
def test_ties_are_broken_by_name_and_blog_id(post, frozen_now):
    """SPEC §5: equal counts order by x ascending (top/blog: by blog id)."""
    zed, amy = UserFactory(username="zed"), UserFactory(username="amy")
    gb, at_ = CountryFactory(code="GB"), CountryFactory(code="AT")
    first = BlogFactory(title="Zebra", author=zed)
    second = BlogFactory(title="Aardvark", author=amy)
    BlogViewFactory(blog=first, country=gb, timestamp=at("2025-06-01T00:00"))
    BlogViewFactory(blog=second, country=at_, timestamp=at("2025-06-01T00:00"))
    assert rows(post(TOP_BLOG)[1]) == [("Zebra", 1, 1), ("Aardvark", 1, 1)]
    assert rows(post(TOP_USER)[1]) == [("amy", 1, 1), ("zed", 1, 1)]
    assert rows(post(TOP_COUNTRY)[1]) == [("AT", 1, 1), ("GB", 1, 1)]
    assert rows(post(BLOG_VIEWS_COUNTRY)[1]) == [("AT", 1, 1), ("GB", 1, 1)]
    assert rows(post(BLOG_VIEWS_USER)[1]) == [("amy", 1, 1), ("zed", 1, 1)]


def test_answers_follow_writes_at_once(dataset, post):
    """SPEC §4: a blog handed to another author counts for the new author in the very next answer."""
    type(dataset.b3).objects.filter(pk=dataset.b3.pk).update(author=dataset.b2.author)
    assert rows(post(TOP_USER)[1]) == [("alice", 5, 1), ("bob", 5, 2)]


@pytest.mark.django_db
def test_ties_order_by_code_point_whatever_the_database_collation(post, frozen_now):
    """x asc is code-point order ("Bob" < "alice" < "Étienne"), not a locale's, on every database."""
    country = CountryFactory(code="US")
    for name in ("alice", "Étienne", "Bob", "_under"):
        blog = BlogFactory(title=name, author=UserFactory(username=name))
        BlogViewFactory(blog=blog, country=country, timestamp=at("2025-06-01T00:00"))
    assert [row["x"] for row in post(TOP_USER)[1]] == ["Bob", "_under", "alice", "Étienne"]
    assert [row["x"] for row in post(BLOG_VIEWS_USER)[1]] == ["Bob", "_under", "alice", "Étienne"]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL cannot store a NUL character in text")
def test_a_username_ending_in_nul_still_sorts_after_its_prefix(post, frozen_now):
    """numpy's fixed-width strings drop trailing NULs, so "ab\\x00" would tie with "ab"; ties must stay in code-point
    order (SPEC §5). SQLite keeps a NUL in text; PostgreSQL refuses it."""
    country = CountryFactory(code="US")
    for name in ("ab\x00", "ab"):  # the NUL one first: an unstable or id order would put it first
        blog = BlogFactory(title=name, author=UserFactory(username=name))
        BlogViewFactory(blog=blog, country=country, timestamp=at("2025-06-01T00:00"))
    summaries_fold(full=True)  # the blocks' path sorts with numpy; unfolded days are answered by the reference
    assert [row["x"] for row in post(TOP_USER)[1]] == ["ab", "ab\x00"]
    assert [row["x"] for row in post(BLOG_VIEWS_USER)[1]] == ["ab", "ab\x00"]
