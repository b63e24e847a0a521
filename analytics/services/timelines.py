"""Blog timelines: the trailing 364-day window, transposed from country-major day blocks to one row per blog.

The fold writes them with the window's trailing block (``rollups.trailing_write``), inside its transaction, from
the day blocks of the window's days, so a timeline holds exactly what those blocks hold (and so what the raw
events say). Memory stays bounded: the day blocks' blobs are read once, then decoded in passes over ranges of
blog ids of at most ``PASS_CELLS`` cells each. See docs/design.md, "Blog timelines".
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import numpy as np
from django.db import connection
from django.db.models import Max

from analytics.blockcodec import NO_COUNTRY, decode
from analytics.models import Blog, BlogTimeline, DailyAnalyticsSummary
from analytics.periods import TIMELINE_DAYS

PASS_CELLS = 500_000
WRITE_BATCH = 2_000


def timeline_write(start: date, days: int = TIMELINE_DAYS) -> int:
    """Replace the timeline of the window ``start``..``start + days - 1`` with one built from its day blocks, and
    mark it complete. Every day of the window must have a clean day block (the caller's trailing block needs
    the same). Returns the rows written."""
    BlogTimeline.objects.filter(start=start).delete()
    day_rows = list(
        DailyAnalyticsSummary.objects.filter(
            date__gte=start, date__lt=start + timedelta(days=days), country_key__gte=NO_COUNTRY
        ).values_list("date", "country_key", "blog_ids", "view_counts", "unique_blogs")
    )
    offsets = np.array([(day - start).days for day, *_ in day_rows], dtype=np.int64)
    keys = np.array([row[1] for row in day_rows], dtype=np.int64)
    blobs = [(bytes(ids), bytes(counts), size) for _, _, ids, counts, size in day_rows]
    del day_rows
    cells = sum(size for _, _, size in blobs)
    passes = max(1, -(-cells // PASS_CELLS))
    # Ranges of blog ids with about equal cells (ids are spread evenly enough); the last range is open, so a
    # block naming an id above the current maximum still lands in some pass.
    top = Blog.objects.aggregate(top=Max("id"))["top"] or 0
    bounds = np.linspace(0, top + 1, passes + 1).astype(np.int64)
    bounds[-1] = np.iinfo(np.int64).max
    written, total = 0, 0
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        rows = _pass_rows(blobs, offsets, keys, int(low), int(high))
        total += sum(row[5] for row in rows)
        written += _insert(start, rows)
    return written + _insert(start, [(0, b"", b"", b"", 0, total)])  # the marker: this window is complete


Row = tuple[int, bytes, bytes, bytes, int, int]  # blog id, days, countries, counts, cells, total views


def _pass_rows(
    blobs: list[tuple[bytes, bytes, int]], offsets: np.ndarray, keys: np.ndarray, low: int, high: int
) -> list[Row]:
    """The timeline rows of blog ids ``low``..``high - 1``: decode the day rows in chunks, keep this range's
    cells, sort them by blog, day and country, and cut one row per blog, each array in its narrowest width."""
    parts: list[tuple[np.ndarray, ...]] = []
    for at in range(0, len(blobs), 512):
        decoded = decode(blobs[at : at + 512])
        inside = (decoded.blog >= low) & (decoded.blog < high)
        row = decoded.row[inside] + at
        parts.append((decoded.blog[inside], offsets[row], keys[row], decoded.views[inside]))
    if not parts:
        return []
    blog, day, country, views = (np.concatenate([part[i] for part in parts]) for i in range(4))
    if not len(blog):
        return []
    order = np.lexsort((country, day, blog))
    blog, columns = blog[order], [day[order], country[order], views[order]]
    cuts = np.flatnonzero(np.r_[True, blog[1:] != blog[:-1], True])
    firsts, lasts = cuts[:-1], cuts[1:]
    # Per row and column the narrowest width, then each column cast once per width and sliced per row.
    encoded: list[list[bytes]] = []
    for values in columns:
        tops = np.maximum.reduceat(values, firsts)
        widths = np.select([tops <= 0xFF, tops <= 0xFFFF, tops <= 0xFFFFFFFF], [1, 2, 4], 8)
        blobs_of = [b""] * len(firsts)
        for width in np.unique(widths):
            cast = values.astype(f"<u{int(width)}").tobytes()
            for index in np.flatnonzero(widths == width):
                blobs_of[index] = cast[int(firsts[index]) * int(width) : int(lasts[index]) * int(width)]
        encoded.append(blobs_of)
    totals = np.add.reduceat(columns[2], firsts)
    return [
        (int(blog[first]), encoded[0][index], encoded[1][index], encoded[2][index], int(last - first), int(total))
        for index, (first, last, total) in enumerate(zip(firsts, lasts, totals, strict=True))
    ]


def _insert(start: date, rows: list[Row]) -> int:
    """Insert rows: COPY on PostgreSQL (a tenth of the time of INSERTs at 100,000 rows), bulk INSERT elsewhere."""
    if connection.vendor == "postgresql":
        lines = "".join(
            f"{start.isoformat()}\t{blog}\t\\\\x{days.hex()}\t\\\\x{countries.hex()}\t\\\\x{counts.hex()}\t{cells}\t{total}\n"
            for blog, days, countries, counts, cells, total in rows
        )
        columns = "start, blog_id, days, countries, view_counts, cells, total_views"
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {BlogTimeline._meta.db_table} ({columns}) FROM STDIN", io.StringIO(lines))
        return len(rows)
    objects = [
        BlogTimeline(
            start=start,
            blog_id=blog,
            days=days,
            countries=countries,
            view_counts=counts,
            cells=cells,
            total_views=total,
        )
        for blog, days, countries, counts, cells, total in rows
    ]
    return len(BlogTimeline.objects.bulk_create(objects, batch_size=WRITE_BATCH))
