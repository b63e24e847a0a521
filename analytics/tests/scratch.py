"""A database of its own for a test that runs management commands in child processes (which cannot see the test
database's open transaction): a fresh PostgreSQL database on the test server, or a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from django.conf import settings


@contextmanager
def scratch_database_url(name: str, directory: Path) -> Iterator[str]:
    """A DATABASE_URL for an empty database called ``name`` (created now, dropped after)."""
    default = settings.DATABASES["default"]
    if not default["ENGINE"].endswith("postgresql"):
        yield f"sqlite:///{directory / f'{name}.sqlite3'}"
        return
    server = {"host": default["HOST"] or "127.0.0.1", "port": default["PORT"] or 5432, "user": default["USER"]}
    admin = psycopg2.connect(dbname="postgres", password=default["PASSWORD"], **server)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        password = f":{default['PASSWORD']}" if default["PASSWORD"] else ""
        yield f"postgres://{server['user']}{password}@{server['host']}:{server['port']}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
