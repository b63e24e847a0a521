"""SPEC §9 through HTTP: who sees what, and no number of one scope ever reaching another.

alice's answers must equal staff's answers to the same body with alice's author leaf ANDed, through every query
endpoint, JSON and CSV, ``compare_to``, paging (``X-Total-Count``), cached repeats in either order and ETag
revalidation, and none may carry a trace of bob's blog (his username, title or his only country).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from analytics.services.folding import summaries_fold
from analytics.tests.api.conftest import BOB_MARKERS, Authors, client_for, with_author
from analytics.tests.conftest import ALL_QUERY_URLS, TOTALS_URL

PERFORMANCE_URL = "/api/analytics/performance/"
PAGED_URLS = [url for url in ALL_QUERY_URLS if url not in (PERFORMANCE_URL, TOTALS_URL)]
BOB_BLOG = "<bob's blog id>"

# Bodies that try to reach bob's numbers (they must match nothing for alice) and some that do not.
BODIES: list[dict[str, Any]] = [
    {},
    {"range": "month"},
    {"range": "week", "compare_to": "previous_period"},
    {"year": 2025, "compare_to": "previous_year"},
    {"author_username": "bob"},
    {"blog_id": BOB_BLOG},
    {"filters": {"eq": {"field": "author", "value": "bob"}}},
    {"filters": {"in": {"field": "blog", "values": [BOB_BLOG]}}},
    {"filters": {"or": [{"eq": {"field": "author", "value": "bob"}}, {"eq": {"field": "author", "value": "alice"}}]}},
    {"filters": {"not": {"eq": {"field": "author", "value": "alice"}}}},
    {"filters": {"contains": {"field": "blog_title", "value": "secret"}}},
    {"country_codes": ["gb"]},
    {"exclude_country_codes": ["US"]},
]


def _with_id(value: Any, blog_id: int) -> Any:
    """``value`` with the placeholder ``BOB_BLOG`` replaced by the fixture's id."""
    if value == BOB_BLOG:
        return blog_id
    if isinstance(value, dict):
        return {key: _with_id(item, blog_id) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_id(item, blog_id) for item in value]
    return value


def _body(body: dict[str, Any], authors: Authors, url: str) -> dict[str, Any]:
    resolved: dict[str, Any] = _with_id(body, authors.bob_secret.id)
    if url in PAGED_URLS and "compare_to" not in resolved:
        resolved = {**resolved, "limit": 2, "offset": 0}
    return resolved


def _answer(client: APIClient, url: str, body: dict[str, Any], *, csv: bool = False, **headers: Any):  # type: ignore[no-untyped-def]
    accept: dict[str, Any] = {"HTTP_ACCEPT": "text/csv"} if csv else {}
    response = client.post(url, body, format="json", **accept, **headers)
    assert response.status_code in (200, 304), response.content
    return response


def _no_trace_of_bob(response) -> None:  # type: ignore[no-untyped-def]
    content = response.content.lower()
    for marker in BOB_MARKERS:
        assert marker not in content, (marker, response.content)


@pytest.mark.parametrize("csv", [False, True], ids=["json", "csv"])
@pytest.mark.parametrize("body", BODIES, ids=[repr(body) for body in BODIES])
@pytest.mark.parametrize("url", ALL_QUERY_URLS)
@pytest.mark.parametrize("folded", [False, True], ids=["raw", "folded"])
def test_an_author_gets_the_request_with_their_leaf_and_nothing_of_another(authors, url, body, csv, folded):
    """SPEC §9: alice's answer = staff's answer of the body with alice's leaf ANDed; no trace of bob anywhere."""
    if folded:
        summaries_fold(full=True)
    request = _body(body, authors, url)
    mine = _answer(client_for(authors.alice), url, request, csv=csv)
    anded = _answer(client_for(authors.root), url, with_author(request, "alice"), csv=csv)

    assert mine.content == anded.content
    assert mine.get("X-Total-Count") == anded.get("X-Total-Count")
    _no_trace_of_bob(mine)


@pytest.mark.parametrize("url", ALL_QUERY_URLS)
def test_what_alice_sees_by_hand(authors, url):
    """The numbers themselves, so the test above cannot pass on two equally wrong answers."""
    expected = {
        "/api/analytics/blog-views/country/": [
            {"x": "US", "y": 1, "z": 3},
            {"x": "FR", "y": 1, "z": 2},
            {"x": "DE", "y": 1, "z": 1},
        ],
        "/api/analytics/blog-views/user/": [{"x": "alice", "y": 2, "z": 7}],
        "/api/analytics/top/blog/": [
            {"x": "Alice on Django", "y": 4, "z": 2},
            {"x": "Alice and Redis", "y": 3, "z": 1},
        ],
        "/api/analytics/top/user/": [{"x": "alice", "y": 7, "z": 2}],
        "/api/analytics/top/country/": [
            {"x": "US", "y": 3, "z": 1},
            {"x": "FR", "y": 2, "z": 1},
            {"x": "DE", "y": 1, "z": 1},
        ],
        PERFORMANCE_URL: [
            {"x": "2025-06-09 (2 blogs)", "y": 7, "z": None},
            {"x": "2025-06-16 (0 blogs)", "y": 0, "z": -100.0},
        ],
        TOTALS_URL: {"views": 7, "blogs": 2, "authors": 1, "countries": 3},
    }[url]
    body = {"start_date": "2025-06-09", "end_date": "2025-06-16", "compare": "week"} if url == PERFORMANCE_URL else {}
    assert _answer(client_for(authors.alice), url, body).json() == expected


