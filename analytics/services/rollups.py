"""Trailing blocks: the last 364, 29 and 6 whole days before the fold's today, rolled up from the fold's own blocks.

``range=year|month|week`` asks for exactly those days plus today, so one trailing block (51 rows) serves what
would otherwise be a dozen month, week and day blocks (600 rows): per-request work then follows the blogs and
countries of one block, not of every block in a year. A trailing block is the merge, per country, of the day,
week and month blocks that cover its days, inside the fold's transaction, so it holds exactly what they hold
(and so what the raw events say). It is rebuilt only when its window moves (a new day) or a day in it was
folded again (a late write); a day that is dirty when the fold ends leaves no trailing block over it. The 364-day
block comes with its blog timelines (``timelines``), written and dropped with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta

import numpy as np

from analytics.blockcodec import ALL_COUNTRIES, Ids, PackedBlock, decode
from analytics.copying import rows_write
from analytics.models import BlogTimeline, PeriodAnalyticsSummary, ViewChange
from analytics.periods import TIMELINE_DAYS, TRAILING_DAYS, changed_days, local_midnight, trailing_kind
from analytics.selectors.coverage import Coverage, FoldInfo, available_periods, block_rows, cover
from analytics.services.timelines import timeline_write


def _window(days: int, today: date) -> tuple[str, date, set[date]]:
    start = today - timedelta(days=days)
    return trailing_kind(days), start, {start + timedelta(days=offset) for offset in range(days)}


def trailing_due(today: date, folded_days: set[date], *, full: bool) -> tuple[int, ...]:
    """The trailing blocks (by length) a fold of ``folded_days`` must build: missing ones, and those holding a
    folded day."""
    due = []
    for days in sorted(TRAILING_DAYS):  # shortest first: a longer block may roll up the shorter ones built here
        kind, start, window = _window(days, today)
        exists = PeriodAnalyticsSummary.objects.filter(granularity=kind, start=start, country_key=ALL_COUNTRIES)
        if full or window & folded_days or not exists.exists():
            due.append(days)
    return tuple(due)


def trailing_write(today: date, due: tuple[int, ...], *, progress: Callable[[], None]) -> int:
    """Build the ``due`` trailing blocks ending yesterday and drop every trailing block of another window. Runs
    inside the fold's transaction, after its day, week and month blocks are written and its markers consumed."""
    dirty = frozenset(changed_days(ViewChange.objects.values_list("bucket", flat=True).distinct()))
    info = FoldInfo(folded_through=today, dirty_days=dirty)
    # Drop every trailing block but the current ones not due, before rolling up, so that no outdated block can be
    # rolled into a new one.
    stale = PeriodAnalyticsSummary.objects.filter(granularity__in=[trailing_kind(days) for days in TRAILING_DAYS])
    for days in TRAILING_DAYS:
        if days not in due:
            kind, start, _ = _window(days, today)
            stale = stale.exclude(granularity=kind, start=start)
    stale.delete()
    written = 0
    for days in due:
        kind, start, window = _window(days, today)
        if not window & dirty:  # a day in it changed during the fold: no block may stand for it yet
            written += _rollup(kind, start, today, info)
            if days == TIMELINE_DAYS:
                written += timeline_write(start, days)
        progress()
    # A timeline lives exactly as long as the trailing block of its window.
    current = PeriodAnalyticsSummary.objects.filter(granularity=trailing_kind(TIMELINE_DAYS), country_key=ALL_COUNTRIES)
    BlogTimeline.objects.exclude(start__in=current.values("start")).delete()
    return written


def _rollup(kind: str, start: date, end: date, info: FoldInfo) -> int:
    """Write the trailing block of days ``start``..``end - 1`` from the blocks that cover them."""
    rows = rolled_rows(kind, start, end, info, days_only=False)
    if rows is None:  # cannot happen for whole clean days; never write a block that would not be exact
        raise RuntimeError(f"the {kind} block of {start} is not covered by blocks")
    return sum(rows_write(rows[offset : offset + 50]) for offset in range(0, len(rows), 50))


def rolled_rows(
    kind: str, start: date, end: date, info: FoldInfo, *, days_only: bool
) -> list[PeriodAnalyticsSummary] | None:
    """The rows of the period block of ``kind`` for days ``start``..``end - 1``, merged one country at a time from
    the blocks that cover those days (only day blocks with ``days_only``); ``None`` when some day has no clean
    block (then only raw events can say what it holds)."""
    span = (local_midnight(start), local_midnight(end))
    coverage = cover([span], info, set() if days_only else available_periods([span]), hours=False)
    if coverage.raw:
        return None
    return [
        PeriodAnalyticsSummary(granularity=kind, start=start, **packed.fields())
        for packed in merged_block(start, coverage, keys_per_read=1)
    ]


def merged_block(start: date, coverage: Coverage, *, keys_per_read: int | None) -> Iterator[PackedBlock]:
    """The rows of one block that holds exactly what every block of ``coverage`` (which has no raw part) holds:
    per country, the blogs' views summed. Countries are read ``keys_per_read`` at a time (``None``: all in one
    read), which bounds memory for a year of day blocks and saves round trips for a few hour blocks. The rows come
    one at a time, so each country's ``all_counts`` exists only while its row is encoded (a year at 1,000,000
    blogs holds ≈ 10M cells)."""
    keys = sorted({key for _, key in block_rows(coverage, None, "country_key")} - {ALL_COUNTRIES})
    keys_per_read = keys_per_read or max(len(keys), 1)
    totals = np.zeros(0, dtype=np.int64)
    merged: list[tuple[int, np.ndarray, np.ndarray]] = []
    for offset in range(0, len(keys), keys_per_read):
        for key, ids, counts in _merged(coverage, keys[offset : offset + keys_per_read]):
            totals = _added(totals, ids, counts)
            merged.append((key, ids, counts))
    for key, ids, counts in merged:  # each blog's views over every country, known once all are merged
        yield PackedBlock(start, key, ids, counts, all_counts=totals[ids])
    viewed = np.flatnonzero(totals)
    countries: tuple[tuple[int, int, Ids], ...] = tuple((key, int(counts.sum()), ids) for key, ids, counts in merged)
    yield PackedBlock(start, ALL_COUNTRIES, viewed, totals[viewed], countries)


def _merged(coverage: Coverage, keys: list[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Per country of ``keys`` with views: its blog ids (ascending) and views summed over every block of the
    coverage."""
    found = list(block_rows(coverage, keys, "country_key", "blog_ids", "view_counts", "unique_blogs"))
    decoded = decode([(ids, counts, size) for _, _, ids, counts, size in found])
    row_keys = np.array([key for _, key, *_ in found], dtype=np.int64)[decoded.row]
    for key in keys:
        mine = row_keys == key
        if not mine.any():
            continue
        ids, inverse = np.unique(decoded.blog[mine], return_inverse=True)
        yield key, ids, np.bincount(inverse, weights=decoded.views[mine], minlength=len(ids)).astype(np.int64)


def _added(totals: np.ndarray, ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``totals`` (views by blog id) with ``counts`` of ``ids`` added, grown as needed."""
    if int(ids[-1]) >= len(totals):
        totals = np.concatenate([totals, np.zeros(int(ids[-1]) + 1 - len(totals), dtype=np.int64)])
    totals[ids] += counts
    return totals
