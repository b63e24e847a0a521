"""analytics/scopes.py (SPEC §9): the pure narrowing of a parsed query, and who gets which scope."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from analytics.filters import AnalyticsQuery, BoolNode, Endpoint, parse_query
from analytics.scopes import ALL, Scope, author_leaf, caller_scope, scope_query

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
def test_a_scoped_query_is_the_request_with_the_author_leaf_anded(body):
    """Parsing the body with the leaf ANDed gives the same object as scoping the parsed body (same hash too), so
    the response cache key and the catalogue cache key of the two are one."""
    leaf = {"eq": {"field": "author", "value": "alice"}}
    anded = {**body, "filters": {"and": [leaf, body["filters"]]} if "filters" in body else leaf}
    scoped = scope_query(parsed(body), Scope(author="alice"))
    expected = parsed(anded)
    if "filters" in body and "and" in body["filters"]:
        # A top-level "and" takes the leaf in rather than nesting: the same predicate, one level shallower.
        tree = parsed(body).filters.tree
        assert isinstance(tree, BoolNode)
        assert scoped.filters.tree == BoolNode("and", (author_leaf("alice"), *tree.children))
    else:
        assert scoped == expected and hash(scoped) == hash(expected)


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
