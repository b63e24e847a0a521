"""Hostile input the schema-driven generator will not find (issue #5), on every POST endpoint.

SPEC §6: bad input is a 400 (415 for a body that is not JSON) in the one error shape, with ``fields`` naming the
offending path — never a 500. The client does not re-raise server exceptions, so a bug shows up as the 500 a
user would get. Accepted hostile input gets the right answer: text is matched literally (SPEC §3).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from analytics import filters as f
from analytics.api.ingest import MSG_BODY_NOT_EVENTS, MSG_EVENTS_NOT_LIST, MSG_TOO_MANY_EVENTS
from analytics.api.parsers import MSG_BODY_TOO_LARGE, MSG_LONE_SURROGATE, MSG_NUMBER_TOO_LONG, MSG_TOO_DEEP
from analytics.models import BlogView
from analytics.services import ingestion as i
from analytics.tests.conftest import ALL_QUERY_URLS, QUERY_URLS, TOTALS_URL
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory

INGEST = "/api/analytics/views/"
ALL_URLS = [*QUERY_URLS, INGEST]
TOP_BLOG = "/api/analytics/top/blog/"
HUNDRED_THOUSAND = 100_000


@pytest.fixture
def client(db) -> APIClient:
    """A client allowed to write views, so that every endpoint reads the body rather than stopping at 401, and to
    see every author's numbers (a signed-in user sees only their own blogs otherwise: SPEC §9)."""
    writer = UserFactory.create(username="writer")
    writer.user_permissions.add(*Permission.objects.filter(codename__in=["add_blogview", "view_all_analytics"]))
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(writer)
    return api


