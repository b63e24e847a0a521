"""``create_api_key`` and ``revoke_api_key`` (SPEC §9): thin commands over analytics/services/api_keys.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from analytics.models import ScopedAPIKey
from analytics.services.api_keys import (
    MSG_BAD_EXPIRY,
    MSG_EXPIRY_PAST,
    MSG_NAME_TAKEN,
    MSG_NO_LIVE_KEY,
    MSG_UNKNOWN_AUTHOR,
    api_key_authenticate,
    expiry_parse,
)
from analytics.tests.factories import UserFactory


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def printed_key(output: str) -> str:
    found = re.search(r"shown only this once; only its hash is stored\): (\S+)", output)
    assert found, output
    return found.group(1)


def test_create_prints_the_key_once_and_stores_only_its_hash(db):
    UserFactory(username="alice")
    output = run("create_api_key", "alice-embed", "--author", "alice")

    secret = printed_key(output)
    stored = ScopedAPIKey.objects.get(name="alice-embed")
    assert (
        stored.author is not None
        and stored.author.username == "alice"
        and not stored.can_ingest
        and stored.expiry_date is None
    )
    assert secret not in {stored.id, stored.hashed_key} and stored.hashed_key.startswith("sha512$$")
    assert api_key_authenticate(secret=secret).pk == stored.pk


def test_create_all_with_ingest_and_expiry(db):
    with override_settings(TIME_ZONE="Europe/Berlin"):
        output = run("create_api_key", "collector", "--all", "--ingest", "--expires", "2100-01-31")
    stored = ScopedAPIKey.objects.get(name="collector")
    assert stored.author is None and stored.can_ingest
    # A date is the last day the key works, in the reporting timezone.
    assert stored.expiry_date == datetime(2100, 1, 31, 23, 0, tzinfo=UTC)
    assert "every blog, may record views, expires" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["k", "--author", "nobody"], MSG_UNKNOWN_AUTHOR.format(username="nobody")),
        (["k", "--all", "--expires", "soon"], MSG_BAD_EXPIRY.format(text="soon")),
        (["k", "--all", "--expires", "2001-01-01"], MSG_EXPIRY_PAST.format(text="2001-01-01")),
    ],
    ids=["unknown-author", "bad-date", "past-date"],
)
def test_create_refuses_operator_mistakes_with_a_sentence(db, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run("create_api_key", *args)
    assert not ScopedAPIKey.objects.exists()


def test_create_needs_exactly_one_scope(db):
    with pytest.raises(CommandError, match="one of the arguments --author --all is required"):
        run("create_api_key", "k")


def test_a_live_name_is_taken_but_a_revoked_one_can_be_reused(db):
    run("create_api_key", "k", "--all")
    with pytest.raises(CommandError, match=re.escape(MSG_NAME_TAKEN.format(name="k"))):
        run("create_api_key", "k", "--all")
    run("revoke_api_key", "k")
    run("create_api_key", "k", "--all")
    assert ScopedAPIKey.objects.filter(name="k").count() == 2


def test_revoke(db):
    secret = printed_key(run("create_api_key", "k", "--all"))
    assert "Revoked API key 'k'" in run("revoke_api_key", "k")
    assert ScopedAPIKey.objects.get(name="k").revoked
    with pytest.raises(CommandError, match=re.escape(MSG_NO_LIVE_KEY.format(name="k"))):
        run("revoke_api_key", "k")
    with pytest.raises(Exception, match="revoked"):
        api_key_authenticate(secret=secret)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2100-03-01T12:00:00+01:00", datetime(2100, 3, 1, 11, 0, tzinfo=UTC)),
        ("2100-03-01T12:00:00", datetime(2100, 3, 1, 12, 0, tzinfo=UTC)),  # no offset: reporting timezone (UTC)
        ("2100-03-01", datetime(2100, 3, 2, tzinfo=UTC)),
    ],
)
def test_expiry_parse(text, expected):
    assert expiry_parse(text, now=datetime(2026, 1, 1, tzinfo=UTC)) == expected
