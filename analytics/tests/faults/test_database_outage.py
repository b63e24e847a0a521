"""Fault: the database restarts while the service runs (SPEC §6 one error shape, §7).

Requests in flight and requests during the outage get a 503 ``service_unavailable`` in the one error shape (never
a 500 or a hang); once the database is back, requests succeed with correct answers, without restarting anything.

The unit tests below run on both databases. The real fault runs gunicorn (persistent connections,
``DATABASE_CONN_MAX_AGE``) against PostgreSQL through a TCP proxy that the test controls; "restart" = stall the
traffic, reset every connection, refuse new ones for a moment, then accept again. The shared server is never
touched.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import InterfaceError, OperationalError
from django.test import Client, RequestFactory
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from analytics.models import BlogView
from analytics.services.folding import summaries_fold
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory
from analytics.tests.faults.support import (
    API,
    QUERIES,
    TcpProxy,
    child_env,
    gunicorn,
    is_postgresql,
    postgres_address,
    postgres_url,
    reference_answer,
)
from ideeza.exceptions import MSG_UNAVAILABLE, server_error

UNAVAILABLE = {"message": MSG_UNAVAILABLE, "code": "service_unavailable", "fields": {}}


# --- the mapping, on both databases ---------------------------------------------------------------------------
@pytest.mark.parametrize("error", [OperationalError("server closed the connection"), InterfaceError("closed")])
def test_a_database_error_in_an_api_view_is_a_503_in_the_error_shape(db, monkeypatch, error, caplog):
    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr("analytics.api.views.cached", unreachable)
    response = APIClient().post(f"{API}/top/blog/", {}, format="json")
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert response["Retry-After"] == "1"
    assert "database unavailable" in caplog.text and "POST /api/analytics/top/blog/" in caplog.text


def test_a_database_error_outside_drf_is_a_503_in_the_error_shape(db, monkeypatch):
    """Django's own stack (middleware, admin) reaches handler500, which must answer 503 for a database outage."""

    def unreachable(self: Any) -> Any:
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", unreachable)
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "x" * 32
    response = client.get("/admin/")  # the admin reads the session user: a query outside any DRF view
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert response["Retry-After"] == "1"


def test_other_uncaught_errors_stay_500(db):
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500


# --- the real fault, on PostgreSQL ----------------------------------------------------------------------------
def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _populate() -> str:
    """A small data set in 2025 (the queries' bounds) and a JWT of an ingest user; the fold is done."""
    authors = [UserFactory.create(username=name) for name in ("ann", "ben", "cyd")]
    countries = [CountryFactory.create(code=code) for code in ("US", "DE", "FR")]
    blogs = [
        BlogFactory.create(title=f"Post {index % 4}", author=authors[index % 3], created_at=_at("2025-01-02T00:00"))
        for index in range(8)
    ]
    for index in range(120):
        BlogViewFactory.create(
            blog=blogs[index % 8],
            country=None if index % 11 == 0 else countries[index % 3],
            timestamp=_at("2025-03-01T00:00").replace(day=1 + index % 28, month=3 + index % 4, hour=index % 24),
        )
    summaries_fold(full=True)
    collector = UserFactory.create(username="collector")
    collector.user_permissions.add(Permission.objects.get(codename="add_blogview"))
    return str(AccessToken.for_user(collector))


@pytest.mark.slow
@pytest.mark.skipif(not is_postgresql(), reason="the outage is of a database server over TCP: PostgreSQL leg only")
def test_postgresql_restart_gives_503s_then_the_service_recovers_by_itself(transactional_db, tmp_path: Path):
    token = _populate()
    expected = {path: reference_answer(path, body) for path, body in QUERIES}
    proxy = TcpProxy(postgres_address())
    env = child_env(DATABASE_URL=postgres_url(port=proxy.port), DATABASE_CONN_MAX_AGE="600", WEB_CONCURRENCY="2")
    try:
        with gunicorn(env=env, log=tmp_path / "gunicorn.log") as server:
            for _ in range(2):  # both workers open their persistent connection and answer correctly
                for path, body in QUERIES:
                    reply = server.post(path, body)
                    assert (reply.status, reply.json()) == (200, expected[path])
            opened = proxy.accepted

            # A request in flight: its queries reach the proxy, which holds them; then the server "restarts".
            proxy.stall()
            in_flight: list[Any] = []
            path, body = QUERIES[-1]
            worker = threading.Thread(target=lambda: in_flight.append(server.post(path, body)))
            worker.start()
            assert proxy.wait_for_held_chunk(timeout=10), "the in-flight request never reached the database"
            proxy.cut()
            worker.join(timeout=30)
            assert in_flight and (in_flight[0].status, in_flight[0].json()) == (503, UNAVAILABLE), in_flight

            # During the outage: every kind of request is a quick 503 in the one shape (the health check says so
            # in its own body), nothing is stored, and the workers stay up.
            blog_id = BlogView.objects.values_list("blog_id", flat=True)[0]
            events = [{"blog_id": blog_id, "event_id": str(uuid.uuid4())} for _ in range(3)]
            down = [server.post(path, body) for path, body in QUERIES]
            down.append(server.post(f"{API}/views/", {"events": events}, token=token))
            down.append(server.post("/api/token/", {"username": "collector", "password": "wrong"}))
            for reply in down:
                assert (reply.status, reply.json(), reply.headers["Retry-After"]) == (503, UNAVAILABLE, "1")
                assert reply.seconds < 10
            health = server.request("GET", "/healthz")
            assert (health.status, health.json()["code"], health.json()["fields"]["database"]) == (
                503,
                "service_unavailable",
                ["unreachable"],
            )
            assert proxy.refused > 0

            proxy.restore()
            time.sleep(0.2)
            for _ in range(2):  # both workers: a broken connection is discarded, a new one opened
                for path, body in QUERIES:
                    reply = server.post(path, body)
                    assert (reply.status, reply.json()) == (200, expected[path])
            assert proxy.accepted > opened
            assert server.request("GET", "/healthz").status == 200
            # The batch refused during the outage stored nothing: resent as it was, it is stored now, once.
            resent = server.post(f"{API}/views/", {"events": events}, token=token)
            assert (resent.status, resent.json()) == (200, {"accepted": 3, "duplicates": 0, "rejected": []})

            # A restart while the service is idle: the persistent connections break unseen, and still the very
            # first request after it succeeds (CONN_HEALTH_CHECKS tests a reused connection before the request).
            proxy.cut()
            time.sleep(0.2)
            proxy.restore()
            for path, body in QUERIES * 2:
                reply = server.post(path, body)
                assert (reply.status, reply.json()) == (200, expected[path])

            log = server.log_text()
            assert server.process.poll() is None
            assert log.count("Booting worker") == 2, log  # no worker died and was replaced
            assert "database unavailable" in log  # every 503 was logged
            assert "Internal Server Error" not in log and '" 500 ' not in log
    finally:
        proxy.close()
