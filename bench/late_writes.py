"""``python -m bench.late_writes``: views not yet folded, read with the insertion log and without it.

Against a folded PostgreSQL database (the platform profile's), in-process, uncached, no servers: folds what
is pending, then inserts ``--views`` views spread over the days 3 to ``--days`` days ago, in statements of 1,000
rows (the API's largest batch: an offline client's backlog arriving at once), without folding them. Then each
body, whose window holds those days, is timed in one process with the insertion log (migration 0017) and with the
log ignored (each changed day read raw whole, as before it), alternately, ``--repeat`` times each; the two answers
must be equal. The views carry TEST-NET-3 addresses (203.0.113.0/24, RFC 5737) and are deleted at the end, their
days folded again, so the database is left as it was found.

With ``--last-hour``, the views (20,000 unless ``--views`` says otherwise) go into the last hour instead: the
traffic a fold every hour leaves unfolded. Then ``range=day`` of every endpoint, and ``range=month`` of a few, is
timed with the log and with those hours read raw.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ideeza_platform IDEEZA_TIMEZONE=<the fold's> \
        python -m bench.late_writes [--last-hour]

The table goes between the ``late-writes`` (or ``unfolded-hour``) markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.inprocess import django_uncached

LATE_ADDRESS_PREFIX = "203.0.113."
STATEMENT_ROWS = 1_000
BODIES: list[tuple[str, dict[str, Any]]] = [
    ("blog-views/country", {"range": "month"}),
    ("blog-views/user", {"range": "month"}),
    ("top/blog", {"range": "month"}),
    ("top/country", {"range": "month"}),
    ("performance", {"range": "month"}),
    ("totals", {"range": "month"}),
    ("blog-views/country", {"range": "year"}),
    ("top/blog", {"range": "year"}),
    ("performance", {"range": "year", "compare": "week"}),
]
LAST_HOUR_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("blog-views/country", {"range": "day"}),
    ("blog-views/user", {"range": "day"}),
    ("top/blog", {"range": "day"}),
    ("top/user", {"range": "day"}),
    ("top/country", {"range": "day"}),
    ("performance", {"range": "day"}),
    ("totals", {"range": "day"}),
    ("blog-views/country", {"range": "month"}),
    ("top/blog", {"range": "month"}),
    ("performance", {"range": "month"}),
]
HOUR = 3_600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.late_writes", description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, help="Views to insert (default 2,000; 20,000 with --last-hour).")
    parser.add_argument("--days", type=int, default=30, help="Spread over the days 3..DAYS ago (default 30).")
    parser.add_argument("--last-hour", action="store_true", help="Spread them over the last hour instead.")
    parser.add_argument("--repeat", type=int, default=7, help="Timed requests per body and reading (default 7).")
    parser.add_argument("--markdown", default="docs/benchmarks.md", help="Where the table goes ('' for nowhere).")
    options = parser.parse_args(argv)
    if options.views is None:
        options.views = 20_000 if options.last_hour else 2_000
    # Seconds before now: the last hour (but the last second, so every view is in the past), or days 3..--days.
    window = (1, HOUR) if options.last_hour else (3 * 86_400, options.days * 86_400)
    bodies = LAST_HOUR_BODIES if options.last_hour else BODIES
    django_uncached(parser)
    from django.conf import settings

    from analytics.models import BlogView, ViewChange, ViewInsertion
    from analytics.services.folding import summaries_fold

    _late_views_delete()  # a run killed before its clean-up
    summaries_fold()  # so that the late views are all that is not folded
    assert not ViewChange.objects.exists(), "a fold is running beside this one"
    started = time.perf_counter()
    days = _late_views_insert(options.views, window)
    print(f"inserted {options.views:,} views over {len(days)} days in {time.perf_counter() - started:.1f} s")
    logged = ViewInsertion.objects.count()
    try:
        rows = _measure(bodies, options.repeat)
    finally:
        _late_views_delete()
        report = summaries_fold()
        print(f"deleted them and folded again: {report.rows_written:,} rows in {report.seconds:.1f} s")
    assert not BlogView.objects.filter(ip_address__startswith=LATE_ADDRESS_PREFIX).exists()
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timezone": settings.TIME_ZONE,
        "views": options.views,
        "last_hour": options.last_hour,
        "days": len(days),
        "log_rows": logged,
        "repeat": options.repeat,
        "rows": rows,
    }
    print(json.dumps(document, indent=2))
    if options.markdown:
        from bench.report import section_write

        if options.last_hour:
            section_write(Path(options.markdown), "unfolded-hour", "An hour not yet folded", _markdown(document))
        else:
            section_write(Path(options.markdown), "late-writes", "Late writes to old days", _markdown(document))
    return 0


def _late_views_insert(count: int, window: tuple[int, int]) -> set[Any]:
    """``count`` views of blogs and countries drawn from the last 30 days' views, at random instants between
    ``window`` seconds before now, inserted ``STATEMENT_ROWS`` at a time; returns their local days."""
    from django.db.models import Count
    from django.utils import timezone

    from analytics.models import BlogView
    from analytics.periods import local_date

    rng = random.Random(11)
    now = timezone.now()
    sample = BlogView.objects.filter(timestamp__gte=now - timedelta(days=30), timestamp__lt=now)
    blogs = list(sample.values_list("blog_id").annotate(views=Count("id")).order_by())
    countries = list(sample.values_list("country_id").annotate(views=Count("id")).order_by())
    blog_ids = rng.choices([blog for blog, _ in blogs], weights=[views for _, views in blogs], k=count)
    country_ids = rng.choices([key for key, _ in countries], weights=[views for _, views in countries], k=count)
    seconds = [rng.uniform(*window) for _ in range(count)]
    views = [
        BlogView(
            blog_id=blog_id,
            country_id=country_id,
            ip_address=f"{LATE_ADDRESS_PREFIX}{rng.randrange(1, 255)}",
            timestamp=now - timedelta(seconds=back),
        )
        for blog_id, country_id, back in zip(blog_ids, country_ids, seconds, strict=True)
    ]
    BlogView.objects.bulk_create(views, batch_size=STATEMENT_ROWS)
    return {local_date(view.timestamp) for view in views}


def _late_views_delete() -> None:
    from analytics.models import BlogView

    BlogView.objects.filter(ip_address__startswith=LATE_ADDRESS_PREFIX).delete()


def _measure(bodies: list[tuple[str, dict[str, Any]]], repeat: int) -> list[dict[str, Any]]:
    """Each body: one warm-up per reading, then ``repeat`` rounds of (logged, raw); p50s and the ratio."""
    from unittest import mock

    from django.test import Client

    from analytics.selectors import summaries
    from analytics.selectors.coverage import fold_info
    from bench.workload import ENDPOINTS

    def unlogged() -> Any:
        info = fold_info()
        return info if info is None else replace(info, logged_hours=frozenset(), logged_days=frozenset())

    client = Client(HTTP_HOST="127.0.0.1")

    def timed(path: str, body: dict[str, Any]) -> tuple[float, Any]:
        started = time.perf_counter()
        reply = client.post(path, json.dumps(body), content_type="application/json")
        elapsed = (time.perf_counter() - started) * 1000
        if reply.status_code != 200:
            raise SystemExit(f"{path} {json.dumps(body)} answered {reply.status_code}: {reply.content[:300]!r}")
        return elapsed, reply.json()

    rows = []
    for endpoint, body in bodies:
        path = ENDPOINTS[endpoint]
        with_log: list[float] = []
        without: list[float] = []
        for round_ in range(repeat + 1):
            took, logged_answer = timed(path, body)
            with mock.patch.object(summaries, "fold_info", unlogged):
                took_raw, raw_answer = timed(path, body)
            if logged_answer != raw_answer:
                raise SystemExit(f"{endpoint} {json.dumps(body)}: the log and the raw read disagree")
            if round_:  # the first round warms both up
                with_log.append(took)
                without.append(took_raw)
        logged_ms, raw_ms = statistics.median(with_log), statistics.median(without)
        rows.append(
            {"endpoint": endpoint, "body": body, "logged_ms": logged_ms, "raw_ms": raw_ms, "ratio": raw_ms / logged_ms}
        )
        print(f"{endpoint:20} {json.dumps(body):40} log {logged_ms:7.1f} ms   raw {raw_ms:7.1f} ms")
    return rows


def _markdown(document: dict[str, Any]) -> str:
    from bench.machine import git
    from bench.report import markdown_table

    commit = git("rev-parse", "--short=7", "HEAD").strip()
    if document["last_hour"]:
        inserted = f"{document['views']:,} views inserted into the last hour"
        raw = "those hours raw, as before migration 0017"
        option = " --last-hour"
    else:
        inserted = f"{document['views']:,} views inserted late into {document['days']} days 3 or more days old"
        raw = "those days raw whole, as before migration 0017"
        option = ""
    lines = [
        f"Measured {document['measured_at']} (commit {commit}) on the platform set, in the reporting timezone "
        f"{document['timezone']}, in-process, uncached: {inserted}, in statements of {STATEMENT_ROWS:,} (the "
        f"insertion log then held {document['log_rows']:,} rows), not folded. Each body read alternately with the "
        f"log and with the log ignored ({raw}), p50 of {document['repeat']} each; the answers were equal.",
        "",
        *markdown_table(
            ["endpoint", "body", "with the log", "without", "without / with"],
            [
                [
                    row["endpoint"],
                    f"`{json.dumps(row['body'])}`",
                    f"{row['logged_ms']:.1f} ms",
                    f"{row['raw_ms']:.1f} ms",
                    f"{row['ratio']:.1f}×",
                ]
                for row in document["rows"]
            ],
            "llrrr",
        ),
        "",
        "Command: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/ideeza_platform "
        f"IDEEZA_TIMEZONE={document['timezone']} python -m bench.late_writes{option}`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
