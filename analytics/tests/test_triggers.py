"""SPEC §4: every way of writing a view is noticed by the database (migration 0002, reinstalled by 0004)."""

from __future__ import annotations

import pytest
from django.db import connection

from analytics.models import Blog, BlogView, Country, DataVersion, ViewChange
from analytics.tests.conftest import at


def version() -> int:
    return DataVersion.objects.get(pk=1).value


def raw_insert(data) -> None:  # type: ignore[no-untyped-def]
    table = BlogView._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {table} (blog_id, "timestamp") VALUES (%s, %s)', [data.b1.id, at("2025-06-03T07:30")]
        )


@pytest.mark.parametrize(
    ("write", "hour"),
    [
        (lambda data: BlogView.objects.create(blog=data.b1, timestamp=at("2025-06-03T07:30")), "2025-06-03T07:00"),
        (
            lambda data: BlogView.objects.bulk_create([BlogView(blog=data.b1, timestamp=at("2025-06-03T07:30"))]),
            "2025-06-03T07:00",
        ),
        (
            lambda data: BlogView.objects.filter(blog=data.b2).update(timestamp=at("2025-06-03T07:30")),
            "2025-06-03T07:00",
        ),
        (
            lambda data: BlogView.objects.filter(blog=data.b2).update(timestamp=at("2025-06-03T07:30")),
            "2025-06-14T08:00",
        ),
        (lambda data: BlogView.objects.filter(blog=data.b2).delete(), "2025-06-14T08:00"),
        (lambda data: Blog.objects.filter(pk=data.b2.pk).delete(), "2025-06-14T08:00"),
        (raw_insert, "2025-06-03T07:00"),
    ],
    ids=["create", "bulk_create", "update-new-hour", "update-old-hour", "delete", "cascade", "raw-sql"],
)
def test_every_view_write_marks_its_hours_and_bumps_the_version(dataset, write, hour):
    ViewChange.objects.all().delete()
    before = version()
    write(dataset)
    assert at(hour) in set(ViewChange.objects.values_list("bucket", flat=True))
    assert version() > before


@pytest.mark.parametrize(
    "write",
    [
        lambda data: Blog.objects.filter(pk=data.b1.pk).update(title="Renamed"),
        lambda data: Blog.objects.filter(pk=data.b1.pk).update(author=data.b2.author),
        lambda data: Country.objects.filter(code="DE").update(code="GE"),
        lambda data: data.b1.author.__class__.objects.filter(pk=data.b1.author_id).update(username="ALICE"),
    ],
    ids=["rename", "reassign", "recode", "rename-author"],
)
def test_catalogue_writes_bump_the_version(dataset, write):
    before = version()
    write(dataset)
    assert version() > before
