"""analytics/scopes.py (SPEC §9): the pure narrowing of a parsed query, and who gets which scope."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from analytics.filters import AnalyticsQuery, Endpoint, parse_query
from analytics.scopes import ALL, Scope, caller_scope, scope_query

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def parsed(body: dict) -> AnalyticsQuery:
    return parse_query(body, endpoint=Endpoint.TOP, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"range": "week", "country_codes": ["us"]},
        {"filters": {"eq": {"field": "country", "value": "de"}}},
        {
            "filters": {
                "and": [{"eq": {"field": "blog", "value": 3}}, {"not": {"eq": {"field": "author", "value": "b"}}}]
            }
        },
        {
            "filters": {
                "or": [{"eq": {"field": "author", "value": "bob"}}, {"contains": {"field": "blog_title", "value": "x"}}]
            }
        },
    ],
)
def test_a_scoped_query_is_the_request_with_the_scope_set_and_nothing_else_changed(body):
    """The body's own filters stay as parsed and the scope is one more ANDed restriction: equal requests of one
    scope are one object (same hash: one response cache key, one catalogue cache key). That its views answer as
    the body with the author leaf ANDed is test_scoped_differential's; that it also restricts creations is
    test_created_blogs_stay_in_scope_under_a_country_filter's."""
    scoped = scope_query(parsed(body), Scope(author="alice"))
    expected = replace(parsed(body), filters=replace(parsed(body).filters, scope_author="alice"))
    assert scoped == expected and hash(scoped) == hash(expected)
    assert scoped.filters.tree == parsed(body).filters.tree


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"filters": {"eq": {"field": "author", "value": "alice"}}},
        {"filters": {"and": [{"not": {"eq": {"field": "country", "value": "us"}}}]}},
    ],
)
def test_scoping_is_idempotent_and_all_is_the_identity(body):
    query = parsed(body)
    once = scope_query(query, Scope(author="alice"))
    assert scope_query(once, Scope(author="alice")) == once
    assert scope_query(query, ALL) is query


def test_equal_requests_give_equal_scoped_queries_and_other_authors_differ():
    a = scope_query(parsed({"range": "week"}), Scope(author="alice"))
    b = scope_query(parsed({"range": "week"}), Scope(author="alice"))
    assert a == b and hash(a) == hash(b)
    assert a != scope_query(parsed({"range": "week"}), Scope(author="bob"))


def _user(**attributes: Any) -> SimpleNamespace:
    perms: tuple[str, ...] = attributes.pop("perms", ())
    fields = {"is_authenticated": True, "is_staff": False, "username": "alice"} | attributes
    return SimpleNamespace(**fields, has_perm=lambda perm: perm in perms, get_username=lambda: fields["username"])


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (AnonymousUser(), ALL),
        (None, ALL),
        (_user(is_staff=True), ALL),
        (_user(perms=("analytics.view_all_analytics",)), ALL),
        (_user(), Scope(author="alice")),
        (_user(perms=("analytics.add_blogview",)), Scope(author="alice")),
    ],
    ids=["anonymous", "none", "staff", "view-all", "author", "ingest-user"],
)
def test_caller_scope(user, expected):
    assert caller_scope(user, None) == expected
