"""Failed sign-ins on /api/token/ (SPEC §9, ideeza/signin.py): throttled per username and per client address with a
429 and Retry-After in the one error shape; the right password waits out the window too."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from rest_framework.test import APIClient

from ideeza.signin import MSG_LOCKED_OUT

TOKEN_URL = "/api/token/"
PASSWORD = "a-right-password-1"


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user(username="alice", password=PASSWORD)


def sign_in(client: APIClient, username: str, password: str, address: str = "198.51.100.7", **extra: Any):  # type: ignore[no-untyped-def]
    return client.post(
        TOKEN_URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=address, **extra
    )


def assert_locked_out(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 900
    assert response.json() == {"message": MSG_LOCKED_OUT.format(wait=wait), "code": "throttled", "fields": {}}


def test_fifty_wrong_passwords_are_throttled_and_the_right_one_still_waits(alice, api_client):
    statuses = [sign_in(api_client, "alice", f"guess-{n}").status_code for n in range(50)]

    assert statuses[:5] == [401] * 5  # IDEEZA_LOGIN_FAILURES_PER_USERNAME = 5
    assert set(statuses[5:]) == {429}
    assert_locked_out(sign_in(api_client, "alice", "guess-50"))
    assert_locked_out(sign_in(api_client, "alice", PASSWORD))
    # The username is locked from everywhere, whatever its case.
    assert_locked_out(sign_in(api_client, "ALICE", PASSWORD, address="203.0.113.99"))


@override_settings(IDEEZA_LOGIN_LOCKOUT_SECONDS=1)
def test_the_right_password_works_once_the_window_has_passed(alice, api_client):
    for n in range(5):
        sign_in(api_client, "alice", f"guess-{n}")
    assert_locked_out(sign_in(api_client, "alice", PASSWORD))
    time.sleep(1.1)
    assert sign_in(api_client, "alice", PASSWORD).status_code == 200


def test_one_address_guessing_many_usernames_is_throttled(alice, api_client):
    """IDEEZA_LOGIN_FAILURES_PER_ADDRESS = 20: a sweep over usernames from one address stops there."""
    statuses = [sign_in(api_client, f"user{n}", "guess").status_code for n in range(25)]
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
    assert_locked_out(sign_in(api_client, "alice", PASSWORD))
    # Another address is not locked out, and alice's username is not either.
    assert sign_in(api_client, "alice", PASSWORD, address="203.0.113.99").status_code == 200


def test_a_right_password_forgives_earlier_failures_of_its_username(alice, api_client):
    for n in range(4):
        sign_in(api_client, "alice", f"guess-{n}")
    assert sign_in(api_client, "alice", PASSWORD).status_code == 200
    assert [sign_in(api_client, "alice", f"again-{n}").status_code for n in range(4)] == [401] * 4


def test_a_forged_forwarded_for_does_not_change_the_address(alice, api_client):
    """Without IDEEZA_TRUSTED_PROXIES the client cannot pick its address by writing X-Forwarded-For."""
    statuses = [
        sign_in(api_client, f"user{n}", "guess", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code for n in range(21)
    ]
    assert statuses[-1] == 429


@override_settings(IDEEZA_TRUSTED_PROXIES=1)
def test_behind_one_proxy_the_address_is_the_one_it_saw(alice, api_client):
    """Behind one proxy every request comes from the proxy's address; the client's is the last X-Forwarded-For hop."""
    proxy = "10.0.0.1"
    for n in range(20):
        sign_in(api_client, f"user{n}", "guess", address=proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 198.51.100.0")
    assert_locked_out(sign_in(api_client, "alice", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.0"))
    ok = sign_in(api_client, "alice", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="forged, 198.51.100.2")
    assert ok.status_code == 200


def test_the_schema_documents_the_429(db, api_client):
    operation = api_client.get("/swagger.json").json()["paths"]["/api/token/"]["post"]
    assert "429" in operation["responses"]
