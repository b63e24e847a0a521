"""``manage.py seed_data``: load the deterministic demo data set (see analytics.services.seeding)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from analytics.management.progress import ProgressBar
from analytics.models import BlogView
from analytics.services.seeding import SeedOptionError, demo_data_seed

MSG_IF_EMPTY_WITH_RESET = "--if-empty and --reset contradict each other: pass one of them, not both."
MSG_SKIPPED = "Skipped seeding: the database already holds blog views (drop --if-empty to add more, --reset to redo)."
MSG_DONE = (
    "Seeded {views:,} views of {blogs:,} blogs by {authors:,} authors from {countries:,} countries, "
    "{first_day} to {last_day} (seed {seed}), in {seconds:.1f}s."
)


class Command(BaseCommand):
    help = (
        "Create realistic, deterministic demo data: authors, countries, blogs and views with skewed popularity, "
        "spread over the past --days days in the reporting timezone. The same --seed gives the same data."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=42, help="Random seed; the same seed gives the same data.")
        parser.add_argument("--views", type=int, default=10_000, help="Blog views to create (default 10,000).")
        parser.add_argument("--blogs", type=int, default=50, help="Blogs to create (default 50).")
        parser.add_argument("--authors", type=int, default=20, help="Author users to create or reuse (default 20).")
        parser.add_argument("--countries", type=int, default=8, help="Countries to create or reuse (default 8).")
        parser.add_argument("--days", type=int, default=365, help="Whole days before today to spread views over.")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="First delete all views, blogs, countries, daily summaries and previously seeded authors.",
        )
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any blog view already exists.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and options["reset"]:
            raise CommandError(MSG_IF_EMPTY_WITH_RESET)
        if options["if_empty"] and BlogView.objects.exists():
            self.stdout.write(MSG_SKIPPED)
            return
        progress = ProgressBar(self.stderr, "views")
        try:
            result = demo_data_seed(
                views=options["views"],
                blogs=options["blogs"],
                authors=options["authors"],
                countries=options["countries"],
                days=options["days"],
                seed=options["seed"],
                reset=options["reset"],
                progress=progress,
            )
        except SeedOptionError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(MSG_DONE.format(seed=options["seed"], **vars(result))))