def send(client: APIClient, url: str, body: Any, content_type: str = "application/json"):  # type: ignore[no-untyped-def]
    """POST ``body`` as it is when bytes or str (str may hold lone surrogates), else as JSON."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    elif not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return client.generic("POST", url, body, content_type=content_type)


def error(response, status: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The body of a response in the one error shape (SPEC §6), after checking its status."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message", "code", "fields"}
    assert isinstance(body["message"], str) and body["message"] and isinstance(body["code"], str)
    assert all(isinstance(messages, list) and messages for messages in body["fields"].values())
    return body


def assert_invalid(response, path: str, message: str) -> None:  # type: ignore[no-untyped-def]
    body = error(response, 400)
    assert message in body["fields"].get(path, []), body


def endpoint_of(url: str) -> f.Endpoint:
    return next(endpoint for endpoint in f.Endpoint if url.split("/")[3].replace("-", "_").startswith(endpoint))


def nested_and(depth: int) -> str:
    leaf = '{"eq": {"field": "author", "value": "x"}}'
    return '{"filters": ' + '{"and": [' * depth + leaf + "]}" * depth + "}"


# --- size: a 10 MiB body, JSON nested 100,000 deep, 100,000-element lists ---------------------------------
@pytest.mark.parametrize("url", ALL_URLS)
def test_ten_mebibyte_body_is_refused_before_it_is_parsed(client, url):
    raw = b'{"author_username": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    body = error(send(client, url, raw), 400)
    limit = settings.IDEEZA_MAX_BODY_BYTES
    assert (body["message"], body["code"]) == (MSG_BODY_TOO_LARGE.format(limit=limit), "body_too_large")


def test_ten_mebibyte_body_over_http_is_the_same_400(live_server, transactional_db):
    """Through a real HTTP server too: the answer comes back whole although most of the body was never read."""
    raw = b'{"author_username": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = requests.post(
        f"{live_server.url}{TOP_BLOG}", data=raw, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": MSG_BODY_TOO_LARGE.format(limit=settings.IDEEZA_MAX_BODY_BYTES),
        "code": "body_too_large",
        "fields": {},
    }


@pytest.mark.parametrize("url", ALL_URLS)
@pytest.mark.parametrize(
    "raw",
    [
        "[" * HUNDRED_THOUSAND + "]" * HUNDRED_THOUSAND,
        '{"events": ' + "[" * HUNDRED_THOUSAND + "]" * HUNDRED_THOUSAND + "}",
        nested_and(10_000),
    ],
    ids=["list-100k-deep", "events-100k-deep", "and-10k-deep"],
)
def test_json_nested_beyond_reading_is_a_400(client, url, raw):
    body = error(send(client, url, raw), 400)
    assert (body["message"], body["code"]) == (MSG_TOO_DEEP, "parse_error")


@pytest.mark.parametrize("url", ALL_QUERY_URLS)
def test_filter_tree_nested_300_deep_names_the_node_past_the_limit(client, url):
    assert_invalid(send(client, url, nested_and(300)), "filters" + ".and[0]" * f.MAX_TREE_DEPTH, f.MSG_TREE_TOO_DEEP)


TOO_MANY = f.MSG_TOO_MANY_VALUES.format(limit=1000)


@pytest.mark.parametrize("url", ALL_QUERY_URLS)
@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"country_codes": ["US"] * HUNDRED_THOUSAND}, "country_codes", TOO_MANY),
        ({"exclude_country_codes": ["us"] * HUNDRED_THOUSAND}, "exclude_country_codes", TOO_MANY),
        ({"filters": {"in": {"field": "country", "values": ["US"] * HUNDRED_THOUSAND}}}, "filters.in.values", TOO_MANY),
        (
            {"filters": {"in": {"field": "blog", "values": list(range(1, HUNDRED_THOUSAND + 1))}}},
            "filters.in.values",
            TOO_MANY,
        ),
        ({"filters": {"or": [{}] * HUNDRED_THOUSAND}}, "filters", f.MSG_TREE_TOO_LARGE),
    ],
    ids=["country_codes", "exclude_country_codes", "in-country", "in-blog", "or-children"],
)
def test_hundred_thousand_element_lists_are_a_400(client, url, body, path, message):
    assert_invalid(send(client, url, body), path, message)


@pytest.mark.parametrize("body", [[{}] * HUNDRED_THOUSAND, {"events": [{}] * HUNDRED_THOUSAND}], ids=["list", "events"])
def test_hundred_thousand_events_store_nothing(client, body):
    response = send(client, INGEST, body)
    assert error(response, 400)["message"] == MSG_TOO_MANY_EVENTS
    assert not BlogView.objects.exists()


# --- NUL bytes, lone surrogates and unicode ------------------------------------------------------------------
NUL = "a\x00b"


@pytest.mark.parametrize("url", ALL_QUERY_URLS)
@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"author_username": NUL}, "author_username", f.MSG_NUL_CHARACTER),
        ({"country_codes": ["US", NUL]}, "country_codes[1]", f.MSG_NUL_CHARACTER),
        ({"exclude_country_codes": [NUL]}, "exclude_country_codes[0]", f.MSG_NUL_CHARACTER),
        ({"filters": {"eq": {"field": "author", "value": NUL}}}, "filters.eq.value", f.MSG_NUL_CHARACTER),
        ({"filters": {"in": {"field": "country", "values": ["DE", NUL]}}}, "filters.in.values[1]", f.MSG_NUL_CHARACTER),
        (
            {"filters": {"not": {"contains": {"field": "blog_title", "value": NUL}}}},
            "filters.not.contains.value",
            f.MSG_NUL_CHARACTER,
        ),
        (
            {"filters": {"eq": {"field": NUL, "value": "x"}}},
            "filters.eq.field",
            f.MSG_UNKNOWN_FIELD.format(fields=", ".join(f.TreeField)),
        ),
        ({"start_date": "2025-01-01\x00"}, "start_date", f.MSG_BAD_DATE),
        ({"end_date": "\x00"}, "end_date", f.MSG_BAD_DATE),
        ({NUL: 1}, NUL, None),
    ],
)
def test_nul_characters_are_a_400_naming_the_path(client, url, body, path, message):
    if message is None:  # an unknown key: the message lists the endpoint's keys
        message = f.MSG_UNKNOWN_KEY.format(allowed=", ".join(f.ALLOWED_KEYS[endpoint_of(url)]))
    assert_invalid(send(client, url, body), path, message)


@pytest.mark.parametrize(
    ("event", "path", "message"),
    [
        ({"blog_id": 1, "country_code": "U\x00S"}, "country_code", f.MSG_NUL_CHARACTER),
        ({"blog_id": 1, "ip_address": "127.0.0.1\x00"}, "ip_address", f.MSG_NUL_CHARACTER),
        ({"blog_id": 1, "timestamp": "2025-01-01T00:00:00\x00Z"}, "timestamp", f.MSG_NUL_CHARACTER),
        ({"blog_id": 1, "event_id": "\x00"}, "event_id", f.MSG_NUL_CHARACTER),
        ({"blog_id": 1, NUL: "x"}, NUL, i.MSG_UNKNOWN_KEY),
    ],
)
def test_nul_characters_in_an_event_are_a_400(client, event, path, message):
    assert_invalid(send(client, INGEST, event), path, message)
    assert not BlogView.objects.exists()


@pytest.mark.parametrize("url", ALL_URLS)
@pytest.mark.parametrize(
    "raw",
    [
        '{"author_username": "\\ud800"}',
        '{"country_codes": ["US", "\\udfff"]}',
        '{"filters": {"contains": {"field": "blog_title", "value": "x\\udc00"}}}',
        '{"\\ud83d": 1}',
        '{"events": [{"blog_id": 1, "country_code": "\\ud800"}]}',
        '{"blog_id": 1, "ip_address": "\\uDBFF"}',
    ],
)
def test_lone_surrogate_escapes_are_a_400(client, url, raw):
    """JSON lets "\\ud800" stand alone; no database or UTF-8 encoder accepts the string it decodes to."""
    body = error(send(client, url, raw), 400)
    assert (body["message"], body["code"]) == (MSG_LONE_SURROGATE, "parse_error")


@pytest.mark.parametrize("url", ALL_URLS)
def test_raw_surrogate_bytes_are_a_400(client, url):
    body = error(send(client, url, b'{"author_username": "\xed\xa0\x80"}'), 400)
    assert body["code"] == "parse_error"


@pytest.mark.parametrize("engine", ["summaries", "reference"])
def test_unicode_text_is_matched_as_it_is(client, settings, engine):
    settings.IDEEZA_QUERY_ENGINE = engine
    author = UserFactory.create(username="zoë_日本")
    BlogViewFactory.create(blog=BlogFactory.create(title="Über 🎉 日本のブログ", author=author))
    BlogViewFactory.create(blog=BlogFactory.create(title="plain"))
    # A surrogate pair escape is one character, not a lone surrogate.
    by_pair = send(client, TOP_BLOG, '{"filters": {"contains": {"field": "blog_title", "value": "\\ud83c\\udf89"}}}')
    by_title = send(client, TOP_BLOG, {"filters": {"contains": {"field": "blog_title", "value": "日本の"}}})
    by_author = send(client, "/api/analytics/blog-views/user/", {"author_username": "zoë_日本"})
    expected = [{"x": "Über 🎉 日本のブログ", "y": 1, "z": 1}]
    assert (by_pair.status_code, by_pair.json()) == (200, expected)
    assert (by_title.status_code, by_title.json()) == (200, expected)
    assert (by_author.status_code, by_author.json()) == (200, [{"x": "zoë_日本", "y": 1, "z": 1}])


# --- numbers as strings, strings as numbers, huge and non-finite numbers -------------------------------------
INT_RANGE = f.MSG_OUT_OF_RANGE.format(low=1, high=f.MAX_DB_INT)


@pytest.mark.parametrize(
    ("url", "body", "path", "message"),
    [
        (TOP_BLOG, {"year": "2025"}, "year", f.MSG_NOT_INTEGER),
        (TOP_BLOG, {"limit": "10"}, "limit", f.MSG_NOT_INTEGER),
        (TOP_BLOG, {"blog_id": "1"}, "blog_id", f.MSG_NOT_INTEGER),
        (TOP_BLOG, {"filters": {"eq": {"field": "blog", "value": "1"}}}, "filters.eq.value", f.MSG_NOT_INTEGER),
        (
            TOP_BLOG,
            {"filters": {"in": {"field": "blog", "values": [1, "2"]}}},
            "filters.in.values[1]",
            f.MSG_NOT_INTEGER,
        ),
        (TOP_BLOG, {"limit": 10.0}, "limit", f.MSG_NOT_INTEGER),
        (TOP_BLOG, {"author_username": 42}, "author_username", f.MSG_NOT_STRING),
        (TOP_BLOG, {"country_codes": [840]}, "country_codes[0]", f.MSG_NOT_STRING),
        (TOP_BLOG, {"filters": {"eq": {"field": "country", "value": 276}}}, "filters.eq.value", f.MSG_NOT_STRING),
        (TOP_BLOG, {"range": 7}, "range", f.MSG_CHOICE.format(choices="day, week, month, year")),
        (TOP_BLOG, {"start_date": 20250101}, "start_date", f.MSG_BAD_DATE),
        (
            "/api/analytics/performance/",
            {"compare": 1},
            "compare",
            f.MSG_CHOICE.format(choices="day, week, month, year"),
        ),
        (TOP_BLOG, {"blog_id": 2**64}, "blog_id", INT_RANGE),
        (TOP_BLOG, {"blog_id": -(2**64)}, "blog_id", INT_RANGE),
        (TOP_BLOG, {"filters": {"in": {"field": "blog", "values": [2**63]}}}, "filters.in.values[0]", INT_RANGE),
        (TOP_BLOG, {"limit": 2**64}, "limit", f.MSG_OUT_OF_RANGE.format(low=1, high=f.TOP_LIMIT_MAX)),
        (TOP_BLOG, {"year": 2**64}, "year", f.MSG_OUT_OF_RANGE.format(low=f.YEAR_MIN, high=f.YEAR_MAX)),
        (TOP_BLOG, {"year": 10_000}, "year", f.MSG_OUT_OF_RANGE.format(low=f.YEAR_MIN, high=f.YEAR_MAX)),
        (TOP_BLOG, b'{"year": 1e309}', "year", f.MSG_NOT_INTEGER),  # json reads it as float("inf")
        (TOP_BLOG, b'{"limit": -0}', "limit", f.MSG_OUT_OF_RANGE.format(low=1, high=f.TOP_LIMIT_MAX)),
        (INGEST, {"blog_id": "1"}, "blog_id", f.MSG_NOT_INTEGER),
        (INGEST, {"blog_id": 1, "viewer_id": "7"}, "viewer_id", f.MSG_NOT_INTEGER),
        (INGEST, {"blog_id": 1.0}, "blog_id", f.MSG_NOT_INTEGER),
        (INGEST, {"blog_id": True}, "blog_id", f.MSG_NOT_INTEGER),
        (INGEST, {"blog_id": 2**64}, "blog_id", i.MSG_ID_OUT_OF_RANGE),
        (INGEST, {"blog_id": 1, "viewer_id": -(2**64)}, "viewer_id", i.MSG_ID_OUT_OF_RANGE),
        (INGEST, b'{"blog_id": 1e309}', "blog_id", f.MSG_NOT_INTEGER),
        (INGEST, {"blog_id": 1, "country_code": 840}, "country_code", f.MSG_NOT_STRING),
        (INGEST, {"blog_id": 1, "timestamp": 1735689600}, "timestamp", i.MSG_BAD_TIMESTAMP),
        (INGEST, {"blog_id": 1, "event_id": 12345}, "event_id", i.MSG_BAD_EVENT_ID),
        (INGEST, {"blog_id": 1, "ip_address": 2130706433}, "ip_address", i.MSG_BAD_IP),
    ],
)
def test_wrongly_typed_and_huge_numbers_are_a_400(client, url, body, path, message):
    assert_invalid(send(client, url, body), path, message)


@pytest.mark.parametrize("url", ALL_URLS)
@pytest.mark.parametrize(
    "raw", [b'{"year": NaN}', b'{"blog_id": Infinity}', b'{"limit": -Infinity}', b'{"year": ' + b"9" * 5000 + b"}"]
)
def test_non_finite_and_five_thousand_digit_numbers_are_a_parse_error(client, url, raw):
    body = error(send(client, url, raw), 400)
    assert body["code"] == "parse_error"
    if b"9999" in raw:  # said in the API's words, not Python's ("use sys.set_int_max_str_digits()")
        assert body["message"] == "JSON parse error - " + MSG_NUMBER_TOO_LONG.format(
            digits=sys.get_int_max_str_digits()
        )


# --- null everywhere --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ALL_QUERY_URLS)
def test_null_for_every_key_is_a_400_naming_each_key(client, url):
    keys = f.ALLOWED_KEYS[endpoint_of(url)]
    body = error(send(client, url, dict.fromkeys(keys)), 400)
    assert set(body["fields"]) == set(keys)


@pytest.mark.parametrize(
    ("filters", "path", "message"),
    [
        (None, "filters", f.MSG_NOT_OBJECT),
        ({"and": None}, "filters.and", f.MSG_NOT_LIST),
        ({"and": [None]}, "filters.and[0]", f.MSG_NOT_OBJECT),
        ({"not": None}, "filters.not", f.MSG_NOT_OBJECT),
        ({"eq": None}, "filters.eq", f.MSG_NOT_OBJECT),
        ({"eq": {"field": None, "value": "x"}}, "filters.eq.field", None),
        ({"eq": {"field": "blog", "value": None}}, "filters.eq.value", f.MSG_NOT_INTEGER),
        ({"in": {"field": "author", "values": None}}, "filters.in.values", f.MSG_NOT_LIST),
        ({"in": {"field": "author", "values": ["a", None]}}, "filters.in.values[1]", f.MSG_NOT_STRING),
        ({"contains": {"field": "blog_title", "value": None}}, "filters.contains.value", f.MSG_NOT_STRING),
    ],
)
def test_null_inside_the_filter_tree_is_a_400(client, filters, path, message):
    response = send(client, TOP_BLOG, {"filters": filters})
    if message is None:
        assert path in error(response, 400)["fields"]
    else:
        assert_invalid(response, path, message)


@pytest.mark.parametrize("url", ALL_QUERY_URLS)
def test_null_body_is_a_400(client, url):
    assert error(send(client, url, b"null"), 400)["fields"] == {"": [f.MSG_BODY_NOT_OBJECT]}


def test_null_optional_event_keys_mean_absent_but_a_null_blog_is_missing(client):
    blog = BlogFactory.create()
    nulls = dict.fromkeys(i.EVENT_FIELDS)
    assert_invalid(send(client, INGEST, nulls), "blog_id", f.MSG_REQUIRED)
    response = send(client, INGEST, {**nulls, "blog_id": blog.pk})
    assert (response.status_code, response.json()) == (201, {"accepted": 1, "duplicates": 0, "rejected": []})
    view = BlogView.objects.get()
    assert (view.blog_id, view.country_id, view.viewer_id, view.ip_address, view.event_id) == (blog.pk, *[None] * 4)


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b"null", "", MSG_BODY_NOT_EVENTS),
        ({"events": None}, "events", MSG_EVENTS_NOT_LIST),
        ({"events": [], "x": None}, "x", None),
    ],
)
def test_null_envelopes_are_a_400(client, body, path, message):
    response = send(client, INGEST, body)
    fields = error(response, 400)["fields"]
    assert path in fields and (message is None or message in fields[path])


def test_null_events_in_a_batch_are_rejected_one_by_one(client):
    blog = BlogFactory.create()
    response = send(client, INGEST, {"events": [None, {"blog_id": blog.pk}, None]})
    rejected = {"index": 0, "errors": {"": [i.MSG_EVENT_NOT_OBJECT]}}
    assert (response.status_code, response.json()) == (
        200,
        {"accepted": 1, "duplicates": 0, "rejected": [rejected, {**rejected, "index": 2}]},
    )


# --- impossible and far-out dates ----------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["start_date", "end_date"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-02-30", f.MSG_BAD_DATE),
        ("2025-02-29", f.MSG_BAD_DATE),  # 2025 is no leap year
        ("2025-13-01", f.MSG_BAD_DATE),
        ("2025-00-10", f.MSG_BAD_DATE),
        ("0000-01-01", f.MSG_BAD_DATE),
        ("10000-01-01", f.MSG_BAD_DATE),
        ("+10000-01-01", f.MSG_BAD_DATE),
        ("2025-02-30T10:00:00", f.MSG_BAD_DATE),
        ("2025-01-01T24:00:01", f.MSG_BAD_DATE),
        ("2025-01-01T10:00:00+25:00", f.MSG_BAD_DATE),
        ("9999-12-31", f.MSG_DATE_OUT_OF_RANGE),
        ("0001-01-01", f.MSG_DATE_OUT_OF_RANGE),
        ("1899-12-31T23:59:59", f.MSG_DATE_OUT_OF_RANGE),
        ("2101-01-01", f.MSG_DATE_OUT_OF_RANGE),
    ],
)
def test_impossible_and_far_out_dates_are_a_400(client, key, value, message):
    for url in ALL_QUERY_URLS:
        assert_invalid(send(client, url, {key: value}), key, message)


def test_the_edges_of_the_date_range_are_answered(client):
    """1900-01-01 at +14:00 is still 1899 in UTC, 2100-12-31 at -14:00 already 2101: neither may overflow."""
    BlogViewFactory.create()
    body = {"start_date": "1900-01-01T00:00:00+14:00", "end_date": "2100-12-31T23:59:59-14:00"}
    for url in QUERY_URLS[:-1]:
        response = send(client, url, body)
        assert response.status_code == 200 and len(response.json()) == 1, (url, response.content[:300])
    response = send(client, "/api/analytics/performance/", {**body, "compare": "year"})
    assert response.status_code == 200
    assert sum(row["y"] for row in response.json()) == 1


def test_a_leap_day_is_a_date(client):
    BlogViewFactory.create(timestamp=datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC))
    response = send(client, TOP_BLOG, {"start_date": "2024-02-29", "end_date": "2024-02-29"})
    assert response.status_code == 200 and [row["y"] for row in response.json()] == [1]


def test_two_centuries_of_days_is_a_400_not_a_timeout(client):
    body = {"start_date": "1900-01-01", "end_date": "2100-12-31", "compare": "day"}
    response = send(client, "/api/analytics/performance/", body)
    assert_invalid(response, "compare", f.MSG_TOO_MANY_PERIODS.format(count="73,414", compare="day"))


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        ("2025-02-30T00:00:00Z", i.MSG_BAD_TIMESTAMP),
        ("2025-02-29T12:00:00Z", i.MSG_BAD_TIMESTAMP),
        ("10000-01-01T00:00:00Z", i.MSG_BAD_TIMESTAMP),
        ("0000-01-01T00:00:00Z", i.MSG_BAD_TIMESTAMP),
        ("2024-12-31T23:59:60Z", i.MSG_BAD_TIMESTAMP),
        ("2025-01-01", i.MSG_BAD_TIMESTAMP),  # a date names no instant
        ("0001-01-01T00:00:00Z", i.MSG_TIMESTAMP_OUT_OF_RANGE),
        ("1899-12-31T23:59:59Z", i.MSG_TIMESTAMP_OUT_OF_RANGE),
        ("9999-12-31T23:59:59Z", i.MSG_TIMESTAMP_OUT_OF_RANGE),
        ("2100-12-31T23:59:59Z", i.MSG_TIMESTAMP_IN_FUTURE),
    ],
)
def test_impossible_and_far_out_timestamps_are_rejected(client, timestamp, message):
    blog = BlogFactory.create()
    assert_invalid(send(client, INGEST, {"blog_id": blog.pk, "timestamp": timestamp}), "timestamp", message)
    assert not BlogView.objects.exists()


# --- SQL and JSON fragments in text ----------------------------------------------------------------------------
TITLES = [
    "100% Django",
    "snake_case tips",
    "back\\slash notes",
    "'; DROP TABLE analytics_blogview; --",
    '{"and": [{"eq": {"field": "author", "value": "x"}}]}',
    "plain words",
]


@pytest.fixture
def titled_views(db) -> int:
    for title in TITLES:
        BlogViewFactory.create(blog=BlogFactory.create(title=title), country=CountryFactory(code="US"))
    return BlogView.objects.count()


@pytest.mark.parametrize("engine", ["summaries", "reference"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("%", ["100% Django"]),
        ("_", ["'; DROP TABLE analytics_blogview; --", "snake_case tips"]),
        ("\\", ["back\\slash notes"]),
        ("'", ["'; DROP TABLE analytics_blogview; --"]),
        ("'; drop table analytics_blogview; --", ["'; DROP TABLE analytics_blogview; --"]),
        ('"and": [', ['{"and": [{"eq": {"field": "author", "value": "x"}}]}']),
        ("%_", []),
        ("p_ain", []),
        ("pl%ds", []),
        (".*", []),
        ("[a-z]", []),
        ("*", []),
        ("' OR '1'='1", []),
    ],
)
def test_title_contains_matches_literally(client, settings, titled_views, engine, value, expected):
    settings.IDEEZA_QUERY_ENGINE = engine
    response = send(client, TOP_BLOG, {"filters": {"contains": {"field": "blog_title", "value": value}}})
    assert response.status_code == 200, response.content
    assert sorted(row["x"] for row in response.json()) == expected
    assert BlogView.objects.count() == titled_views


@pytest.mark.parametrize("url", QUERY_URLS[:-1])
@pytest.mark.parametrize(
    "body",
    [
        {"author_username": "' OR '1'='1"},
        {"author_username": "%"},
        {"country_codes": ["US' OR 1=1 --"]},
        {"exclude_country_codes": ["%"], "country_codes": ["_S"]},
        {"filters": {"eq": {"field": "author", "value": '{"or": []}'}}},
        {"filters": {"in": {"field": "blog_title", "values": ["%", "_", "'; DROP TABLE analytics_blogview; --x"]}}},
        {"filters": {"eq": {"field": "country", "value": "%"}}},
    ],
)
def test_sql_and_json_fragments_in_exact_filters_match_nothing(client, titled_views, url, body):
    response = send(client, url, body)
    assert (response.status_code, response.json()) == (200, [])
    assert BlogView.objects.count() == titled_views


@pytest.mark.parametrize("value", ["'; DROP TABLE analytics_blogview; --", '{"and": []}', "%", "\\"])
def test_sql_and_json_fragments_in_event_fields_are_rejected_not_run(client, titled_views, value):
    blog = BlogFactory.create()
    event = {"blog_id": blog.pk, "country_code": value, "ip_address": value, "timestamp": value, "event_id": value}
    fields = error(send(client, INGEST, event), 400)["fields"]
    assert fields == {
        "country_code": [i.MSG_UNKNOWN_COUNTRY],
        "ip_address": [i.MSG_BAD_IP],
        "timestamp": [i.MSG_BAD_TIMESTAMP],
        "event_id": [i.MSG_BAD_EVENT_ID],
    }
    assert BlogView.objects.count() == titled_views


# --- content types and empty bodies ---------------------------------------------------------------------------
@pytest.mark.parametrize("url", ALL_URLS)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_a_body_that_is_not_declared_json_is_a_415(client, url, content_type):
    assert error(send(client, url, b'{"year": 2025}', content_type=content_type), 415)["code"] == (
        "unsupported_media_type"
    )


@pytest.mark.parametrize("url", ALL_URLS)
@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"   ", "application/json"),
        (b"\xef\xbb\xbf{}", "application/json"),  # a byte order mark
        (b"{}{}", "application/json"),
        (b'{"year": 2025}', "application/json; charset=utf-16"),
        (b"\xff\xfe\x00", "application/json"),
    ],
)
def test_a_body_that_is_not_json_is_a_parse_error(client, url, raw, content_type):
    assert error(send(client, url, raw, content_type=content_type), 400)["code"] == "parse_error"


@pytest.mark.parametrize("url", QUERY_URLS)
def test_an_empty_body_means_no_filters(client, url):
    BlogViewFactory.create()
    response = client.generic("POST", url, b"", content_type="application/json")
    assert response.status_code == 200 and len(response.json()) == 1


def test_an_empty_body_means_no_filters_for_totals(client):
    BlogViewFactory.create()
    response = client.generic("POST", TOTALS_URL, b"", content_type="application/json")
    assert response.status_code == 200 and response.json()["views"] == 1


def test_an_empty_body_is_an_event_without_a_blog(client):
    response = client.generic("POST", INGEST, b"", content_type="application/json")
    assert_invalid(response, "blog_id", f.MSG_REQUIRED)
