"""The request log (ideeza/middleware.py): one JSON line per request on ``ideeza.request`` with path, status,
duration, cache state, user and request id (issue #5, deployment), and the ``X-Request-ID`` round trip."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from analytics.tests.factories import UserFactory
from ideeza.logs import JsonFormatter
from ideeza.middleware import REQUEST_ID_HEADER

TOP_BLOG = "/api/analytics/top/blog/"
KEYS = {"method", "path", "status", "duration_ms", "cache", "user_id", "request_id", "remote_addr"}


@pytest.fixture
def request_lines(caplog):
    """The request log's lines so far, each as the JSON object the production formatter writes."""
    caplog.set_level(logging.INFO, logger="ideeza.request")
    formatter = JsonFormatter()

    def lines() -> list[dict]:
        records = [record for record in caplog.records if record.name == "ideeza.request"]
        return [json.loads(formatter.format(record)) for record in records]

    return lines


def only_line(lines: list[dict]) -> dict:
    assert len(lines) == 1, lines
    line = lines[0]
    assert KEYS <= set(line), line
    assert line["logger"] == "ideeza.request" and line["level"] == "INFO"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    return line


def test_a_cached_and_an_uncached_query_each_log_one_line_with_the_cache_state(dataset, api_client, request_lines):
    first = api_client.post(TOP_BLOG, {"range": "month"}, format="json")
    miss = only_line(request_lines())
    second = api_client.post(TOP_BLOG, {"range": "month"}, format="json")
    hit = only_line(request_lines()[1:])

    assert (first["X-Cache"], second["X-Cache"]) == ("MISS", "HIT")
    for line, response in ((miss, first), (hit, second)):
        assert line["method"] == "POST" and line["path"] == TOP_BLOG and line["status"] == 200
        assert line["user_id"] is None and line["remote_addr"] == "127.0.0.1"
        assert line["request_id"] == response[REQUEST_ID_HEADER]
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
    assert (miss["cache"], hit["cache"]) == ("MISS", "HIT")
    assert miss["request_id"] != hit["request_id"]
    assert hit["message"] == f"POST {TOP_BLOG} 200 {hit['duration_ms']:.2f}ms cache=HIT"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (TOP_BLOG, {"range": "fortnight"}, 400),
        ("/api/analytics/top/planet/", {}, 404),
        ("/no/such/page/", {}, 404),
    ],
    ids=["invalid-body", "unknown-top-type", "unknown-url"],
)
def test_error_responses_are_logged_with_their_status_and_no_cache(db, api_client, request_lines, path, body, status):
    response = api_client.post(path, body, format="json")

    assert response.status_code == status
    line = only_line(request_lines())
    assert (line["path"], line["status"], line["cache"]) == (path, status, None)
    assert line["request_id"] == response[REQUEST_ID_HEADER]


def test_the_authenticated_user_is_named_by_id(dataset, api_client, request_lines):
    user = UserFactory.create()
    api_client.force_authenticate(user)

    api_client.post(TOP_BLOG, {}, format="json")

    assert only_line(request_lines())["user_id"] == user.pk


def test_a_plain_request_id_from_the_client_is_kept_and_echoed(db, api_client, request_lines):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID="edge-7f3a:42")

    assert response[REQUEST_ID_HEADER] == "edge-7f3a:42"
    assert only_line(request_lines())["request_id"] == "edge-7f3a:42"


@pytest.mark.parametrize("incoming", ["", "x" * 129, "two words", 'quote"d', "line\nbreak"])
def test_an_unusable_request_id_is_replaced_by_a_fresh_one(db, api_client, request_lines, incoming):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID=incoming)

    assert re.fullmatch(r"[0-9a-f]{32}", response[REQUEST_ID_HEADER])
    assert only_line(request_lines())["request_id"] == response[REQUEST_ID_HEADER]


def test_lines_logged_while_serving_a_request_carry_its_id(db, api_client, monkeypatch):
    """Any logger's line during the request (here /healthz's own warning) names the request it belongs to."""
    from analytics.api import health

    def broken_cache_set(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(health.cache, "set", broken_cache_set)
    # A handler formatting as production does, at emit time (inside the request).
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    health_logger = logging.getLogger("analytics.api.health")
    health_logger.addHandler(handler)
    try:
        response = api_client.get("/healthz", HTTP_X_REQUEST_ID="probe-1")
    finally:
        health_logger.removeHandler(handler)

    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert response.status_code == 200 and len(lines) == 1
    assert (lines[0]["message"], lines[0]["request_id"]) == ("healthz: cache unreachable", "probe-1")
    assert "ConnectionError: cache down" in lines[0]["exc_info"]
    # Outside a request, no id.
    assert "request_id" not in json.loads(JsonFormatter().format(logging.makeLogRecord({"msg": "idle"})))


def test_request_logging_can_be_turned_off(db, api_client, request_lines, settings):
    settings.LOG_REQUESTS = False

    response = api_client.get("/healthz")

    assert request_lines() == []
    assert response[REQUEST_ID_HEADER]  # the id is still set: it is not part of the log
