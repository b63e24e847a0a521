"""SPEC §9's API keys over HTTP: ``Authorization: Api-Key <key>`` gets the key's fixed scope; a revoked or expired
key is a 401 at once; an ingest key of an author writes that author's blogs only, rejected per item elsewhere."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import BlogView, ScopedAPIKey
from analytics.services.api_keys import (
    MSG_KEY_EXPIRED,
    MSG_KEY_INVALID,
    MSG_KEY_REVOKED,
    api_key_create,
    api_key_revoke,
)
from analytics.services.ingestion import MSG_BLOG_OUT_OF_SCOPE
from analytics.tests.api.conftest import BOB_MARKERS, client_for, with_author
from analytics.tests.conftest import ALL_QUERY_URLS

VIEWS_URL = "/api/analytics/views/"


def key_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def new_key(name: str, author: str | None = None, *, ingest: bool = False, expires=None) -> str:  # type: ignore[no-untyped-def]
    return api_key_create(name=name, author_username=author, can_ingest=ingest, expires_at=expires).secret


@pytest.mark.parametrize("closed", [False, True], ids=["api-open", "api-closed"])
@pytest.mark.parametrize("url", ALL_QUERY_URLS)
def test_a_key_sees_its_fixed_scope(authors, url, closed):
    """An author's key answers like alice's own token; an --all key like staff, on an open or a closed API."""
    with override_settings(IDEEZA_API_OPEN=not closed):
        alice_key = key_client(new_key("alice-embed", "alice"))
        all_key = key_client(new_key("reporting"))
        root = client_for(authors.root)

        mine = alice_key.post(url, {}, format="json")
        assert mine.status_code == 200
        assert mine.content == root.post(url, with_author({}, "alice"), format="json").content
        assert all_key.post(url, {}, format="json").content == root.post(url, {}, format="json").content
        for marker in BOB_MARKERS:
            assert marker not in mine.content.lower()
        # A filter naming bob matches nothing for alice's key.
        named = alice_key.post(url, {"author_username": "bob"}, format="json")
        assert named.content == root.post(url, with_author({"author_username": "bob"}, "alice"), format="json").content


@pytest.mark.parametrize("how", ["service", "another-worker"])
def test_a_revoked_key_is_refused_at_once_also_right_after_it_was_served(authors, how):
    """No key is kept in memory: the request right after the revoke is a 401, also when the revoke happened
    elsewhere (a bare UPDATE, as another machine's revoke_api_key looks to this process: no signal, no message)."""
    client = key_client(new_key("alice-embed", "alice"))
    assert client.post("/api/analytics/top/blog/", {}, format="json").status_code == 200

    if how == "service":
        api_key_revoke(name="alice-embed")
    else:
        ScopedAPIKey.objects.filter(name="alice-embed").update(revoked=True)

    response = client.post("/api/analytics/top/blog/", {}, format="json")
    assert response.status_code == 401
    assert response.json() == {"message": MSG_KEY_REVOKED, "code": "authentication_failed", "fields": {}}


def test_an_expired_key_is_refused(authors):
    client = key_client(new_key("short-lived", "alice", expires=timezone.now() + timedelta(minutes=1)))
    assert client.post("/api/analytics/totals/", {}, format="json").status_code == 200

    ScopedAPIKey.objects.filter(name="short-lived").update(expiry_date=timezone.now() - timedelta(seconds=1))

    response = client.post("/api/analytics/totals/", {}, format="json")
    assert response.status_code == 401
    assert response.json()["message"] == MSG_KEY_EXPIRED


@pytest.mark.parametrize(
    "header",
    ["Api-Key nonsense", "Api-Key abcdefgh.wrong-secret-of-the-right-shape", "Api-Key ", "api-key a b"],
    ids=["no-dot", "unknown", "empty", "two-words"],
)
def test_a_bad_key_is_a_401_in_the_error_shape_even_with_the_api_open(authors, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post("/api/analytics/top/blog/", {}, format="json")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "code", "fields"}


def test_a_key_of_a_deactivated_author_is_refused(authors):
    client = key_client(new_key("alice-embed", "alice"))
    authors.alice.is_active = False
    authors.alice.save()
    response = client.post("/api/analytics/top/blog/", {}, format="json")
    assert response.status_code == 401
    assert response.json()["message"] == MSG_KEY_INVALID


def test_last_use_is_recorded(authors):
    client = key_client(new_key("alice-embed", "alice"))
    assert ScopedAPIKey.objects.get(name="alice-embed").last_used_at is None
    client.post("/api/analytics/top/blog/", {}, format="json")
    assert ScopedAPIKey.objects.get(name="alice-embed").last_used_at == timezone.now()


# --- ingestion (SPEC §7, §9) ----------------------------------------------------------------------------------
def test_an_authors_ingest_key_writes_their_blogs_and_is_refused_the_others_per_item(authors):
    client = key_client(new_key("alice-collector", "alice", ingest=True))
    before = BlogView.objects.count()
    events = [
        {"blog_id": authors.alice_django.id, "country_code": "US"},
        {"blog_id": authors.bob_secret.id, "country_code": "US"},
        {"blog_id": 987_654},  # no such blog: the same answer, so a key learns nothing of other blogs
        {"blog_id": authors.alice_redis.id},
    ]
    response = client.post(VIEWS_URL, {"events": events}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": [
            {"index": 1, "errors": {"blog_id": [MSG_BLOG_OUT_OF_SCOPE]}},
            {"index": 2, "errors": {"blog_id": [MSG_BLOG_OUT_OF_SCOPE]}},
        ],
    }
    assert BlogView.objects.count() == before + 2
    assert not BlogView.objects.filter(blog=authors.bob_secret, timestamp=timezone.now()).exists()


