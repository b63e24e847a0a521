"""``manage.py create_ingest_user``: the user it makes can get a token and record views (SPEC §7)."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from analytics.management.commands.create_ingest_user import MSG_EMPTY_ENV, MSG_PASSWORD_KEPT
from analytics.models import BlogView
from analytics.services.accounts import MSG_INACTIVE
from analytics.tests.factories import BlogFactory, UserFactory

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "sturdy-Collector-42"


def create(*args: str) -> str:
    stdout = StringIO()
    call_command("create_ingest_user", *args, stdout=stdout, no_color=True)
    return stdout.getvalue()


def records_a_view(username: str, password: str) -> bool:
    client = APIClient()
    token = client.post("/api/token/", {"username": username, "password": password}, format="json")
    assert token.status_code == 200, token.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access']}")
    return client.post("/api/analytics/views/", {"blog_id": BlogFactory.create().pk}, format="json").status_code == 201


def test_a_new_user_gets_a_generated_password_shown_once_and_the_curl_commands():
    output = create("collector")

    shown = re.search(r"^Generated password \(shown only this once; store it now\): (\S+)$", output, re.MULTILINE)
    assert shown is not None, output
    password = shown.group(1)
    assert "Created ingest user 'collector'" in output
    assert "curl -s -X POST http://127.0.0.1:8000/api/token/" in output
    assert f'"password": "{password}"' in output
    assert "curl -s -X POST http://127.0.0.1:8000/api/analytics/views/" in output
    assert records_a_view("collector", password)
    assert BlogView.objects.count() == 1


@pytest.mark.parametrize("source", ["flag", "env"])
def test_the_password_can_be_given(monkeypatch, source):
    monkeypatch.setenv("INGEST_PASSWORD", GOOD_PASSWORD)
    args = ["--password", GOOD_PASSWORD] if source == "flag" else ["--password-from-env", "INGEST_PASSWORD"]

    output = create("collector", *args, "--base-url", "https://analytics.example.com/")

    assert GOOD_PASSWORD not in output  # never echoed back
    assert '"password": "<password>"' in output
    assert "https://analytics.example.com/api/analytics/views/" in output
    assert records_a_view("collector", GOOD_PASSWORD)


def test_an_existing_user_is_granted_the_permission_and_keeps_its_password():
    user = UserFactory.create(username="analyst")
    user.set_password(GOOD_PASSWORD)
    user.save()

    output = create("analyst")

    assert "Updated ingest user 'analyst'" in output and MSG_PASSWORD_KEPT in output
    assert get_user_model().objects.get(username="analyst").has_perm("analytics.add_blogview")
    assert records_a_view("analyst", GOOD_PASSWORD)
    create("analyst")  # running it again changes nothing
    assert get_user_model().objects.filter(username="analyst").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name!"], "is not a valid username"),
        (["x" * 151], "is not a valid username"),
        (["collector", "--password", "123"], "The password was refused"),
        (
            ["collector", "--password-from-env", "NO_SUCH_VARIABLE_SET"],
            MSG_EMPTY_ENV.format(name="NO_SUCH_VARIABLE_SET"),
        ),
        (["collector", "--password", "a", "--password-from-env", "X"], "not allowed with argument"),
    ],
)
def test_operator_mistakes_are_command_errors_that_change_nothing(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        create(*args)
    assert not get_user_model().objects.exists()


def test_an_inactive_user_is_refused():
    UserFactory.create(username="retired", is_active=False)
    with pytest.raises(CommandError, match=re.escape(MSG_INACTIVE.format(username="retired"))):
        create("retired")
