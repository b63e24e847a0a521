"""With DEBUG on (as ``make run`` sets it), errors under /api/ are still the one shape (SPEC §6): Django's HTML
debug pages stay off the API (ideeza/middleware.py, ``ApiErrorShapeMiddleware``); other pages keep them."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client

from analytics.api.parsers import MSG_BODY_TOO_LARGE
from ideeza.exceptions import MSG_NOT_FOUND, MSG_SERVER_ERROR

SHAPE = {"message", "code", "fields"}


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    return settings


@pytest.mark.parametrize("path", ["/api/nope/", "/api/analytics/nope/", "/api/analytics/top/blog/extra/"])
def test_an_unknown_api_url_is_a_json_404(db, debug, path):
    response = Client().post(path, {}, content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": MSG_NOT_FOUND, "code": "not_found", "fields": {}}


def test_an_oversized_body_is_a_json_400(db, debug):
    body = b'{"x": "' + b"a" * (debug.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + b'"}'
    response = Client().post("/api/analytics/top/blog/", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()
    assert set(error) == SHAPE
    assert error["message"] == MSG_BODY_TOO_LARGE.format(limit=debug.DATA_UPLOAD_MAX_MEMORY_SIZE)


def test_a_crash_is_a_json_500(db, debug):
    with mock.patch("analytics.api.answers.grouped", side_effect=RuntimeError("boom")):
        response = Client(raise_request_exception=False).post(
            "/api/analytics/top/blog/", {}, content_type="application/json"
        )
    assert response.status_code == 500
    assert response.json() == {"message": MSG_SERVER_ERROR, "code": "server_error", "fields": {}}


def test_pages_outside_the_api_keep_the_debug_page(db, debug):
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
