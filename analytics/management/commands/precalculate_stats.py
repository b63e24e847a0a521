"""``precalculate_stats``: fold raw views into the daily pre-aggregates (SPEC §7).

The pre-aggregation engine is not built yet (issue 3): every answer is computed from raw ``BlogView`` rows,
so there is nothing to fold. The command already takes its documented options, so cron entries written now
keep working when the engine lands.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

MSG_NOTHING_TO_FOLD = (
    "precalculate_stats: nothing to fold - the pre-aggregation engine is not built yet and every answer is "
    "computed from raw events (always exact). Exit 0."
)


class Command(BaseCommand):
    help = "Fold raw views into the daily pre-aggregates (currently a no-op: answers come from raw events)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Only (re)fold the last N days.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would be folded; write nothing.")
        parser.add_argument("--force", action="store_true", help="Refold days even if they look up to date.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] is not None and options["days"] < 1:
            raise CommandError("--days must be a positive number of days, e.g. --days 7.")
        self.stdout.write(MSG_NOTHING_TO_FOLD)
