"""Django-side helpers the harness runs through ``manage.py shell -c``: its own views for today.

The harness marks the views it writes with TEST-NET-1 addresses (192.0.2.0/24, RFC 5737), which the seeder never
draws, so a later run on the same database (``--skip-seed``) can remove them and start from the seeded data again
(``bench.freshness.harness_rows_delete``).
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from analytics.models import BlogView
from analytics.periods import local_date, local_midnight
from bench.freshness import HARNESS_ADDRESS_PREFIX

SAMPLE_DAYS = 30  # today's views follow the blog and country mix of the last month
INSERT_BATCH = 5_000


def todays_views_insert(*, count: int, seed: int = 7, last_seconds: float | None = None) -> int:
    """Insert ``count`` views spread over today's elapsed part (reporting timezone), or over its last
    ``last_seconds``, through ``bulk_create`` in statements of ``INSERT_BATCH`` rows (which the insert trigger
    logs: analytics/triggers.py)."""
    rng = random.Random(seed)
    now = timezone.now()
    midnight = local_midnight(local_date(now))
    if last_seconds is not None:
        midnight = max(midnight, now - timedelta(seconds=last_seconds))
    elapsed = max((now - midnight).total_seconds() - 1, 1.0)
    recent = BlogView.objects.filter(timestamp__gte=now - timedelta(days=SAMPLE_DAYS), timestamp__lt=midnight)
    blogs = list(recent.values_list("blog_id").annotate(views=Count("id")).order_by())
    countries = list(recent.values_list("country_id").annotate(views=Count("id")).order_by())
    if not blogs:
        raise SystemExit(f"No views in the {SAMPLE_DAYS} days before today to draw today's views from.")

    blog_ids = rng.choices([blog for blog, _ in blogs], weights=[views for _, views in blogs], k=count)
    country_ids = rng.choices([country for country, _ in countries], weights=[views for _, views in countries], k=count)
    offsets = sorted(rng.uniform(0, elapsed) for _ in range(count))
    BlogView.objects.bulk_create(
        (
            BlogView(
                blog_id=blog_id,
                country_id=country_id,
                ip_address=f"{HARNESS_ADDRESS_PREFIX}{rng.randrange(1, 255)}",
                timestamp=midnight + timedelta(seconds=offset),
            )
            for blog_id, country_id, offset in zip(blog_ids, country_ids, offsets, strict=True)
        ),
        batch_size=INSERT_BATCH,
    )
    print(f"inserted {count:,} views between {midnight.isoformat()} and {now.isoformat(timespec='seconds')}")
    return count
