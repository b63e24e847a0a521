"""The analytics data model (SPEC §1). Fields, constraints and indexes only; behaviour lives in services/selectors."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from analytics.replicas import reading


class Country(models.Model):
    code = models.CharField(max_length=5, unique=True, help_text="Upper-case ISO-style code, e.g. 'US'.")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "countries"
        constraints = [
            # Codes are matched case-insensitively (SPEC §3); storing them upper-case lets every
            # query compare against the plain, indexed column.
            models.CheckConstraint(condition=models.Q(code=Upper("code")), name="country_code_upper_case"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.code = self.code.upper()
        super().save(*args, **kwargs)


class Blog(models.Model):
    title = models.CharField(max_length=255)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blogs")
    content = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["created_at"], name="blog_created_at_idx")]

    def __str__(self) -> str:
        return self.title


class BlogView(models.Model):
    # No single-column indexes on blog and country: the (blog, timestamp) and (country, timestamp) indexes lead
    # with them, and every index costs each insert.
    blog = models.ForeignKey(Blog, on_delete=models.CASCADE, related_name="views", db_index=False)
    country = models.ForeignKey(
        Country, on_delete=models.SET_NULL, null=True, blank=True, related_name="views", db_index=False
    )
    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="blog_views"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # Settable, defaulting to now: never auto_now_add, so late and imported events keep their time.
    timestamp = models.DateTimeField(default=timezone.now)
    event_id = models.UUIDField(null=True, blank=True, unique=True, help_text="Client id for idempotent ingestion.")

    class Meta:
        # No default ordering: views are only ever read grouped or counted.
        indexes = [
            models.Index(fields=["timestamp"], name="blogview_timestamp_idx"),
            # Covering the country: a few blogs' views are grouped by day and country from the index alone.
            models.Index(fields=["blog", "timestamp"], include=["country"], name="blogview_blog_ts_country_idx"),
            models.Index(fields=["country", "timestamp"], name="blogview_country_ts_idx"),
        ]
        # SPEC §9: who sees every author's numbers (staff do too); everyone else sees their own blogs'.
        permissions = [("view_all_analytics", "Can see the analytics of every author's blogs")]

    def __str__(self) -> str:
        return f"view of blog {self.blog_id} at {self.timestamp.isoformat()}"


class SummaryBlock(models.Model):
    """Views of one country in one block of days, as two parallel packed arrays (see docs/design.md).

    ``blog_ids`` holds the distinct blog ids viewed and ``view_counts`` the views of each (analytics.blockcodec);
    ``blog_bits`` the same ids as a blog set (bitset or roaring bitmap), for distinct counts that need no per-blog
    views. ``country_key`` is
    the country id, or 0 for views with no country. Summaries are
    derived data: they carry no foreign keys, and titles, authors and codes are joined at query time, so
    renaming a blog or handing it to another author never makes a summary stale.
    """

    country_key = models.BigIntegerField(help_text="Country id; 0 = views with no country.")
    total_views = models.BigIntegerField()
    unique_blogs = models.IntegerField()
    blog_ids = models.BinaryField()
    view_counts = models.BinaryField()
    blog_bits = models.BinaryField(
        default=b"", help_text="The blog ids viewed as a blog set (bitset or roaring bitmap): distinct counts by union."
    )
    country_matrix = models.BinaryField(
        default=b"", help_text="ALL rows only: every country's views and blog bitmap (analytics.blockcodec)."
    )
    all_counts = models.BinaryField(
        default=b"",
        help_text="Country rows only: each blog's views over every country of the block, aligned with blog_ids.",
    )

    class Meta:
        abstract = True


class DailyAnalyticsSummary(SummaryBlock):
    """One reporting-timezone day of views of one country."""

    date = models.DateField()

    class Meta:
        verbose_name_plural = "daily analytics summaries"
        constraints = [models.UniqueConstraint(fields=["date", "country_key"], name="daily_summary_unique")]

    def __str__(self) -> str:
        return f"{self.date} country {self.country_key}: {self.total_views} views of {self.unique_blogs} blogs"


class PeriodAnalyticsSummary(SummaryBlock):
    """A whole calendar week (Monday first) or month of views of one country, so long windows read few rows; or a
    trailing block, the last 364, 29 or 6 whole days before the fold's today, which ``range`` asks for."""

    class Granularity(models.TextChoices):
        WEEK = "week"
        MONTH = "month"
        # Trailing blocks (analytics.periods.TRAILING_DAYS): the whole days before the fold's today.
        LAST_364_DAYS = "364d", "the 364 days before the fold's today"
        LAST_29_DAYS = "29d", "the 29 days before the fold's today"
        LAST_6_DAYS = "6d", "the 6 days before the fold's today"

    granularity = models.CharField(max_length=5, choices=Granularity.choices)
    start = models.DateField(help_text="The period's first day.")

    class Meta:
        verbose_name_plural = "period analytics summaries"
        constraints = [
            models.UniqueConstraint(fields=["granularity", "start", "country_key"], name="period_summary_unique")
        ]

    def __str__(self) -> str:
        return f"{self.granularity} of {self.start} country {self.country_key}: {self.total_views} views"


class HourlyAnalyticsSummary(SummaryBlock):
    """A run of 1, 2, 4 or 8 UTC hours of views of one country, aligned on a multiple of its length (so 8-hour
    blocks start at 00:00, 08:00 and 16:00 UTC), for the recent days only (the fold's today and yesterday): a day
    changed since its fold is then read from the blocks of its unchanged hours, a few long ones, and raw only for
    the hours that changed (their ``ViewChange`` buckets), not whole. Every hour of a folded recent day has its ALL
    row, even an hour with no views, so a row's presence says the hours were folded."""

    start = models.DateTimeField(help_text="The first hour's first instant (UTC, on the hour).")
    hours = models.PositiveSmallIntegerField(default=1, help_text="How many hours the block spans: 1, 2, 4 or 8.")

    class Meta:
        verbose_name_plural = "hourly analytics summaries"
        constraints = [
            models.UniqueConstraint(fields=["start", "hours", "country_key"], name="hourly_summary_span_unique")
        ]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:00} UTC +{self.hours}h country {self.country_key}: {self.total_views} views"


