"""The project-level tests reuse the analytics fixtures (an empty cache per test, an API client, the data set) and
can evaluate ideeza/settings.py afresh under a given environment."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from analytics.tests.conftest import _clear_cache, api_client, dataset, frozen_now

__all__ = ["_clear_cache", "api_client", "dataset", "frozen_now", "settings_with"]

SETTINGS_FILE = Path(__file__).resolve().parent.parent / "settings.py"
# Variables a test run may inherit (the PostgreSQL leg sets some) that would change what these tests evaluate.
_CLEARED = (
    "DEBUG",
    "LOG_FORMAT",
    "LOG_REQUESTS",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "DATABASE_URL",
    "DATABASE_REPLICA_URLS",
    "REDIS_URL",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
)


@pytest.fixture
def settings_with(monkeypatch):
    """``settings_with(**env)``: the names ideeza/settings.py defines under ``env`` (SECRET_KEY given), evaluated
    afresh; the settings Django loaded are left alone."""

    def evaluate(**env: str) -> dict:
        for name in _CLEARED:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("SECRET_KEY", "x" * 50)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))

    return evaluate
