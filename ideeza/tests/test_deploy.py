"""Deployment (issue #5): ``check --deploy`` is clean with the README's production environment, every variable the
settings read is documented, and the HTTPS settings do what they say without locking the health probe out."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PRODUCTION_MARKER = "<!-- production-env -->"
CLEAN = "System check identified no issues (0 silenced)."


def readme_production_environment() -> dict[str, str]:
    """The ``NAME=value`` lines of the fenced block after the marker, each ``<placeholder>`` filled with a fresh
    random string (as an operator fills them)."""
    text = README.read_text(encoding="utf-8")
    assert PRODUCTION_MARKER in text, "README.md lost its production environment block"
    block = re.search(r"```[a-z]*\n(.*?)```", text.split(PRODUCTION_MARKER, 1)[1], re.DOTALL)
    assert block is not None
    env = {}
    for line in block.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("=")
        env[name.strip()] = re.sub(r"<[^>]*>", lambda _: secrets.token_urlsafe(50), value.strip())
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``manage.py check --deploy --fail-level WARNING`` with ``env`` and nothing else but PATH."""
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_with_the_readme_production_environment():
    env = readme_production_environment()
    assert env["DEBUG"] == "false" and len(env["SECRET_KEY"]) >= 50

    done = check_deploy(env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert CLEAN in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("change", "warning"),
    [({"SECURE_HSTS_SECONDS": "0"}, "security.W004"), ({"SECRET_KEY": "short-and-guessable"}, "security.W009")],
    ids=["no-hsts", "weak-secret-key"],
)
def test_check_deploy_fails_when_the_environment_falls_short(change, warning):
    """The check above can fail: the same environment with one weakened variable is refused."""
    done = check_deploy(readme_production_environment() | change)

    assert done.returncode != 0
    assert warning in done.stdout + done.stderr


def test_every_variable_the_settings_read_is_in_the_readme_table():
    source = (REPO / "ideeza" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r"""(?:os\.environ\.get|env_bool|env_int|env_list)\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    table = README.read_text(encoding="utf-8").split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", table))

    assert "SECURE_SSL_REDIRECT" in read  # the pattern finds what it should
    assert read - documented == set()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("X-Forwarded-Proto", ("HTTP_X_FORWARDED_PROTO", "https")), ("", None)],
)
def test_proxy_ssl_header_names_the_header(settings_with, value, expected):
    assert settings_with(SECURE_PROXY_SSL_HEADER=value)["SECURE_PROXY_SSL_HEADER"] == expected


def test_a_malformed_proxy_ssl_header_stops_the_start(settings_with):
    with pytest.raises(ImproperlyConfigured, match="SECURE_PROXY_SSL_HEADER must be a header name"):
        settings_with(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https")


def test_https_is_off_by_default_so_plain_http_keeps_working(settings_with):
    values = settings_with()

    assert not values["SECURE_SSL_REDIRECT"] and values["SECURE_HSTS_SECONDS"] == 0
    assert not values["SESSION_COOKIE_SECURE"] and not values["CSRF_COOKIE_SECURE"]


@pytest.fixture
def https_only(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def test_plain_http_is_redirected_but_the_health_probe_is_not(db, api_client, https_only):
    redirected = api_client.post("/api/analytics/top/blog/", {}, format="json")
    probe = api_client.get("/healthz")

    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/api/analytics/top/blog/"
    assert probe.status_code == 200


def test_https_through_the_proxy_is_served_with_hsts(db, api_client, https_only):
    response = api_client.post("/api/analytics/top/blog/", {}, format="json", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000"
