"""Repository-wide pytest hooks."""

from __future__ import annotations


def pytest_report_header(config) -> list[str]:  # type: ignore[no-untyped-def]
    """Say which database and cache this run really uses, so CI output shows each leg."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    return [
        f"ideeza: database={str(database['ENGINE']).rsplit('.', 1)[-1]} name={database.get('NAME')}",
        f"ideeza: cache={str(settings.CACHES['default']['BACKEND']).rsplit('.', 1)[-1]} timezone={settings.TIME_ZONE}",
    ]