def test_a_single_event_of_another_authors_blog_is_a_400(authors):
    client = key_client(new_key("alice-collector", "alice", ingest=True))
    response = client.post(VIEWS_URL, {"blog_id": authors.bob_secret.id}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"blog_id": [MSG_BLOG_OUT_OF_SCOPE]}


def test_an_all_ingest_key_writes_any_blog(authors):
    client = key_client(new_key("collector", ingest=True))
    events = [{"blog_id": authors.alice_django.id}, {"blog_id": authors.bob_secret.id}]
    assert client.post(VIEWS_URL, events, format="json").json() == {"accepted": 2, "duplicates": 0, "rejected": []}


@pytest.mark.parametrize("author", ["alice", None], ids=["author-key", "all-key"])
def test_a_key_without_ingest_cannot_write(authors, author):
    client = key_client(new_key("read-only", author))
    before = BlogView.objects.count()
    response = client.post(VIEWS_URL, {"blog_id": authors.alice_django.id}, format="json")
    assert response.status_code == 403
    assert set(response.json()) == {"message", "code", "fields"}
    assert BlogView.objects.count() == before


def test_the_schema_documents_the_api_key_header_and_the_401(db, api_client):
    schema = api_client.get("/swagger.json").json()
    assert schema["securityDefinitions"]["Api-Key"] == {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": schema["securityDefinitions"]["Api-Key"]["description"],
    }
    assert "Api-Key <key>" in schema["securityDefinitions"]["Api-Key"]["description"]
    for path in ("/api/analytics/totals/", "/api/analytics/top/{top_type}/", "/api/analytics/views/"):
        assert "401" in schema["paths"][path]["post"]["responses"]


@pytest.mark.parametrize(("caller", "status"), [("alice", 302), ("root", 200)])
def test_keys_are_managed_in_the_admin_behind_staff_login(authors, caller, status):
    """Only staff reach the admin (where keys are listed and revoked); anyone else is sent to its login page."""
    client = APIClient()
    client.force_login(getattr(authors, caller))
    response = client.get("/admin/")
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/admin/login/")
