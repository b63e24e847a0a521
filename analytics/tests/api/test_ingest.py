"""``POST /api/analytics/views/`` (docs/ingestion.md): envelopes, per-item outcomes, idempotency under races,
limits, auth and throttling (SPEC §6, §7), and late events in every answer at once (SPEC §4)."""

from __future__ import annotations

import json
import threading
import uuid
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from analytics.api.ingest import (
    MAX_EVENTS_PER_REQUEST,
    MSG_BODY_NOT_EVENTS,
    MSG_ENVELOPE_KEY,
    MSG_EVENT_REJECTED,
    MSG_EVENTS_NOT_LIST,
    MSG_NO_INGEST_PERMISSION,
    MSG_TOO_MANY_EVENTS,
)
from analytics.api.parsers import MSG_BODY_TOO_LARGE
from analytics.api.views import MSG_CONTENT_TYPE
from analytics.filters import MSG_EMPTY_LIST
from analytics.models import BlogView
from analytics.services.ingestion import MSG_BAD_TIMESTAMP, MSG_NOT_INTEGER, MSG_UNKNOWN_BLOG, MSG_UNKNOWN_COUNTRY
from analytics.tests.factories import BlogFactory, CountryFactory, UserFactory

VIEWS = "/api/analytics/views/"
PASSWORD = "ingest-pass-1"


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message", "code", "fields"}
    assert isinstance(body["message"], str) and body["message"]
    return body


def jwt(client: APIClient, username: str) -> str:
    response = client.post("/api/token/", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["access"]


def make_user(username: str, *, permitted: bool = True, **extra: Any):
    user = UserFactory.create(username=username, **extra)
    user.set_password(PASSWORD)
    user.save()
    if permitted:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="analytics", codename="add_blogview"))
    return user


def client_for(username: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt(client, username)}")
    return client


@pytest.fixture
def ingest_client(db) -> APIClient:
    make_user("collector")
    return client_for("collector")


@pytest.fixture
def blog(db):
    CountryFactory.create(code="US")
    return BlogFactory.create()


def new_id() -> str:
    return str(uuid.uuid4())


# --- single events and batches -------------------------------------------------------------------------------
def test_a_single_event_is_201_then_a_duplicate_200(ingest_client, blog):
    event = {"blog_id": blog.pk, "country_code": "us", "event_id": new_id()}

    first = ingest_client.post(VIEWS, event, format="json")
    assert (first.status_code, first.json()) == (201, {"accepted": 1, "duplicates": 0, "rejected": []})
    retry = ingest_client.post(VIEWS, event, format="json")
    assert (retry.status_code, retry.json()) == (200, {"accepted": 0, "duplicates": 1, "rejected": []})
    assert BlogView.objects.filter(country__code="US").count() == 1


def test_an_invalid_single_event_is_a_400_naming_its_fields(ingest_client, blog):
    response = ingest_client.post(VIEWS, {"blog_id": "1", "country_code": "ZZ"}, format="json")

    error = assert_error_shape(response, 400)
    assert error["message"] == MSG_EVENT_REJECTED
    assert error["fields"] == {"blog_id": [MSG_NOT_INTEGER], "country_code": [MSG_UNKNOWN_COUNTRY]}
    assert not BlogView.objects.exists()


@pytest.mark.parametrize("envelope", [lambda events: {"events": events}, lambda events: events])
def test_a_batch_reports_each_outcome(ingest_client, blog, envelope):
    repeated = new_id()
    events = [
        {"blog_id": blog.pk, "event_id": repeated},
        {"blog_id": blog.pk + 1000},
        {"blog_id": blog.pk, "event_id": repeated},
        {"blog_id": blog.pk, "timestamp": "2020-02-29T23:59:59+14:00"},  # a late event
        {"blog_id": blog.pk, "timestamp": "tomorrow", "country_code": "zz"},
    ]

    response = ingest_client.post(VIEWS, envelope(events), format="json")

    assert response.status_code == 200
    assert response.json() == {
        "accepted": 2,
        "duplicates": 1,
        "rejected": [
            {"index": 1, "errors": {"blog_id": [MSG_UNKNOWN_BLOG]}},
            {"index": 4, "errors": {"timestamp": [MSG_BAD_TIMESTAMP], "country_code": [MSG_UNKNOWN_COUNTRY]}},
        ],
    }
    assert BlogView.objects.count() == 2


