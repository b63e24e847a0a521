"""``manage.py ensure_partitions`` (SPEC §10): months ahead on PostgreSQL, nothing to do on SQLite, bad input."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from analytics.management.commands.ensure_partitions import MSG_BAD_AHEAD, MSG_DONE, MSG_NOT_PARTITIONED
from analytics.services.partitions import months, partition_name

pytestmark = pytest.mark.django_db


def _partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = 'analytics_blogview'::regclass"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="Partitions are PostgreSQL's: the PostgreSQL leg")
def test_it_creates_the_months_ahead_and_says_so() -> None:
    out = StringIO()
    call_command("ensure_partitions", "--months-ahead", "14", stdout=out, stderr=StringIO())
    this_month = timezone.now().date().replace(day=1)
    expected = {partition_name(month) for month in months(this_month, this_month, 14)}
    assert expected <= _partitions()
    assert out.getvalue().startswith("ensure_partitions: created ")
    again = StringIO()
    call_command("ensure_partitions", "--months-ahead", "14", stdout=again, stderr=StringIO())
    assert again.getvalue().strip() == MSG_DONE.format(created=0, moved=0)


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite keeps one table: the SQLite leg")
def test_on_sqlite_there_is_nothing_to_do() -> None:
    out = StringIO()
    call_command("ensure_partitions", stdout=out)
    assert out.getvalue().strip() == MSG_NOT_PARTITIONED.format(vendor="sqlite")


@pytest.mark.parametrize("ahead", ["0", "121", "-3"])
def test_months_ahead_out_of_range_is_refused(ahead: str) -> None:
    with pytest.raises(CommandError, match=MSG_BAD_AHEAD):
        call_command("ensure_partitions", "--months-ahead", ahead)
