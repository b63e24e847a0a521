"""``precalculate_stats``: fold raw views into the summary blocks the API answers from (SPEC §7).

Meant for cron. Exit status: 0 folded (or nothing to do), 75 another run holds the lock, 1 anything else.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.management.progress import ProgressBar
from analytics.services.folding import FoldReport, summaries_fold
from analytics.services.locking import LockBusy, fold_lock
from analytics.services.metrics import statsd_client

EXIT_LOCKED = 75  # EX_TEMPFAIL: cron may simply try again next time
MSG_BAD_DAYS = "--days must be a positive number of days, e.g. --days 7."
MSG_FULL_AND_DAYS = "--full rebuilds every day; drop --days (or drop --full to refold only the last N days)."
MSG_DONE = (
    "precalculate_stats: folded {blocks:,} blocks ({days:,} days, {weeks:,} weeks, {months:,} months, "
    "{trailing} trailing), "
    "wrote {rows:,} rows in {seconds:.1f}s; lock: {locks}."
)
MSG_DRY_RUN = (
    "precalculate_stats --dry-run: would fold {blocks:,} blocks ({days:,} days, {weeks:,} weeks, {months:,} months, "
    "{trailing} trailing)"
    "{full}; {pending:,} hours with changed views are pending. Nothing was written."
)


class Command(BaseCommand):
    help = (
        "Fold new and changed days of blog views into the summary blocks (incremental by default). "
        "Safe to run from cron and to kill at any moment; one run at a time."
    )
    # Cron runs this every minute or hour: Django's system checks (URLs, admin, templates) took 0.4 s of each run's
    # 1.1 s start-up here and say nothing about a fold. `make lint` runs them (`manage.py check`).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Only look at the last N days (today included).")
        parser.add_argument("--full", action="store_true", help="Rebuild every summary from the raw views.")
        parser.add_argument(
            "--force", action="store_true", help="Refold the selected days even when nothing changed in them."
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would be folded; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        days, full = options["days"], options["full"]
        if days is not None and days < 1:
            raise CommandError(MSG_BAD_DAYS)
        if days is not None and full:
            raise CommandError(MSG_FULL_AND_DAYS)
        metrics = statsd_client()
        started = time.perf_counter()
        try:
            with fold_lock() as locks:
                report = summaries_fold(
                    days=days,
                    full=full,
                    force=options["force"],
                    dry_run=options["dry_run"],
                    progress=ProgressBar(self.stderr, "blocks"),
                )
        except LockBusy as busy:
            if metrics:
                metrics.incr("precalculate_stats.lock_busy")
            raise CommandError(str(busy), returncode=EXIT_LOCKED) from busy
        except Exception:
            if metrics:
                metrics.incr("precalculate_stats.failures")
            raise
        self._report(report, locks)
        if metrics and not report.dry_run:
            with metrics.pipeline() as batch:
                batch.incr("precalculate_stats.runs")
                batch.timing("precalculate_stats.duration", (time.perf_counter() - started) * 1000)
                batch.gauge("precalculate_stats.blocks", report.plan.blocks)
                batch.gauge("precalculate_stats.rows", report.rows_written)
                batch.gauge("precalculate_stats.pending_changes", report.plan.pending_changes)

    def _report(self, report: FoldReport, locks: list[str]) -> None:
        plan = report.plan
        counts = {
            "blocks": plan.blocks,
            "days": len(plan.days),
            "weeks": len(plan.weeks),
            "months": len(plan.months),
            "trailing": len(plan.trailing),
        }
        if report.dry_run:
            full = ", a full rebuild" if plan.full else ""
            self.stdout.write(MSG_DRY_RUN.format(full=full, pending=plan.pending_changes, **counts))
        else:
            message = MSG_DONE.format(
                rows=report.rows_written, seconds=report.seconds, locks=", ".join(locks), **counts
            )
            self.stdout.write(self.style.SUCCESS(message))
