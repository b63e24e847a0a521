"""The live server of the browser and schema tests (analytics/tests/conftest.py) on both CI legs.

The dashboard sends its six API requests at once. On in-memory SQLite the server shares the tests' one
connection, so Django's threaded server interleaves their transactions (``compare_to`` answers take one
snapshot each) and answers 503s; the suite's live server serves them one at a time instead.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests
from django.db import connection

from analytics.tests.conftest import SerialLiveServerThread
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory

PAGE_PATHS = ["totals", "performance", "top/blog", "top/user", "top/country", "blog-views/country"]
ROUNDS = 20


def test_the_server_thread_matches_the_database(live_server):
    shares_the_test_connection = connection.vendor == "sqlite" and connection.is_in_memory_db()  # type: ignore[attr-defined]
    assert isinstance(live_server.thread, SerialLiveServerThread) is shares_the_test_connection
    assert bool(live_server.thread.connections_override) is shares_the_test_connection


def test_the_pages_parallel_requests_are_all_answered(live_server, transactional_db):
    blog = BlogFactory.create()
    BlogViewFactory.create_batch(3, blog=blog, country=CountryFactory(code="US"))

    def ask(path: str, round_: int) -> int:
        # A body of its own per round: a cached answer would not touch the database.
        body = {"range": "month", "compare_to": "previous_period", "author_username": f"someone-{round_}"}
        return requests.post(f"{live_server.url}/api/analytics/{path}/", json=body, timeout=30).status_code

    with ThreadPoolExecutor(len(PAGE_PATHS)) as pool:
        for round_ in range(ROUNDS):
            statuses = list(pool.map(ask, PAGE_PATHS, [round_] * len(PAGE_PATHS)))
            assert statuses == [200] * len(PAGE_PATHS), f"round {round_}: {statuses}"
