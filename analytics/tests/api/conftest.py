"""The API tests share the hand-computed data set of analytics/tests/conftest.py, and the two authors of the scope
tests (SPEC §9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from analytics.models import Blog
from analytics.tests.conftest import NOW, Dataset, at
from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory

__all__ = ["NOW", "Dataset", "at", "Authors", "with_author", "client_for"]

# Every trace of bob's blog in an answer: his username, his title, and GB (only his blog was viewed from there).
BOB_MARKERS = (b"bob", b"secret plans", b"gb")


@dataclass
class Authors:
    """alice: two blogs (US, DE, FR and no-country views); bob: one ("Bob's secret plans", US and GB views); root is
    staff, vera holds analytics.view_all_analytics, nemo has no blog."""

    alice: User
    bob: User
    root: User
    vera: User
    nemo: User
    alice_django: Blog
    alice_redis: Blog
    bob_secret: Blog


def with_author(body: dict[str, Any], username: str) -> dict[str, Any]:
    """SPEC §9: the request a scoped caller's answer must equal, its filters ANDed with the author leaf."""
    leaf = {"eq": {"field": "author", "value": username}}
    return {**body, "filters": {"and": [leaf, body["filters"]]} if "filters" in body else leaf}


def client_for(user: User | None) -> APIClient:
    """A client signed in with a real JWT access token of ``user`` (anonymous for ``None``)."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def authors(db, frozen_now) -> Authors:
    alice, bob, nemo = (UserFactory.create(username=name) for name in ("alice", "bob", "nemo"))
    root = UserFactory.create(username="root", is_staff=True)
    vera = UserFactory.create(username="vera")
    vera.user_permissions.add(
        Permission.objects.get(codename="view_all_analytics", content_type__app_label="analytics")
    )
    us, de, fr, gb = (CountryFactory(code=code) for code in ("US", "DE", "FR", "GB"))
    alice_django = BlogFactory.create(title="Alice on Django", author=alice, created_at=at("2025-05-01T00:00"))
    alice_redis = BlogFactory.create(title="Alice and Redis", author=alice, created_at=at("2025-06-01T00:00"))
    bob_secret = BlogFactory.create(title="Bob's secret plans", author=bob, created_at=at("2025-05-20T00:00"))
    for blog, country, when, count in (
        (alice_django, us, "2025-06-10T10:00", 3),
        (alice_django, de, "2025-06-11T09:00", 1),
        (alice_redis, fr, "2025-06-12T18:00", 2),
        (alice_redis, None, "2025-06-13T07:00", 1),
        (bob_secret, us, "2025-06-10T11:00", 5),
        (bob_secret, gb, "2025-06-14T08:00", 2),
        (bob_secret, us, "2025-05-20T08:00", 4),
    ):
        for _ in range(count):
            BlogViewFactory(blog=blog, country=country, timestamp=at(when))
    return Authors(alice, bob, root, vera, nemo, alice_django, alice_redis, bob_secret)