@pytest.mark.parametrize("csv", [False, True], ids=["json", "csv"])
@pytest.mark.parametrize("order", [("alice", "bob"), ("bob", "alice"), ("root", "alice"), ("alice", "root")])
@pytest.mark.parametrize("url", ALL_QUERY_URLS)
@pytest.mark.parametrize("folded", [False, True], ids=["raw", "folded"])
def test_cached_answers_never_cross_scopes(authors, url, order, csv, folded):
    """SPEC §9: the same body from two scopes, in either order: the second is computed for its own scope (a MISS,
    through the in-process catalogue cache the first one filled), and a repeat is served from the response cache (a
    HIT) with that scope's own numbers."""
    if folded:
        summaries_fold(full=True)
    body = {"range": "month", "compare_to": "previous_period"}
    expected = {
        name: _answer(client_for(authors.root), url, with_author(body, name) if name != "root" else body, csv=csv)
        for name in ("alice", "bob", "root")
    }
    cache.clear()  # alice's scoped request and root's ANDed one are the same query object, so they share a key
    for first_time in (True, False):
        for name in order:
            response = _answer(client_for(getattr(authors, name)), url, body, csv=csv)
            assert response.content == expected[name].content, name
            if first_time and name == "alice":
                assert response["X-Cache"] == "MISS"
            if not first_time:
                assert response["X-Cache"] == "HIT"
            if name == "alice":
                _no_trace_of_bob(response)
    assert "Authorization" in response["Vary"]


@pytest.mark.parametrize("url", ALL_QUERY_URLS)
def test_an_etag_of_another_scope_gets_no_304(authors, url):
    """SPEC §8, §9: the ETag names the scoped answer; bob's (or everyone's) tag is not alice's."""
    alice, bob, everyone = client_for(authors.alice), client_for(authors.bob), APIClient()
    tags = {name: _answer(client, url, {})["ETag"] for name, client in (("bob", bob), ("all", everyone))}
    own = _answer(alice, url, {})["ETag"]
    assert own not in tags.values()
    for foreign in tags.values():
        response = _answer(alice, url, {}, HTTP_IF_NONE_MATCH=foreign)
        assert response.status_code == 200
        _no_trace_of_bob(response)
    assert _answer(alice, url, {}, HTTP_IF_NONE_MATCH=own).status_code == 304


@pytest.mark.parametrize(
    ("caller", "authors_seen"),
    [
        ("anonymous", {"alice", "bob"}),
        ("root", {"alice", "bob"}),  # staff
        ("vera", {"alice", "bob"}),  # holds analytics.view_all_analytics
        ("alice", {"alice"}),
        ("bob", {"bob"}),
        ("nemo", set()),  # signed in, no blog
    ],
)
def test_who_sees_all_and_who_sees_their_own(authors, caller, authors_seen):
    """SPEC §9's scopes, with the API open (IDEEZA_API_OPEN=true)."""
    client = client_for(None if caller == "anonymous" else getattr(authors, caller))
    rows = _answer(client, "/api/analytics/top/user/", {}).json()
    assert {row["x"] for row in rows} == authors_seen


@override_settings(IDEEZA_API_OPEN=False)
@pytest.mark.parametrize("url", ALL_QUERY_URLS)
def test_a_closed_api_answers_anonymous_callers_401_and_authors_their_scope(authors, url):
    anonymous = APIClient().post(url, {}, format="json")
    assert anonymous.status_code == 401
    assert set(anonymous.json()) == {"message", "code", "fields"}
    alice = _answer(client_for(authors.alice), url, {})
    assert alice.content == _answer(client_for(authors.root), url, with_author({}, "alice")).content
    _no_trace_of_bob(alice)


def test_a_scope_follows_a_blog_handed_to_another_author(authors):
    """SPEC §4, §9: scopes are read from the current Blog rows; a blog moved to alice after a fold is hers at once."""
    summaries_fold(full=True)
    client = client_for(authors.alice)
    assert _answer(client, TOTALS_URL, {}).json()["views"] == 7
    type(authors.bob_secret).objects.filter(pk=authors.bob_secret.pk).update(author=authors.alice)
    assert _answer(client, TOTALS_URL, {}).json() == {"views": 18, "blogs": 3, "authors": 1, "countries": 4}
    assert _answer(client_for(authors.bob), TOTALS_URL, {}).json()["views"] == 0


@override_settings(IDEEZA_PERFORMANCE_X_METRIC="created")
def test_created_blogs_stay_in_scope_under_a_country_filter(authors):
    """SPEC §9 over §5: a tree naming a country leaves blog creations unrestricted, yet a scope never does; alice's
    "N blogs" counts her own new blog, not bob's, with or without the country leaf."""
    body = {"start_date": "2025-05-01", "end_date": "2025-05-31", "compare": "month"}
    with_country = {**body, "filters": {"eq": {"field": "country", "value": "US"}}}
    for request in (body, with_country):
        rows = _answer(client_for(authors.alice), PERFORMANCE_URL, request).json()
        assert rows[0]["x"] == "2025-05-01 (1 blogs)", request  # alice created one blog in May; bob one too
        everyone = _answer(client_for(authors.root), PERFORMANCE_URL, request).json()
        assert everyone[0]["x"] == "2025-05-01 (2 blogs)", request  # the all scope counts both (SPEC §5)
