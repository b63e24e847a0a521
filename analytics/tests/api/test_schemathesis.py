"""Schemathesis against the service's own /swagger.json, over HTTP on a live server (issue #5, SPEC §6, §7).

Every operation of the schema gets a bounded, deterministic set of generated requests — schema-valid and
schema-violating ones (mode "all": the examples, coverage and fuzzing phases) — and every response must be no
500, carry a documented status code and content type, and match its documented schema. The schema is the one
the service serves: it is read at import (schemathesis builds one pytest item per operation at collection) and
``test_live_server_serves_the_schema_under_test`` proves it is what the live server answers.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from django.contrib.auth.models import Permission
from django.test import Client
from hypothesis import HealthCheck, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import checks

from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory

MAX_EXAMPLES = 30  # per operation in the fuzzing phase; the examples and coverage phases add their own cases
INGEST = "/api/analytics/views/"
QUERY_PATHS = ("/api/analytics/blog-views/", "/api/analytics/top/", "/api/analytics/performance/")

CONFIG = schemathesis.Config.from_dict(
    {"generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"}}
)

# What every response must satisfy. Not positive_data_acceptance: a JSON schema cannot say that 2025-02-30 is
# no date or that a tree is deeper than 8, so schema-valid bodies may rightly be a 400.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.ignored_auth,
    checks.missing_required_header,
    checks.unsupported_method,  # wrong method → 405 with an Allow header (SPEC §6)
]
# A schema-violating query body must be refused (SPEC §6). Not for ingestion: an invalid event in a batch is
# reported in a 200 next to the valid ones, by design (docs/ingestion.md).
QUERY_CHECKS = [*CHECKS, checks.negative_data_rejection]


def _served_schema() -> dict[str, Any]:
    response = Client(HTTP_HOST="localhost").get("/swagger.json")
    assert response.status_code == 200, response.content
    return response.json()


schema = schemathesis.openapi.from_dict(_served_schema(), config=CONFIG)


@pytest.fixture
def writer_token(transactional_db) -> str:
    """Some views to answer about (one blog has an empty title, one view no country), and a JWT of a user who may
    record views, so that generated ingestion requests reach the validation code rather than stopping at 401."""
    writer = UserFactory.create(username="writer")
    writer.user_permissions.add(Permission.objects.get(codename="add_blogview"))
    us, de = CountryFactory(code="US"), CountryFactory(code="DE")
    blog = BlogFactory.create(title="Django tips")
    BlogViewFactory.create_batch(3, blog=blog, country=us)
    BlogViewFactory.create(blog=blog, country=de)
    BlogViewFactory.create(blog=BlogFactory.create(title=""), country=None)
    return str(RefreshToken.for_user(writer).access_token)


def _checks_for(case: schemathesis.Case) -> list:
    return QUERY_CHECKS if case.operation.path.startswith(QUERY_PATHS) else CHECKS


# Each operation's test runs many generated cases against one data set: the shared fixture is intended.
@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation(case, live_server, writer_token):
    """Ingestion with a writer's token, so generated events reach validation; the rest as an anonymous client
    would call them (the query endpoints are open by default, /healthz and the token endpoints always)."""
    headers = {"Authorization": f"Bearer {writer_token}"} if case.operation.path == INGEST else None
    case.call_and_validate(base_url=live_server.url, headers=headers, checks=_checks_for(case))


@schema.include(path=INGEST).parametrize()
@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_ingestion_without_a_token(case, live_server, writer_token):
    response = case.call_and_validate(base_url=live_server.url, checks=_checks_for(case))
    assert response.status_code in (401, 405), response.text  # 405: the coverage phase's unexpected methods


def test_live_server_serves_the_schema_under_test(live_server, transactional_db):
    served = requests.get(f"{live_server.url}/swagger.json", timeout=10).json()
    assert served["paths"] and {**served, "host": None} == {**schema.raw_schema, "host": None}