class BlogTimeline(models.Model):
    """One blog's views in the trailing 364-day window of the fold's today, per day and country (blockcodec).

    Written with that window's trailing block, in the same fold transaction, from the same day blocks; the row
    with ``blog_id`` 0 marks a window complete. A filter that keeps few blogs (one author's) reads their rows
    and no whole block: its cost follows those blogs' cells, not the catalogue (docs/design.md).
    """

    pk = models.CompositePrimaryKey("start", "blog_id")
    start = models.DateField(help_text="The window's first day; day offsets count from it.")
    blog_id = models.BigIntegerField(help_text="The blog; 0 = the marker row of a complete window.")
    days = models.BinaryField()
    countries = models.BinaryField()
    view_counts = models.BinaryField()
    cells = models.IntegerField(help_text="Entries in each of the three arrays.")
    total_views = models.BigIntegerField()

    def __str__(self) -> str:
        return f"timeline of blog {self.blog_id} from {self.start}: {self.total_views} views"


class ViewChange(models.Model):
    """An hour (UTC) in which some view was inserted, updated or deleted since the summaries last folded it.

    Written by database triggers on ``analytics_blogview`` (migration 0002), so ``bulk_create``, queryset
    ``update()``/``delete()`` and raw SQL are noticed as well as ``save()``. The fold deletes the rows it read.
    ``kind`` says whether the insertion log (``ViewInsertion``) holds the change (migration 0017).
    """

    class Kind(models.TextChoices):
        INSERTED = "i", "views inserted, each in the insertion log"
        CHANGED = "c", "views updated, deleted, or inserted unlogged: only the raw events say what changed"

    bucket = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=1, choices=Kind.choices, db_default=Kind.CHANGED)

    def __str__(self) -> str:
        return f"views changed in the hour of {self.bucket.isoformat()} ({self.get_kind_display()})"


class ViewInsertion(models.Model):
    """Views inserted since the summaries last folded them: how many of one blog in one country (``NO_COUNTRY``
    for none) within one quarter hour (UTC), per inserting statement. The insert trigger writes them beside its
    ``INSERTED`` marker (analytics/triggers.py), so a block folded before them plus these rows is exactly what
    the raw events hold now, as long as no marker of another kind names the block's hours: a request adds them
    to the block instead of reading the block's day raw (docs/design.md, "The insertion log"). A quarter hour
    lies within one local day of every timezone and one hour block. The fold deletes every row it can see."""

    bucket = models.DateTimeField(db_index=True, help_text="The quarter hour's first instant (UTC).")
    blog_id = models.BigIntegerField()
    country_key = models.IntegerField()
    views = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.views} views of blog {self.blog_id} inserted in the quarter hour of {self.bucket.isoformat()}"


class ViewEventId(models.Model):
    """PostgreSQL: every ``event_id`` of ``analytics_blogview``, once. Its primary key is the uniqueness a partitioned
    table cannot hold (analytics/services/partitions.py); triggers keep it equal to the table's event ids. Empty on
    SQLite, whose ``analytics_blogview`` keeps its unique constraint."""

    event_id = models.UUIDField(primary_key=True)

    def __str__(self) -> str:
        return f"event {self.event_id}"


class FoldState(models.Model):
    """The single row saying how far the summaries reach, and in which reporting timezone they were cut."""

    timezone = models.CharField(max_length=64)
    folded_through = models.DateField(help_text="Every day up to this one is folded, unless a ViewChange says not.")
    folded_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"folded through {self.folded_through} ({self.timezone})"


class DataVersion(models.Model):
    """Values that database triggers change in the same transaction as a write (``analytics.triggers``).

    Row ``ANSWERS`` (1) is a counter bumped by every write that can change an answer and by every fold: the response
    cache keys answers by it, so no cached answer outlives a change (SPEC §7). Row ``CATALOGUE`` (2) is a random
    token renewed by every blog, country and username change: the fast path caches the catalogue under it.
    """

    ANSWERS = 1
    CATALOGUE = 2

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"data version {self.value}"

    @classmethod
    def current(cls, row: int) -> int | None:
        """The row's value in the current snapshot (``None`` if the row is missing). One plain query: every
        request reads these, and building the ORM query would cost more than the lookup."""
        with reading.cursor() as cursor:
            cursor.execute(f"SELECT value FROM {reading.ops.quote_name(cls._meta.db_table)} WHERE id = %s", [row])
            found = cursor.fetchone()
        return None if found is None else int(found[0])


class ScopedAPIKey(AbstractAPIKey):
    """An API key (SPEC §9) with the scope fixed at its creation: one author's blogs, or all when ``author`` is null.

    djangorestframework-api-key stores only the key's hash (the key is shown once, by ``create_api_key``). Deleting
    the author deletes their keys: a key must never widen to *all*. Names are unique among keys not revoked, so
    ``revoke_api_key NAME`` names one key and a revoked name can be reused.
    """

    name = models.CharField(max_length=50, help_text="Names the key for revoke_api_key; unique among live keys.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="The author whose blogs this key sees; empty = every blog.",
    )
    can_ingest = models.BooleanField(default=False, help_text="May record views (of its author's blogs only).")
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="Last accepted request, to the minute.")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(revoked=False), name="api_key_active_name_unique"
            )
        ]
