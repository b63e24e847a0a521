"""Shared fixtures: an empty cache per test, blocks for every filter, the live server, an API client, and the
hand-computed data set."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler
from pytest_django.live_server_helper import LiveServer
from rest_framework.test import APIClient

from analytics.models import Blog
from analytics.selectors import summaries
from analytics.services import folding
from analytics.services.partitions import partitions_ensure
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """On PostgreSQL, month partitions of the views (migration 0015) from 2025-01 to 2027-04 besides the
    migration's: the suites' views (around 2025-06 and around today) then fall in many partitions, and the older
    ones in the DEFAULT partition."""
    with django_db_blocker.unblock():
        partitions_ensure(since=date(2025, 1, 1), now=datetime(2027, 1, 1, tzinfo=UTC))


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts from an empty cache (the PostgreSQL leg shares one Redis database)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _blocks_for_every_filter(monkeypatch):
    """The fast path reads a few blogs' raw events instead of blocks (``summaries.RAW_BLOGS_MAX``); on test-sized
    data every blog filter would qualify and the block path would go untested. So tests read blocks, unless
    they ask for the narrowed read (``narrowed_reads``) or the blog timelines (``timeline_reads``); the
    differential suites run all three."""
    monkeypatch.setattr(summaries, "RAW_BLOGS_MAX", -1)
    monkeypatch.setattr(summaries, "TIMELINE_BLOGS_SHARE", -1)


def narrowed_reads():  # type: ignore[no-untyped-def]
    """A context in which every mask that keeps some blogs reads their raw events (no block is read for them)."""
    return mock.patch.multiple(summaries, RAW_BLOGS_MAX=10**9, RAW_VIEWS_MAX=10**9)


@contextmanager
def calls_counted(module: object, name: str, when: Callable[[Any], bool] = lambda result: True) -> Iterator[list[int]]:
    """Patch ``module.name`` so that its calls whose result satisfies ``when`` are counted (in the yielded one-item
    list): a test shows that the path it means to prove was taken."""
    real = getattr(module, name)
    count = [0]

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        count[0] += bool(when(result))
        return result

    with mock.patch.object(module, name, counted):
        yield count


def hour_reads():  # type: ignore[no-untyped-def]
    """A context in which the fold writes hour blocks for every day it folds, not only the recent ones
    (``folding.HOUR_BLOCK_DAYS``), so a changed day's unchanged hours and a window's partial-day edges read them."""
    return mock.patch.object(folding, "HOUR_BLOCK_DAYS", 100_000)


def timeline_reads():  # type: ignore[no-untyped-def]
    """A context in which every mask that keeps some blogs reads its clean days of the last 364 from their blog
    timelines (``summaries.TIMELINE_BLOGS_SHARE``), and blocks or raw events only for the rest."""
    return mock.patch.multiple(summaries, RAW_BLOGS_MAX=-1, TIMELINE_BLOGS_SHARE=1.0)


class SerialLiveServerThread(LiveServerThread):
    """A live server that answers one request at a time, on its own thread (Django's plain ``WSGIServer``).

    On in-memory SQLite the test and the server share the test's one connection. Django's threaded server runs
    each request on a thread of its own, so parallel requests (the dashboard sends six) interleave their
    transactions on that connection: "cannot start a transaction within a transaction", answered 503. Served
    one at a time they cannot. Without a threading server Django's handler answers ``Connection: close``, so an
    idle keep-alive connection never holds the next request up.
    """

    def _create_server(self, connections_override=None):  # type: ignore[no-untyped-def]
        # run() has already put the shared connections on this thread, which is the only one serving.
        return WSGIServer((self.host, self.port), QuietWSGIRequestHandler, allow_reuse_address=False)


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest, django_db_setup: None) -> Iterator[LiveServer]:
    """pytest-django's ``live_server``, serving one request at a time when it shares an in-memory SQLite
    connection with the tests; on PostgreSQL it stays Django's threaded server."""
    addr = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    server = LiveServer(addr, start=False)
    threaded = server.thread
    if threaded.connections_override:
        server.thread = SerialLiveServerThread(
            threaded.host,
            threaded.static_handler,
            connections_override=threaded.connections_override,
            port=threaded.port,
        )
        server.thread.daemon = True
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


# --- the hand-computed data set --------------------------------------------------------------------------------
# A small data set whose every answer is computed by hand in the tests (SPEC §5).
#
# Reporting timezone UTC; "now" is frozen at Sunday 2025-06-15 12:00 UTC.
#
#     blog  title              author  created     views
#     b1    "Django tips"      alice   2025-05-01  US×3 @06-10 10:00, DE×1 @06-11 09:00, no country×1 @06-12 18:00
#     b2    "Django tips"      bob     2025-06-14  US×2 @06-14 08:00
#     b3    "Redis deep dive"  alice   2025-04-01  DE×2 @06-01 (a Sunday) 20:00, US×1 @05-20 07:00
#     FR exists with no views.


NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)

# Every query endpoint of SPEC §5, one URL per object type.
QUERY_URLS = [
    "/api/analytics/blog-views/country/",
    "/api/analytics/blog-views/user/",
    "/api/analytics/top/blog/",
    "/api/analytics/top/user/",
    "/api/analytics/top/country/",
    "/api/analytics/performance/",
]
# SPEC §8's totals: the same body keys (no limit), one object instead of rows.
TOTALS_URL = "/api/analytics/totals/"
ALL_QUERY_URLS = [*QUERY_URLS, TOTALS_URL]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def frozen_now():
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        yield NOW


@dataclass
class Dataset:
    b1: Blog
    b2: Blog
    b3: Blog


@pytest.fixture
def dataset(db, frozen_now) -> Dataset:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    us, de = CountryFactory(code="US", name="United States"), CountryFactory(code="DE", name="Germany")
    CountryFactory(code="FR", name="France")
    b1 = BlogFactory.create(title="Django tips", author=alice, created_at=at("2025-05-01T00:00"))
    b2 = BlogFactory.create(title="Django tips", author=bob, created_at=at("2025-06-14T03:00"))
    b3 = BlogFactory.create(title="Redis deep dive", author=alice, created_at=at("2025-04-01T00:00"))
    for _ in range(3):
        BlogViewFactory(blog=b1, country=us, timestamp=at("2025-06-10T10:00"))
    BlogViewFactory(blog=b1, country=de, timestamp=at("2025-06-11T09:00"))
    BlogViewFactory(blog=b1, country=None, timestamp=at("2025-06-12T18:00"))
    for _ in range(2):
        BlogViewFactory(blog=b2, country=us, timestamp=at("2025-06-14T08:00"))
    for _ in range(2):
        BlogViewFactory(blog=b3, country=de, timestamp=at("2025-06-01T20:00"))
    BlogViewFactory(blog=b3, country=us, timestamp=at("2025-05-20T07:00"))
    return Dataset(b1, b2, b3)


@pytest.fixture
def post(api_client):
    """POST a JSON body and return (status, parsed JSON)."""

    def _post(url: str, body: object = None, **extra):  # type: ignore[no-untyped-def]
        response = api_client.post(url, body if body is not None else {}, format="json", **extra)
        return response.status_code, response.json()

    return _post
