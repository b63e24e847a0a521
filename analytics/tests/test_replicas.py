"""SPEC §10, read replicas: the fence and the routing of ``analytics/replicas.py``, in process.

A second connection to the test database under a replica's alias stands in for a replica: it holds the same data,
so every answer computed there must equal the primary's, and a guard on the primary's connection proves that no
statement of the computation went to the primary (a read path that still used ``django.db.connection`` would mix
two snapshots on a real replica). The real thing, a streaming replica held back by ``recovery_min_apply_delay``,
is in ``analytics/tests/cluster/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError, connections
from rest_framework.test import APIClient

from analytics import replicas
from analytics.api.cache import data_version
from analytics.models import Country
from analytics.services.folding import summaries_fold
from analytics.tests.conftest import ALL_QUERY_URLS, Dataset, at
from analytics.tests.factories import BlogViewFactory
from analytics.tests.faults.support import is_postgresql

REPLICA = "replica1"
pytestmark = [
    pytest.mark.skipif(
        not is_postgresql(), reason="Replicas are PostgreSQL streaming replicas (SPEC §10): the PostgreSQL leg runs it"
    ),
    pytest.mark.django_db(transaction=True, databases=["default", REPLICA]),
]
BODIES: list[dict[str, Any]] = [
    {},
    {"country_codes": ["us"], "start_date": "2025-06-01"},
    {"author_username": "alice", "compare_to": "previous_period", "start_date": "2025-06-08", "end_date": "2025-06-15"},
    {
        "filters": {
            "or": [{"eq": {"field": "country", "value": "DE"}}, {"contains": {"field": "blog_title", "value": "dj"}}]
        }
    },
    {"exclude_country_codes": ["US"], "compare": "week"},
]


@pytest.fixture(scope="module", autouse=True)
def _replica_alias(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The test database under a replica's alias, as ``DATABASE_REPLICA_URLS`` would configure one. Module-scoped,
    so it exists before each test case is set up: pytest-django then lets the tests that name it use it."""
    if not is_postgresql():
        yield
        return
    connections.settings[REPLICA] = {**connections.settings["default"]}
    yield
    connections[REPLICA].close()
    del connections[REPLICA]
    del connections.settings[REPLICA]


@pytest.fixture
def replica(settings: Any) -> Iterator[str]:
    """The replica in use: answers are computed there (when it has applied the primary's data version)."""
    settings.IDEEZA_REPLICA_ALIASES = [REPLICA]
    settings.CACHE_TIMEOUT = 0
    replicas.forget_failures()
    yield REPLICA
    replicas.forget_failures()


@pytest.fixture
def folded_with_raw(dataset: Dataset) -> Dataset:
    """The dataset folded, then one more view: answers read blocks, the catalogue and a raw range."""
    summaries_fold()
    BlogViewFactory(blog=dataset.b3, country=Country.objects.get(code="US"), timestamp=at("2025-06-15T09:30"))
    return dataset


@contextmanager
def primary_statements_while_on_a_replica() -> Iterator[list[str]]:
    """Every statement the primary's connection ran while the read path was on a replica."""
    seen: list[str] = []

    def guard(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if replicas.reading_alias() != "default":
            seen.append(sql)
        return execute(sql, params, many, context)

    with connections["default"].execute_wrapper(guard):
        yield seen


def _answers(settings: Any, aliases: list[str]) -> list[tuple[int, Any, str | None]]:
    settings.IDEEZA_REPLICA_ALIASES = aliases
    client = APIClient()
    found = []
    for url in ALL_QUERY_URLS:
        for body in BODIES:
            if url.endswith("/performance/") is False and "compare" in body:
                body = {key: value for key, value in body.items() if key != "compare"}
            response = client.post(url, body, format="json")
            found.append((response.status_code, response.json(), response.headers.get("X-Read-From")))
    return found


@pytest.mark.parametrize("engine", ["summaries", "reference"])
def test_every_answer_is_computed_on_the_replica_alone_and_equals_the_primarys(
    replica: str, folded_with_raw: Dataset, settings: Any, engine: str
) -> None:
    settings.IDEEZA_QUERY_ENGINE = engine
    on_primary = _answers(settings, [])
    with primary_statements_while_on_a_replica() as leaked:
        on_replica = _answers(settings, [replica])
    assert {source for _, _, source in on_primary} == {"primary"}
    assert {source for _, _, source in on_replica} == {replica}
    assert [answer[:2] for answer in on_replica] == [answer[:2] for answer in on_primary]
    assert all(status == 200 for status, _, _ in on_replica)
    assert leaked == []


def test_a_replica_that_has_not_applied_the_version_is_not_read(replica: str, folded_with_raw: Dataset) -> None:
    current = data_version()

    def where() -> str:
        return replicas.reading_alias()

    assert replicas.fenced(current, where) == replicas.Served(replica, replica)
    # A write the replica has not applied yet: the primary answers.
    assert replicas.fenced(current + 1, where) == replicas.Served("default", replicas.PRIMARY)


def test_a_replica_that_refuses_connections_sends_answers_to_the_primary_and_is_left_alone(
    replica: str, folded_with_raw: Dataset
) -> None:
    working = connections.settings[REPLICA]
    connections[REPLICA].close()
    del connections[REPLICA]
    connections.settings[REPLICA] = {**working, "HOST": "127.0.0.1", "PORT": 1}
    try:
        _refused(replica)
    finally:
        connections[REPLICA].close()
        del connections[REPLICA]
        connections.settings[REPLICA] = working


def _refused(replica: str) -> None:
    client = APIClient()
    first = client.post(ALL_QUERY_URLS[0], {}, format="json")
    assert (first.status_code, first.headers["X-Read-From"]) == (200, replicas.PRIMARY)
    # Skipped for IDEEZA_REPLICA_RETRY_SECONDS: the next request does not try it again.
    with mock.patch.object(connections[REPLICA], "connect", side_effect=AssertionError("tried again")):
        again = client.post(ALL_QUERY_URLS[1], {}, format="json")
    assert (again.status_code, again.headers["X-Read-From"]) == (200, replicas.PRIMARY)
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert [(entry["name"], entry["state"]) for entry in health.json()["replicas"]] == [(REPLICA, "unreachable")]


def test_a_query_cancelled_by_a_recovery_conflict_is_answered_by_the_primary(
    replica: str, folded_with_raw: Dataset
) -> None:
    statements = []

    def conflict(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        if len(statements) == 3:  # inside the answer's snapshot, after the fence's read
            raise OperationalError("canceling statement due to conflict with recovery")
        return execute(sql, params, many, context)

    expected = APIClient().post("/api/analytics/top/blog/", {}, format="json").json()
    with connections[REPLICA].execute_wrapper(conflict):
        response = APIClient().post("/api/analytics/top/blog/", {}, format="json")
    assert len(statements) >= 3
    assert (response.status_code, response.json(), response.headers["X-Read-From"]) == (200, expected, "primary")
    # A conflict cancels one query; the replica is not left alone for it.
    assert replicas._candidates() == [REPLICA]


def test_healthz_names_a_replica_that_is_not_in_recovery(replica: str, folded_with_raw: Dataset) -> None:
    body = APIClient().get("/healthz").json()
    assert body["status"] == "degraded"
    unmeasured = {"versions_behind": None, "lag_bytes": None, "replay_age_seconds": None}
    assert body["replicas"] == [{"name": REPLICA, "state": "not-a-replica", **unmeasured}]


def test_without_replicas_healthz_keeps_its_shape() -> None:
    assert set(APIClient().get("/healthz").json()) == {"status", "database", "cache"}