def test_a_batch_retried_after_a_timeout_stores_nothing_twice(ingest_client, blog):
    batch = {"events": [{"blog_id": blog.pk, "event_id": new_id()} for _ in range(50)]}

    assert ingest_client.post(VIEWS, batch, format="json").json() == {"accepted": 50, "duplicates": 0, "rejected": []}
    assert ingest_client.post(VIEWS, batch, format="json").json() == {"accepted": 0, "duplicates": 50, "rejected": []}
    assert BlogView.objects.count() == 50


def test_a_batch_with_only_invalid_events_is_still_a_200(ingest_client, blog):
    response = ingest_client.post(VIEWS, {"events": [{"blog_id": None}]}, format="json")
    assert (response.status_code, response.json()["accepted"], len(response.json()["rejected"])) == (200, 0, 1)


# --- envelopes and limits ------------------------------------------------------------------------------------
def _valid(blog_id: int) -> dict[str, Any]:
    return {"blog_id": blog_id, "event_id": new_id()}


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b"{not json", None, None),
        (b'{"events": [{"blog_id": NaN}]}', None, None),
        (b"\xff\xfe", None, None),
        (b"null", "", MSG_BODY_NOT_EVENTS),
        (b"42", "", MSG_BODY_NOT_EVENTS),
        (b'"event"', "", MSG_BODY_NOT_EVENTS),
        (b"[]", "", MSG_EMPTY_LIST),
        (b'{"events": []}', "events", MSG_EMPTY_LIST),
        (b'{"events": {"blog_id": 1}}', "events", MSG_EVENTS_NOT_LIST),
        ('{{"events": [{valid}], "source": "web"}}', "source", MSG_ENVELOPE_KEY),
        ('{{"events": [{valid}{more}]}}', "events", MSG_TOO_MANY_EVENTS),
        ("[{valid}{more}]", "", MSG_TOO_MANY_EVENTS),
    ],
)
def test_a_malformed_envelope_is_a_400_and_stores_nothing(ingest_client, blog, body, path, message):
    if isinstance(body, str):
        valid = json.dumps(_valid(blog.pk))
        body = body.format(valid=valid, more=f", {valid}" * MAX_EVENTS_PER_REQUEST).encode()

    error = assert_error_shape(ingest_client.post(VIEWS, body, content_type="application/json"), 400)

    if path is not None:
        assert error["fields"] == {path: [message]}
    assert not BlogView.objects.exists()


def test_a_thousand_events_are_accepted(ingest_client, blog):
    events = [_valid(blog.pk) for _ in range(MAX_EVENTS_PER_REQUEST)]
    response = ingest_client.post(VIEWS, {"events": events}, format="json")
    assert response.json() == {"accepted": MAX_EVENTS_PER_REQUEST, "duplicates": 0, "rejected": []}


def _body_of_size(size: int, blog_id: int) -> bytes:
    """A batch of exactly ``size`` bytes: one valid event, then one padded with an over-long ip_address."""
    head = '{"events": [' + json.dumps(_valid(blog_id)) + ', {"blog_id": ' + str(blog_id) + ', "ip_address": "'
    tail = '"}]}'
    return (head + "x" * (size - len(head) - len(tail)) + tail).encode()


def test_the_body_limit_is_one_mebibyte(ingest_client, blog, settings):
    assert settings.IDEEZA_MAX_BODY_BYTES == 1024 * 1024

    at_limit = ingest_client.post(VIEWS, _body_of_size(1024 * 1024, blog.pk), content_type="application/json")
    assert (at_limit.status_code, at_limit.json()["accepted"]) == (200, 1)

    over = ingest_client.post(VIEWS, _body_of_size(1024 * 1024 + 1, blog.pk), content_type="application/json")
    error = assert_error_shape(over, 400)
    assert (error["message"], error["code"]) == (MSG_BODY_TOO_LARGE.format(limit=1024 * 1024), "body_too_large")
    assert BlogView.objects.count() == 1  # only the batch at the limit


