"""SPEC §7 around the endpoints: JWT and IDEEZA_API_OPEN, the OpenAPI docs, /healthz, JSON 404s."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from analytics.services.folding import summaries_fold
from analytics.tests.conftest import ALL_QUERY_URLS, at
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory


@pytest.fixture
def account(db):
    user = UserFactory.create(username="analyst")
    user.set_password("s3cret-pass")
    user.save()
    return user


def token(api_client, username="analyst", password="s3cret-pass") -> str:
    response = api_client.post("/api/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["access"]


@pytest.mark.parametrize("url", ALL_QUERY_URLS)
def test_open_api_needs_no_token(db, api_client, url):
    assert api_client.post(url, {}, format="json").status_code == 200


@pytest.mark.parametrize("url", ALL_QUERY_URLS)
@override_settings(IDEEZA_API_OPEN=False)
def test_closed_api_needs_a_valid_token(account, api_client, url):
    response = api_client.post(url, {}, format="json")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "code", "fields"}
    assert response["WWW-Authenticate"].startswith("Bearer")

    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert api_client.post(url, {}, format="json").status_code == 401

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(api_client)}")
    assert api_client.post(url, {}, format="json").status_code == 200


def test_token_refresh(account, api_client):
    pair = api_client.post("/api/token/", {"username": "analyst", "password": "s3cret-pass"}, format="json").json()
    response = api_client.post("/api/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 200 and "access" in response.json()


def test_wrong_password_is_a_401_in_the_error_shape(account, api_client):
    response = api_client.post("/api/token/", {"username": "analyst", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "code", "fields"}


def test_token_request_missing_fields_names_them(db, api_client):
    response = api_client.post("/api/token/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"username", "password"}


def test_swagger_json_describes_every_endpoint(db, api_client):
    response = api_client.get("/swagger.json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/analytics/blog-views/{object_type}/",
        "/api/analytics/top/{top_type}/",
        "/api/analytics/performance/",
    ):
        operation = paths[path]["post"]
        body = next(param for param in operation["parameters"] if param["in"] == "body")
        assert "filters" in body["schema"]["properties"]
        assert operation["responses"]["200"]["schema"]["type"] == "array"
        assert "400" in operation["responses"]
    top_parameters = paths["/api/analytics/top/{top_type}/"]["post"]["parameters"]
    enum = next(param for param in top_parameters if param["name"] == "top_type")["enum"]
    assert sorted(enum) == ["blog", "country", "user"]
    assert "/healthz" in paths and "/api/token/" in paths


@pytest.mark.parametrize(
    ("url", "asset"),
    [
        ("/swagger/", "/static/drf-yasg/swagger-ui-dist/swagger-ui-bundle.js"),
        ("/redoc/", "/static/drf-yasg/redoc/redoc.min.js"),
    ],
)
def test_docs_pages_render_with_local_assets(db, client, url, asset):
    """The docs load their scripts from this service, not from a CDN."""
    page = client.get(url)
    assert page.status_code == 200
    assert asset.encode() in page.content
    script = client.get(asset)
    assert script.status_code == 200
    assert b"".join(script.streaming_content if script.streaming else [script.content])


def test_health_ok(db, api_client):
    response = api_client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok", "cache": "ok"})


def test_health_reports_an_unreachable_cache_without_failing(db, api_client):
    dead_redis = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    with override_settings(CACHES=dead_redis, DJANGO_REDIS_IGNORE_EXCEPTIONS=True):
        response = api_client.get("/healthz")
        assert (response.status_code, response.json()) == (
            200,
            {"status": "degraded", "database": "ok", "cache": "unreachable"},
        )
        # The analytics endpoints still answer.
        assert api_client.post("/api/analytics/top/blog/", {}, format="json").status_code == 200


def test_health_reports_a_dead_database(db, api_client, monkeypatch):
    from analytics.api import health

    monkeypatch.setattr(health, "database_reachable", lambda: False)
    response = api_client.get("/healthz")
    assert (response.status_code, response["Retry-After"]) == (503, "1")
    assert response.json() == {  # SPEC §6: every non-2xx response has the one shape
        "message": health.MSG_DATABASE_DOWN,
        "code": "service_unavailable",
        "fields": {"database": ["unreachable"], "cache": ["ok"]},
    }


def test_unknown_url_is_a_json_404(db, api_client):
    response = api_client.get("/no/such/page")
    assert response.status_code == 404
    assert set(response.json()) == {"message", "code", "fields"}


def _views(count: int) -> None:
    author = UserFactory(username=f"author-{count}")
    countries = [CountryFactory(code=f"Q{index}") for index in range(3)]
    for index in range(count):
        blog = BlogFactory(author=author, created_at=at("2025-01-01T00:00"))
        BlogViewFactory(blog=blog, country=countries[index % 3], timestamp=at("2025-06-01T12:00"))


@pytest.mark.parametrize("url", ALL_QUERY_URLS)
@pytest.mark.parametrize(("engine", "folded"), [("reference", False), ("summaries", False), ("summaries", True)])
def test_query_count_does_not_grow_with_the_data(db, api_client, frozen_now, settings, url, engine, folded):
    """A constant number of SQL statements per request (no N+1), whatever the number of groups.

    The fast path reads the catalogue token first (migration 0006); a repeated request finds the catalogue in
    the cache and skips the blog and country reads: at most 14 statements on a miss, two fewer on a hit (three
    when the answer shows usernames or titles, which the cached listing remembers). One of the 14 is read only
    when part of the window is raw: which hour blocks exist there (migration 0013).
    """
    settings.IDEEZA_QUERY_ENGINE = engine
    settings.IDEEZA_PERFORMANCE_X_METRIC = "created"
    body = {"year": 2025, "country_codes": ["q1", "Q2"]}

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = api_client.post(url, body, format="json")
            assert response.status_code == 200
        return len(queries)

    counts = []
    for size in (2, 20):
        _views(size)
        if folded:
            summaries_fold(full=True)
        counts.append(count())
    assert counts[0] == counts[1] <= 14
    if engine == "summaries":
        # Past the response cache, into the fast path again: the data version is still read (it names the ETag,
        # SPEC §8), and the catalogue, cached now, skips its blog and country reads; the usernames or titles an
        # answer shows are remembered by the cached listing too (docs/design.md, query path step 1).
        settings.CACHE_TIMEOUT = 0
        names_read = folded and any(part in url for part in ("/user/", "/top/blog/"))  # unfolded: the scan
        assert count() == counts[1] - (3 if names_read else 2)
