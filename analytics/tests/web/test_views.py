"""GET /dashboard/ and its static files, with and without DEBUG (no browser needed)."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from analytics.web.views import CONTENT_SECURITY_POLICY

STATIC = [
    "/static/vendor/uplot/uPlot.iife.js",
    "/static/vendor/uplot/uPlot.min.css",
    "/static/analytics/dashboard/dashboard.js",
    "/static/analytics/dashboard/dashboard.css",
]


@pytest.mark.parametrize("debug", [False, True])
def test_the_page_and_its_files_are_served_with_a_strict_csp(db, debug):
    with override_settings(DEBUG=debug):
        client = Client(HTTP_HOST="localhost")
        response = client.get("/dashboard/")
        assert response.status_code == 200
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        html = response.content.decode()
        assert "<script>" not in html and "<style" not in html and " style=" not in html
        for path in STATIC:
            assert path in html
            assert client.get(path).status_code == 200, path


def test_only_the_dashboard_carries_the_csp(db):
    assert "Content-Security-Policy" not in Client(HTTP_HOST="localhost").get("/swagger/")


def test_the_dashboard_is_get_only(db):
    assert Client(HTTP_HOST="localhost").post("/dashboard/").status_code == 405
