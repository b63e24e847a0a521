"""SPEC §6: every error is a JSON {message, code, fields}; bad input is a 400 naming its path, never a 500."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from analytics import filters as f
from analytics.api.parsers import MSG_BODY_TOO_LARGE
from analytics.api.views import MSG_CONTENT_TYPE
from analytics.tests.factories import UserFactory

TOP_BLOG = "/api/analytics/top/blog/"
BLOG_VIEWS = "/api/analytics/blog-views/country/"
PERFORMANCE = "/api/analytics/performance/"


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message", "code", "fields"}
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["fields"], dict)
    assert all(isinstance(messages, list) for messages in body["fields"].values())
    return body


def nested(depth: int) -> dict:
    node: dict = {"eq": {"field": "author", "value": "x"}}
    for _ in range(depth - 1):
        node = {"not": node}
    return node


def wide(leaves: int) -> dict:
    return {"or": [{"eq": {"field": "blog", "value": index + 1}} for index in range(leaves)]}


@pytest.mark.parametrize(
    ("url", "body", "path", "message"),
    [
        (TOP_BLOG, [1, 2], "", f.MSG_BODY_NOT_OBJECT),
        (TOP_BLOG, "text", "", f.MSG_BODY_NOT_OBJECT),
        (TOP_BLOG, {"colour": "red"}, "colour", None),
        (PERFORMANCE, {"limit": 5}, "limit", None),  # limit is not a performance key
        (BLOG_VIEWS, {"compare": "day"}, "compare", None),
        (TOP_BLOG, {"range": "fortnight"}, "range", None),
        (TOP_BLOG, {"range": None}, "range", None),
        (TOP_BLOG, {"year": 1999}, "year", f.MSG_OUT_OF_RANGE.format(low=2000, high=2100)),
        (TOP_BLOG, {"year": "2025"}, "year", f.MSG_NOT_INTEGER),
        (TOP_BLOG, {"year": 2025.0}, "year", f.MSG_NOT_INTEGER),
        (TOP_BLOG, {"year": True}, "year", f.MSG_NOT_INTEGER),
        (TOP_BLOG, {"start_date": "2025-02-30"}, "start_date", f.MSG_BAD_DATE),
        (TOP_BLOG, {"start_date": "10000-01-01"}, "start_date", f.MSG_BAD_DATE),
        (TOP_BLOG, {"end_date": "1800-01-01"}, "end_date", f.MSG_DATE_OUT_OF_RANGE),
        (TOP_BLOG, {"end_date": 20250101}, "end_date", f.MSG_BAD_DATE),
        (TOP_BLOG, {"start_date": "yesterday"}, "start_date", f.MSG_BAD_DATE),
        (TOP_BLOG, {"start_date": "2025-03-02", "end_date": "2025-03-01"}, "start_date", f.MSG_START_AFTER_END),
        (
            TOP_BLOG,
            {"start_date": "2025-03-01T10:00:01", "end_date": "2025-03-01T10:00:00"},
            "start_date",
            f.MSG_START_AFTER_END,
        ),
        (TOP_BLOG, {"country_codes": []}, "country_codes", f.MSG_EMPTY_LIST),
        (TOP_BLOG, {"country_codes": "US"}, "country_codes", f.MSG_NOT_LIST),
        (TOP_BLOG, {"country_codes": ["US", 7]}, "country_codes[1]", f.MSG_NOT_STRING),
        (TOP_BLOG, {"country_codes": ["US"] * 1001}, "country_codes", f.MSG_TOO_MANY_VALUES.format(limit=1000)),
        (TOP_BLOG, {"exclude_country_codes": [None]}, "exclude_country_codes[0]", f.MSG_NOT_STRING),
        (TOP_BLOG, {"author_username": "a\x00b"}, "author_username", f.MSG_NUL_CHARACTER),
        (TOP_BLOG, {"author_username": "x" * 256}, "author_username", f.MSG_STRING_TOO_LONG.format(limit=255)),
        (TOP_BLOG, {"author_username": None}, "author_username", f.MSG_NOT_STRING),
        (TOP_BLOG, {"blog_id": "5"}, "blog_id", f.MSG_NOT_INTEGER),
        (TOP_BLOG, {"blog_id": 0}, "blog_id", None),
        (TOP_BLOG, {"blog_id": 2**64}, "blog_id", None),
        (TOP_BLOG, {"limit": 0}, "limit", f.MSG_OUT_OF_RANGE.format(low=1, high=100)),
        (TOP_BLOG, {"limit": 101}, "limit", f.MSG_OUT_OF_RANGE.format(low=1, high=100)),
        (BLOG_VIEWS, {"limit": 10_001}, "limit", f.MSG_OUT_OF_RANGE.format(low=1, high=10_000)),
        (PERFORMANCE, {"compare": "hour"}, "compare", None),
        # The filter tree (SPEC §3), with the offending path.
        (TOP_BLOG, {"filters": []}, "filters", f.MSG_NOT_OBJECT),
        (TOP_BLOG, {"filters": {}}, "filters", f.MSG_NODE_ONE_KEY),
        (TOP_BLOG, {"filters": {"xor": []}}, "filters", f.MSG_UNKNOWN_OPERATOR),
        (
            TOP_BLOG,
            {
                "filters": {
                    "and": [{"eq": {"field": "author", "value": "a"}}, {"eq": {"field": "colour", "value": "b"}}]
                }
            },
            "filters.and[1].eq.field",
            None,
        ),
        (TOP_BLOG, {"filters": {"and": []}}, "filters.and", f.MSG_EMPTY_LIST),
        (TOP_BLOG, {"filters": {"or": {"eq": {}}}}, "filters.or", f.MSG_NOT_LIST),
        (
            TOP_BLOG,
            {"filters": {"not": {"eq": {"field": "blog", "value": "7"}}}},
            "filters.not.eq.value",
            f.MSG_NOT_INTEGER,
        ),
        (TOP_BLOG, {"filters": {"eq": {"field": "author"}}}, "filters.eq.value", None),
        (TOP_BLOG, {"filters": {"eq": {"field": "author", "value": "a", "x": 1}}}, "filters.eq.x", None),
        (TOP_BLOG, {"filters": {"in": {"field": "country", "values": []}}}, "filters.in.values", f.MSG_EMPTY_LIST),
        (TOP_BLOG, {"filters": {"in": {"field": "country", "value": "US"}}}, "filters.in.value", None),
        (
            TOP_BLOG,
            {"filters": {"in": {"field": "blog", "values": list(range(1, 1002))}}},
            "filters.in.values",
            f.MSG_TOO_MANY_VALUES.format(limit=1000),
        ),
        (
            TOP_BLOG,
            {"filters": {"contains": {"field": "country", "value": "U"}}},
            "filters.contains.field",
            f.MSG_CONTAINS_FIELD,
        ),
        (TOP_BLOG, {"filters": {"eq": {"field": "author", "value": None}}}, "filters.eq.value", f.MSG_NOT_STRING),
        (TOP_BLOG, {"filters": {"eq": {"field": ["author"], "value": "a"}}}, "filters.eq.field", None),
        (TOP_BLOG, {"filters": {"eq": {"field": "author", "value": "a"}, "not": {}}}, "filters", f.MSG_NODE_ONE_KEY),
        (TOP_BLOG, {"filters": nested(9)}, "filters" + ".not" * 8, f.MSG_TREE_TOO_DEEP),
        (TOP_BLOG, {"filters": wide(100)}, "filters.or[99]", f.MSG_TREE_TOO_LARGE),
    ],
)
def test_bad_body_is_a_400_naming_the_path(db, api_client, url, body, path, message):
    response = api_client.post(url, body, format="json")
    error = assert_error_shape(response, 400)
    assert path in error["fields"], error
    if message is not None:
        assert message in error["fields"][path]


@pytest.mark.parametrize(("tree", "ok"), [(nested(8), True), (nested(9), False), (wide(99), True), (wide(100), False)])
def test_tree_limits_are_exact(db, api_client, tree, ok):
    """Depth ≤ 8 and ≤ 100 nodes: wide(99) is 100 nodes (the "or" and 99 leaves)."""
    response = api_client.post(TOP_BLOG, {"filters": tree}, format="json")
    assert response.status_code == (200 if ok else 400)


def test_every_problem_is_reported_at_once(db, api_client):
    error = assert_error_shape(api_client.post(TOP_BLOG, {"year": 1, "limit": 0, "x": 1}, format="json"), 400)
    assert set(error["fields"]) == {"year", "limit", "x"}


@pytest.mark.parametrize(
    "raw",
    [b"{bad json", b'{"year": NaN}', b"\xff\xfe", b"[1, 2", b"null"],
)
def test_malformed_json(db, api_client, raw):
    response = api_client.post(TOP_BLOG, raw, content_type="application/json")
    assert_error_shape(response, 400)


@pytest.mark.parametrize("url", [TOP_BLOG, "/api/analytics/views/"])
def test_deeply_nested_json_is_a_400(db, api_client, url):
    from django.contrib.auth.models import Permission

    writer = UserFactory.create(username="writer")
    writer.user_permissions.add(Permission.objects.get(codename="add_blogview"))
    api_client.force_authenticate(writer)
    raw = b"[" * 200_000 + b"]" * 200_000
    assert_error_shape(api_client.post(url, raw, content_type="application/json"), 400)


def test_empty_body_means_no_filters(db, api_client):
    response = api_client.post(TOP_BLOG, b"", content_type="application/json")
    assert (response.status_code, response.json()) == (200, [])


def test_body_without_content_type_is_refused_not_ignored(db, api_client):
    response = api_client.generic("POST", TOP_BLOG, b'{"year": 2025}', content_type="")
    error = assert_error_shape(response, 415)
    assert error["message"] == MSG_CONTENT_TYPE


def test_malformed_content_length_is_not_a_500(db, api_client):
    response = api_client.generic("POST", TOP_BLOG, b'{"year": 2025}', content_type="", CONTENT_LENGTH="abc")
    assert response.status_code in (400, 415)
    assert set(response.json()) == {"message", "code", "fields"}


def test_form_body_is_unsupported(db, api_client):
    assert_error_shape(api_client.post(TOP_BLOG, {"year": "2025"}), 415)


def test_body_over_the_limit_is_a_400(db, api_client, settings):
    settings.IDEEZA_MAX_BODY_BYTES = 1024
    big = {"author_username": "x", "filters": {"in": {"field": "author", "values": ["y" * 100] * 20}}}
    error = assert_error_shape(api_client.post(TOP_BLOG, big, format="json"), 400)
    assert error["message"] == MSG_BODY_TOO_LARGE.format(limit=1024)


def test_ten_mebibyte_body_is_a_400(db, api_client):
    raw = b'{"author_username": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert_error_shape(api_client.post(TOP_BLOG, raw, content_type="application/json"), 400)


@pytest.mark.parametrize(
    "url", ["/api/analytics/top/planet/", "/api/analytics/blog-views/blog/", "/api/analytics/nope/"]
)
def test_unknown_type_is_a_404(db, api_client, url):
    assert_error_shape(api_client.post(url, {}, format="json"), 404)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_wrong_method_is_a_405(db, api_client, method):
    assert_error_shape(getattr(api_client, method)(TOP_BLOG), 405)


def test_unexpected_failure_is_a_json_500(db, monkeypatch):
    from analytics.api import views

    def explode(query):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "engine", lambda: SimpleNamespace(top_blogs=explode))
    client = APIClient(raise_request_exception=False)
    assert_error_shape(client.post(TOP_BLOG, {}, format="json"), 500)


def test_throttled_is_a_429(db, api_client, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"analytics-query": "2/minute"})
    statuses = [api_client.post(TOP_BLOG, {}, format="json").status_code for _ in range(2)]
    assert statuses == [200, 200]
    response = api_client.post(TOP_BLOG, {}, format="json")
    assert_error_shape(response, 429)
    assert "Retry-After" in response
