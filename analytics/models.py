"""The analytics data model (SPEC §1). Fields, constraints and indexes only; behaviour lives in services/selectors."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone


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
    blog = models.ForeignKey(Blog, on_delete=models.CASCADE, related_name="views")
    country = models.ForeignKey(Country, on_delete=models.SET_NULL, null=True, blank=True, related_name="views")
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
            models.Index(fields=["blog", "timestamp"], name="blogview_blog_ts_idx"),
            models.Index(fields=["country", "timestamp"], name="blogview_country_ts_idx"),
        ]

    def __str__(self) -> str:
        return f"view of blog {self.blog_id} at {self.timestamp.isoformat()}"


class DailyAnalyticsSummary(models.Model):
    """One reporting-timezone day of views for one (country, author) pair, as the seed project defined it.

    Not read by any endpoint yet: the pre-aggregation engine (issue 3) decides its final shape.
    """

    date = models.DateField()
    country = models.ForeignKey(Country, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    total_views = models.PositiveIntegerField(default=0)
    unique_blogs = models.PositiveIntegerField(default=0)
    blog_ids = models.JSONField(default=list, help_text="Distinct blog ids viewed that day.")

    class Meta:
        ordering = ["date"]
        verbose_name_plural = "daily analytics summaries"
        constraints = [
            models.UniqueConstraint(fields=["date", "country", "author"], name="summary_unique_day_country_author"),
        ]
        indexes = [models.Index(fields=["date"], name="summary_date_idx")]

    def __str__(self) -> str:
        return f"{self.date} {self.country_id}/{self.author_id}: {self.total_views} views"
