"""``manage.py ensure_partitions``: the month partitions of the raw views, created ahead (PostgreSQL; SPEC §10).

Meant for cron, daily (docs/operations.md). Creates every missing month from last month to ``--months-ahead``
months after this one, and each month the DEFAULT partition holds rows of, moving them in. Idempotent; two runs at
once wait for each other. On SQLite there is nothing to do.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from analytics.services.partitions import MONTHS_AHEAD, is_partitioned, partitions_ensure

MSG_NOT_PARTITIONED = "ensure_partitions: {vendor} keeps one analytics_blogview table; nothing to do."
MSG_BAD_AHEAD = "--months-ahead must be between 1 and 120."
MSG_DONE = "ensure_partitions: created {created} partitions, moved {moved:,} views out of the default partition."


class Command(BaseCommand):
    help = (
        "Create the monthly partitions of analytics_blogview ahead of time and move any views the default "
        "partition holds into their month (PostgreSQL). Safe to run from cron at any time."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--months-ahead",
            type=int,
            default=MONTHS_AHEAD,
            help=f"Months after the current one to create (default {MONTHS_AHEAD}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ahead = options["months_ahead"]
        if not 1 <= ahead <= 120:
            raise CommandError(MSG_BAD_AHEAD)
        if not is_partitioned():
            self.stdout.write(MSG_NOT_PARTITIONED.format(vendor=connection.vendor))
            return
        result = partitions_ensure(months_ahead=ahead, progress=self.stderr.write)
        self.stdout.write(MSG_DONE.format(created=len(result.created), moved=result.moved_rows))
