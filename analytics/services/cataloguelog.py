"""Keeping the catalogue log (migration 0011, PostgreSQL) short.

The log names the blogs each transaction changed, so a process can follow catalogue changes blog by blog
(``analytics.selectors.catalogue.listing_follow``). A process needs only the rows its newest listing has not seen,
so ``precalculate_stats`` keeps the newest rows and drops the rest once the log grows past ``PRUNE_ABOVE``. It logs
an 'r' row in the same transaction: a listing read before the pruning, which might have missed a dropped row, sees
that row as a change it cannot follow and reads the listing whole (once).
"""

from __future__ import annotations

from django.db import connection, transaction

PRUNE_ABOVE = 10_000
KEEP = 1_000


def catalogue_log_prune(*, above: int = PRUNE_ABOVE, keep: int = KEEP) -> int:
    """Drop all but the newest ``keep`` rows when there are more than ``above``; returns the rows dropped."""
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_cataloguelog")
        (rows,) = cursor.fetchone()
        if rows <= above:
            return 0
        cursor.execute(
            "DELETE FROM analytics_cataloguelog WHERE xid < "
            "(SELECT xid FROM analytics_cataloguelog ORDER BY xid DESC OFFSET %s LIMIT 1)",
            [keep],
        )
        dropped = cursor.rowcount
        cursor.execute("INSERT INTO analytics_cataloguelog (kind) VALUES ('r')")
    return dropped