@pytest.mark.parametrize(("content_type", "body"), [("", b'{"blog_id": 1}'), ("text/plain", b'{"blog_id": 1}')])
def test_a_body_that_is_not_declared_json_is_a_415(ingest_client, blog, content_type, body):
    error = assert_error_shape(ingest_client.generic("POST", VIEWS, body, content_type=content_type), 415)
    if not content_type:
        assert error["message"] == MSG_CONTENT_TYPE


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_are_a_405(ingest_client, method):
    assert_error_shape(getattr(ingest_client, method)(VIEWS), 405)


# --- auth and throttling (SPEC §7) ----------------------------------------------------------------------------
@pytest.mark.parametrize("api_open", [True, False])
def test_without_a_valid_token_it_is_a_401_however_open_the_api_is(db, blog, api_open):
    client = APIClient()
    with override_settings(IDEEZA_API_OPEN=api_open):
        response = client.post(VIEWS, {"blog_id": blog.pk}, format="json")
        assert_error_shape(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")
        client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
        assert_error_shape(client.post(VIEWS, {"blog_id": blog.pk}, format="json"), 401)
    assert not BlogView.objects.exists()


@pytest.mark.parametrize("api_open", [True, False])
def test_a_user_without_the_permission_gets_a_403(db, blog, api_open):
    make_user("analyst", permitted=False)
    with override_settings(IDEEZA_API_OPEN=api_open):
        error = assert_error_shape(client_for("analyst").post(VIEWS, {"blog_id": blog.pk}, format="json"), 403)
    assert error["message"] == MSG_NO_INGEST_PERMISSION
    assert not BlogView.objects.exists()


@pytest.mark.parametrize("grant", ["group", "superuser"])
def test_the_permission_may_come_from_a_group_or_superuser_status(db, blog, grant):
    user = make_user("writer", permitted=False, is_superuser=grant == "superuser")
    if grant == "group":
        group = Group.objects.create(name="collectors")
        group.permissions.add(Permission.objects.get(codename="add_blogview"))
        user.groups.add(group)
    assert client_for("writer").post(VIEWS, {"blog_id": blog.pk}, format="json").status_code == 201


def test_throttled_requests_are_a_429_and_store_nothing(ingest_client, blog, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"analytics-ingest": "2/minute"})
    statuses = [ingest_client.post(VIEWS, {"blog_id": blog.pk}, format="json").status_code for _ in range(2)]
    assert statuses == [201, 201]

    response = ingest_client.post(VIEWS, {"blog_id": blog.pk}, format="json")
    error = assert_error_shape(response, 429)
    assert error["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert BlogView.objects.count() == 2

    # The rate is per user.
    make_user("second")
    assert client_for("second").post(VIEWS, {"blog_id": blog.pk}, format="json").status_code == 201


def test_the_schema_documents_the_endpoint_with_examples(db, api_client):
    schema = api_client.get("/swagger.json").json()
    operation = schema["paths"]["/api/analytics/views/"]["post"]
    body = next(parameter for parameter in operation["parameters"] if parameter["in"] == "body")
    assert body["schema"]["properties"]["events"]["maxItems"] == MAX_EVENTS_PER_REQUEST
    assert body["schema"]["example"]["events"]
    assert {"200", "201", "400", "401", "403", "429"} <= set(operation["responses"])
    for status in ("200", "201", "400"):
        assert operation["responses"][status]["examples"]["application/json"]
    result = schema["definitions"][operation["responses"]["200"]["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert set(result["properties"]) == {"accepted", "duplicates", "rejected"}


# --- late events in every answer at once (SPEC §4) -------------------------------------------------------------
BLOG_VIEWS = "/api/analytics/blog-views/country/"
TOP_BLOG = "/api/analytics/top/blog/"
PERFORMANCE = "/api/analytics/performance/"


def answers(client: APIClient) -> tuple[dict[str, list[tuple]], set[str]]:
    """The three endpoints' answers as (x, y, z) tuples (performance: May and June 2025, by month), and the
    X-Cache headers they came with."""
    out: dict[str, list[tuple]] = {}
    sources = set()
    for url, body in ((BLOG_VIEWS, {}), (TOP_BLOG, {}), (PERFORMANCE, {"year": 2025, "compare": "month"})):
        response = client.post(url, body, format="json")
        assert response.status_code == 200, response.content
        out[url] = [(row["x"], row["y"], row["z"]) for row in response.json()]
        sources.add(response.get("X-Cache", "none"))
    out[PERFORMANCE] = out[PERFORMANCE][4:6]
    return out, sources


BEFORE = {
    BLOG_VIEWS: [("US", 3, 6), ("DE", 2, 3)],
    TOP_BLOG: [("Django tips", 5, 2), ("Redis deep dive", 3, 2), ("Django tips", 2, 1)],
    PERFORMANCE: [("2025-05-01 (1 blogs)", 1, None), ("2025-06-01 (3 blogs)", 9, 800.0)],
}
# After a view of b3 from FR on Sunday 06-01 and one of b1 from the US on 05-20: days long folded.
AFTER = {
    BLOG_VIEWS: [("US", 3, 7), ("DE", 2, 3), ("FR", 1, 1)],
    TOP_BLOG: [("Django tips", 6, 2), ("Redis deep dive", 4, 3), ("Django tips", 2, 1)],
    PERFORMANCE: [("2025-05-01 (2 blogs)", 2, None), ("2025-06-01 (3 blogs)", 10, 400.0)],
}


def precalculate_stats() -> None:
    call_command("precalculate_stats", stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize("folded_before", [False, True])
def test_late_events_are_in_every_answer_at_once(dataset, api_client, folded_before):
    """SPEC §4: views on days folded long ago count at once, before and after the next fold, and the response
    cache, which held the old answers, serves none of them."""
    make_user("collector")
    if folded_before:
        precalculate_stats()
    assert answers(api_client)[0] == BEFORE
    assert answers(api_client) == (BEFORE, {"HIT"})

    late = [
        {"blog_id": dataset.b3.pk, "country_code": "fr", "timestamp": "2025-06-01T21:30:00Z", "event_id": new_id()},
        {"blog_id": dataset.b1.pk, "country_code": "US", "timestamp": "2025-05-20T08:00:00", "event_id": new_id()},
    ]
    response = client_for("collector").post(VIEWS, {"events": late}, format="json")
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}

    assert answers(api_client) == (AFTER, {"MISS"})
    precalculate_stats()
    assert answers(api_client)[0] == AFTER


# --- races (PostgreSQL) -----------------------------------------------------------------------------------------
def race(token: str, batches: list[list[dict]]) -> list[tuple[int, dict]]:
    """POST each batch from its own thread (and database connection), all released at the same instant."""
    start = threading.Barrier(len(batches))
    replies: list[tuple[int, dict]] = []

    def send(batch: list[dict]) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            start.wait(timeout=10)
            response = client.post(VIEWS, {"events": batch}, format="json")
            replies.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return replies


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reverse_second", [False, True])
def test_two_concurrent_requests_store_each_event_once(reverse_second):
    """Two clients send the same batch at the same moment: the database's unique index decides, and the two
    transactions wait for each other instead of deadlocking, in whatever order the events come."""
    if connection.vendor != "postgresql":
        pytest.skip("Concurrent writers need PostgreSQL (SQLite serialises them); runs on the PostgreSQL leg.")
    blogs = [BlogFactory.create() for _ in range(3)]
    make_user("collector")
    token = jwt(APIClient(), "collector")
    size, rounds = MAX_EVENTS_PER_REQUEST, 5

    for _ in range(rounds):
        events = [{"blog_id": blogs[index % 3].pk, "event_id": new_id()} for index in range(size)]
        replies = race(token, [events, events[::-1] if reverse_second else events])

        assert [status for status, _ in replies] == [200, 200], replies
        assert sum(body["accepted"] for _, body in replies) == size
        assert sum(body["duplicates"] for _, body in replies) == size
    assert BlogView.objects.count() == size * rounds
    assert BlogView.objects.values("event_id").distinct().count() == size * rounds
