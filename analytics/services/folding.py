"""The fold: raw ``BlogView`` rows → summary blocks (day, week, month × country), incrementally and atomically.

A fold runs in one transaction (REPEATABLE READ on PostgreSQL), so a run killed at any moment leaves every
block either fully old or fully new, and the change markers it consumes are exactly the ones whose writes it
read. The aggregation runs in the database; Python only packs the per-(block, country) blog lists, one
streamed cell at a time, so memory stays flat as events grow. See docs/design.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain, groupby
from typing import TypeVar

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Min
from django.db.models.functions import Coalesce, Trunc
from django.db.models.sql.constants import MULTI
from django.utils import timezone

from analytics import sketches
from analytics.blockcodec import ALL_COUNTRIES, NO_COUNTRY, PackedBlock
from analytics.copying import rows_write
from analytics.models import (
    BlogTimeline,
    BlogView,
    DailyAnalyticsSummary,
    DataVersion,
    FoldState,
    HourlyAnalyticsSummary,
    PeriodAnalyticsSummary,
    ViewChange,
    ViewInsertion,
)
from analytics.periods import (
    Granularity,
    changed_days,
    local_date,
    local_midnight,
    next_period_start,
    period_start,
    reporting_tz,
)
from analytics.selectors.coverage import HOUR, HOUR_SPANS, Coverage, FoldInfo, hour_index
from analytics.services.cataloguelog import catalogue_log_prune
from analytics.services.rollups import merged_block, rolled_rows, trailing_due, trailing_write
from analytics.transactions import repeatable_read

WRITE_BATCH = 500
# And at most this many blob bytes per INSERT: psycopg2 sends bytea hex-quoted inside the statement, so a batch of
# month rows at 100,000 blogs (country matrices of 625 kB) would otherwise build statements of hundreds of MB.
WRITE_BATCH_BYTES = 8 * 1024 * 1024
STREAM_CHUNK = 20_000
# The recent days (the fold's today and the days before it, this many in all) also get a block per UTC hour, so a
# day changed since its fold is read raw only for its changed hours (docs/design.md, "Hour blocks").
HOUR_BLOCK_DAYS = 2

ProgressCallback = Callable[[int, int], None]
SummaryRow = DailyAnalyticsSummary | PeriodAnalyticsSummary | HourlyAnalyticsSummary


@dataclass(frozen=True)
class FoldPlan:
    """What a fold will rebuild."""

    full: bool
    days: tuple[date, ...]
    weeks: tuple[date, ...]
    months: tuple[date, ...]
    folded_through: date
    pending_changes: int
    trailing: tuple[int, ...] = ()  # lengths of the trailing blocks to build (missing, or holding a folded day)

    @property
    def blocks(self) -> int:
        return len(self.days) + len(self.weeks) + len(self.months) + len(self.trailing)


@dataclass
class FoldReport:
    plan: FoldPlan
    dry_run: bool
    rows_written: int = 0
    seconds: float = 0.0
    extra: dict[str, int] = field(default_factory=dict)


def _day_range(first: date, last: date) -> set[date]:
    return {first + timedelta(days=offset) for offset in range((last - first).days + 1)}


def _fold_plan(*, today: date, days: int | None, force: bool, full: bool) -> tuple[FoldPlan, list[datetime]]:
    """Which day, week and month blocks to rebuild.

    Incremental: the days that change markers name (within the last ``days`` if given; with ``force`` every one
    of those days), and every whole week and month holding one of them or having ended since the last fold.
    Full (``full``, no fold yet, another reporting timezone, or ``force`` without ``days``): everything.
    """
    state = FoldState.objects.first()
    buckets = list(ViewChange.objects.values_list("bucket", flat=True).distinct())
    full = full or state is None or state.timezone != settings.TIME_ZONE or (force and days is None)
    floor = today - timedelta(days=days - 1) if days is not None and not full else None

    if full:
        first = BlogView.objects.aggregate(first=Min("timestamp"))["first"]
        selected = _day_range(min(local_date(first), today) if first is not None else today, today)
        last_fold = date.min
    else:
        assert state is not None
        selected = {day for day in changed_days(buckets) if day <= today}
        if force and floor is not None:
            selected |= _day_range(floor, today)
        if floor is not None:
            selected = {day for day in selected if day >= floor}
        last_fold = state.folded_through

    def whole_periods(granularity: Granularity) -> tuple[date, ...]:
        starts = {period_start(day, granularity) for day in selected}
        if not full:
            # Periods that ended since the last fold, even with no change in them, get their block now.
            starts |= {
                period_start(day, granularity)
                for day in _day_range(max(last_fold, today - timedelta(days=400)), today - timedelta(days=1))
            }
        return tuple(sorted(start for start in starts if next_period_start(start, granularity) <= today))

    plan = FoldPlan(
        full=full,
        days=tuple(sorted(selected)),
        weeks=whole_periods(Granularity.WEEK),
        months=whole_periods(Granularity.MONTH),
        folded_through=today,
        pending_changes=len(buckets),
        trailing=trailing_due(today, selected, full=full),
    )
    return plan, buckets


@dataclass(frozen=True)
class BlockCells:
    """One block's (country key, blog id, views) cells, ordered by country key, then blog id."""

    start: date
    keys: np.ndarray
    blogs: np.ndarray
    views: np.ndarray


def _cells(granularity: Granularity, starts: tuple[date, ...]) -> Iterator[BlockCells]:
    """The cells of the given blocks that have views, in order, aggregated by the database."""
    following = _following(granularity)
    trunc = Trunc("timestamp", granularity.value, tzinfo=reporting_tz())
    for run in _runs(starts, following):
        for block, *cells in _grouped(local_midnight(run[0]), local_midnight(following(run[-1])), trunc):
            yield BlockCells(local_date(block), *cells)


def _grouped(
    start: datetime, end: datetime, trunc: Trunc
) -> Iterator[tuple[datetime, np.ndarray, np.ndarray, np.ndarray]]:
    """The cells of the views in [start, end) by block: (``trunc`` of the view's time, country keys, blog ids,
    views), ordered, aggregated by the database and streamed.

    Django's per-row converters (a time zone lookup and two datetime replacements for each row's block) cost more
    than the aggregation itself at a million cells, so the rows come unconverted (``execute_sql``, as ``iterator``
    does) and each block's value is converted once; its integers go into numpy whole."""
    columns = ("block", "country_key", "blog_id")
    rows = (
        BlogView.objects.filter(timestamp__gte=start, timestamp__lt=end)
        .annotate(block=trunc, country_key=Coalesce(F("country_id"), NO_COUNTRY))
        .values(*columns)
        .annotate(views=Count("id"))
        .order_by(*columns)
        .values_list(*columns, "views")
    )
    compiler = rows.query.get_compiler(using=rows.db)
    chunks = compiler.execute_sql(
        MULTI, chunked_fetch=connection.features.can_use_chunked_reads, chunk_size=STREAM_CHUNK
    )
    converters = compiler.get_converters([compiler.select[0][0]])
    for raw_block, cells in groupby(chain.from_iterable(chunks), key=lambda row: row[0]):
        values = np.array([row[1:] for row in cells], dtype=np.int64)
        (block,) = next(iter(compiler.apply_converters([[raw_block]], converters)))
        yield block, values[:, 0], values[:, 1], values[:, 2]


def _following(granularity: Granularity) -> Callable[[date], date]:
    """The start of the block after the one starting on a day."""
    if granularity is Granularity.DAY:
        return lambda day: day + timedelta(days=1)
    return lambda start: next_period_start(start, granularity)


Block = TypeVar("Block", date, datetime)


def _runs(starts: Sequence[Block], following: Callable[[Block], Block]) -> Iterator[tuple[Block, ...]]:
    """Split sorted block starts into runs of consecutive blocks (``following`` gives the next block's start), so
    each run is one range scan."""
    run: list[Block] = []
    for start in starts:
        if run and start != following(run[-1]):
            yield tuple(run)
            run = []
        run.append(start)
    if run:
        yield tuple(run)


def _pack(blocks: Iterator[BlockCells], starts: Sequence[date]) -> Iterator[PackedBlock]:
    """Per block: one row per country present, each with its blogs' views over every country of the block
    (``all_counts``), then the ALL_COUNTRIES row (always, even for an empty block)."""
    wanted = set(starts)
    seen: set[date] = set()
    for block in blocks:
        seen.add(block.start)
        ordered, inverse = np.unique(block.blogs, return_inverse=True)
        totals = np.bincount(inverse, weights=block.views).astype(np.int64)
        bounds = np.flatnonzero(np.diff(block.keys)) + 1
        matrix = []
        for at, end in zip(np.r_[0, bounds], np.r_[bounds, len(block.keys)], strict=True):
            key, ids, counts = int(block.keys[at]), block.blogs[at:end], block.views[at:end]
            yield PackedBlock(block.start, key, ids, counts, all_counts=totals[inverse[at:end]])
            matrix.append((key, int(counts.sum()), ids))
        yield PackedBlock(block.start, ALL_COUNTRIES, ordered, totals, tuple(matrix))
    for start in sorted(wanted - seen):
        yield PackedBlock(start, ALL_COUNTRIES, [], [])


def _write_rolled(
    granularity: Granularity, starts: tuple[date, ...], info: FoldInfo, progress: Callable[[], None]
) -> tuple[int, tuple[date, ...]]:
    """Write the week or month blocks whose every day has a clean day block, merged from those (the day blocks
    this fold just wrote, or earlier ones still clean): no second pass over the raw events. Returns the rows
    written and the starts left for the raw aggregation."""
    PeriodAnalyticsSummary.objects.filter(granularity=granularity.value, start__in=starts).delete()
    written, left = 0, []
    for start in starts:
        rows = rolled_rows(granularity.value, start, next_period_start(start, granularity), info, days_only=True)
        if rows is None:
            left.append(start)
            continue
        for offset in range(0, len(rows), 50):
            written += rows_write(rows[offset : offset + 50])
        progress()
    return written, tuple(left)


def _write(
    granularity: Granularity,
    starts: tuple[date, ...],
    progress: Callable[[], None],
    sketch: dict[date, dict[int, list[int]]] | None = None,
) -> int:
    if granularity is Granularity.DAY:
        DailyAnalyticsSummary.objects.filter(date__in=starts).delete()
    else:
        PeriodAnalyticsSummary.objects.filter(granularity=granularity.value, start__in=starts).delete()

    def row(packed: PackedBlock) -> DailyAnalyticsSummary | PeriodAnalyticsSummary:
        if sketch is not None:
            sketch.setdefault(packed.start, {})[packed.country_key] = np.asarray(packed.blog_ids).tolist()
        if granularity is Granularity.DAY:
            return DailyAnalyticsSummary(date=packed.start, **packed.fields())
        return PeriodAnalyticsSummary(granularity=granularity.value, start=packed.start, **packed.fields())

    return _insert(_pack(_cells(granularity, starts), starts), row, progress)


def _insert(
    packed_blocks: Iterator[PackedBlock], row: Callable[[PackedBlock], SummaryRow], progress: Callable[[], None]
) -> int:
    """INSERT the rows of ``packed_blocks`` in batches of at most WRITE_BATCH rows and WRITE_BATCH_BYTES of blobs."""
    written = 0
    batch: list[SummaryRow] = []
    batch_bytes = 0
    last_start: object = None
    for packed in packed_blocks:
        made = row(packed)
        batch.append(made)
        blobs = (made.blog_ids, made.view_counts, made.blog_bits, made.country_matrix, made.all_counts)
        batch_bytes += sum(map(len, blobs))
        if packed.start != last_start:
            last_start = packed.start
            progress()
        if len(batch) >= WRITE_BATCH or batch_bytes >= WRITE_BATCH_BYTES:
            written += _flush(batch)
            batch_bytes = 0
    return written + _flush(batch)


# --- hour blocks -----------------------------------------------------------------------------------------------
def _hours(first: date, last: date) -> list[datetime]:
    """The UTC hours that overlap the local days ``first``..``last`` (one more at each end with a half-hour offset)."""
    start = local_midnight(first).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = local_midnight(last + timedelta(days=1)).astimezone(UTC)
    return [start + offset * HOUR for offset in range(math.ceil((end - start) / HOUR))]


def _hour_cells(hours: tuple[datetime, ...]) -> Iterator[BlockCells]:
    """The cells of ``hours`` (consecutive) by UTC hour, in order, aggregated by the database."""
    for block, *cells in _grouped(hours[0], hours[-1] + HOUR, Trunc("timestamp", "hour", tzinfo=UTC)):
        yield BlockCells(block.astimezone(UTC), *cells)


def _write_hours(plan: FoldPlan, today: date, buckets: list[datetime]) -> int:
    """Hour blocks for the plan's recent days: every hour a marker named (the fold read it) or that has no block
    yet, so a fold every minute rewrites the hour or two that changed, not the day; then every longer block
    (``HOUR_SPANS``) over those days' hours that lies within the recent days and holds such an hour or has no block
    yet. Every hour block starting before the recent days is deleted. So a marker the fold consumes
    (``_delete_folded_changes``: every day its hour overlaps was rebuilt) never leaves a block behind that predates
    it: each block holding its hour is rewritten, or gone."""
    first_recent = today - timedelta(days=HOUR_BLOCK_DAYS - 1)
    blocks = HourlyAnalyticsSummary.objects
    if plan.full:
        blocks.all().delete()
    else:
        blocks.filter(start__lt=_hours(first_recent, first_recent)[0]).delete()
    marked = {bucket.astimezone(UTC) for bucket in buckets}
    folded: list[datetime] = []
    due: set[datetime] = set()
    for run in _runs([day for day in plan.days if day >= first_recent], _following(Granularity.DAY)):
        starts = _hours(run[0], run[-1])
        rows = blocks.filter(country_key=ALL_COUNTRIES, hours=1, start__gte=starts[0], start__lte=starts[-1])
        present = {hour.astimezone(UTC) for hour in rows.values_list("start", flat=True)}
        due.update(hour for hour in starts if hour in marked or hour not in present)
        folded.extend(starts)
    written = 0
    for consecutive in _runs(sorted(due), lambda hour: hour + HOUR):
        blocks.filter(hours=1, start__gte=consecutive[0], start__lte=consecutive[-1]).delete()
        written += _insert(
            _pack(_hour_cells(consecutive), consecutive),
            _hour_block_row(1),
            lambda: None,  # an hour or two, or a day's: quick, and not among the plan's blocks
        )
    recent = (_hours(first_recent, first_recent)[0], _hours(today, today)[-1])
    for start, hours in _longer_hour_blocks_due(folded, recent, due):
        blocks.filter(start=start, hours=hours).delete()
        written += _insert(_rolled_hours(start, hours), _hour_block_row(hours), lambda: None)
    return written


def _rolled_hours(start: datetime, hours: int) -> Iterator[PackedBlock]:
    """The block of ``hours`` hours from ``start``, merged from its single-hour blocks, as weeks are rolled up from
    days: no second pass over the raw events. Each is clean: written by this fold, or before it and not marked
    since (a marked hour of the plan's days is due; one of a day outside it, under ``--days``, keeps its marker,
    and the reader skips every block holding it until a fold rewrites them). An hour with no block (a recent day
    folded before hour blocks existed) makes the run come from the raw views instead, as a week with a day that
    has no clean block does."""
    singles = [start + step * HOUR for step in range(hours)]
    present = HourlyAnalyticsSummary.objects.filter(hours=1, country_key=ALL_COUNTRIES, start__in=singles)
    if present.count() < hours:
        return _pack(_span_cells(singles), singles[:1])
    return merged_block(start, Coverage(hours={(hour, 1): 0 for hour in singles}), keys_per_read=None)


def _span_cells(hours: list[datetime]) -> Iterator[BlockCells]:
    """The cells of ``hours`` (consecutive) as one block, starting at the first, from the raw views."""
    parts = list(_hour_cells(tuple(hours)))
    if not parts:
        return
    pairs = np.concatenate([np.stack([part.keys, part.blogs]) for part in parts], axis=1)
    (keys, blogs), inverse = np.unique(pairs, axis=1, return_inverse=True)
    views = np.bincount(inverse.ravel(), weights=np.concatenate([part.views for part in parts])).astype(np.int64)
    yield BlockCells(hours[0], keys, blogs, views)


def _longer_hour_blocks_due(
    folded: list[datetime], recent: tuple[datetime, datetime], due: set[datetime]
) -> list[tuple[datetime, int]]:
    """The blocks of 2, 4 and 8 hours over the ``folded`` hours whose every hour lies within the ``recent`` ones
    (first and last) and that hold a ``due`` hour or have no block yet."""
    if not folded:
        return []
    longest = max(HOUR_SPANS) * HOUR
    rows = HourlyAnalyticsSummary.objects.filter(
        country_key=ALL_COUNTRIES, hours__gt=1, start__gt=min(folded) - longest, start__lte=max(folded)
    )
    present = {(start.astimezone(UTC), hours) for start, hours in rows.values_list("start", "hours")}
    wanted: set[tuple[datetime, int]] = set()
    for hour in folded:
        for hours in HOUR_SPANS:
            start = hour - (hour_index(hour) % hours) * HOUR
            if hours == 1 or start < recent[0] or start + (hours - 1) * HOUR > recent[1]:
                continue
            if (start, hours) not in present or any(start + step * HOUR in due for step in range(hours)):
                wanted.add((start, hours))
    return sorted(wanted)


def _hour_block_row(hours: int) -> Callable[[PackedBlock], HourlyAnalyticsSummary]:
    return lambda packed: HourlyAnalyticsSummary(start=packed.start, hours=hours, **packed.fields())


def _flush(batch: list) -> int:  # type: ignore[type-arg]
    count = rows_write(batch)
    batch.clear()
    return count


def _delete_folded_changes(plan: FoldPlan, buckets: list[datetime]) -> None:
    """Consume the markers whose every day was rebuilt, and the whole insertion log. Under REPEATABLE READ a DELETE
    or UPDATE only reaches rows this transaction could see, so a write that commits during the fold keeps its marker
    and its log rows, and its day stays raw or logged.

    Each log row the fold sees is in a block it just wrote, or in a day it left marked (outside ``--days``). The
    markers it leaves become CHANGED: no log holds their insertions any more, so their hours read raw. A marker
    left INSERTED always has every log row of its insertions, each newer than every block."""
    ViewInsertion.objects.all().delete()
    if plan.full:
        ViewChange.objects.all().delete()
        return
    rebuilt = set(plan.days)
    done = [bucket for bucket in buckets if changed_days([bucket]) <= rebuilt]
    for offset in range(0, len(done), 500):
        ViewChange.objects.filter(bucket__in=done[offset : offset + 500]).delete()
    ViewChange.objects.filter(kind=ViewChange.Kind.INSERTED).update(kind=ViewChange.Kind.CHANGED)


def _statistics_renew() -> None:
    """VACUUM and ANALYZE the tables a full fold or a new trailing window rewrote (after the commit, so it samples
    them): the planner must know the new window's timeline rows, or a few blogs' ``blog_id = ANY(...)`` read becomes
    a scan of every row (347 ms instead of 3 ms for 901 blogs at 100,000), and the rows the rewrite deleted must not
    pile up (the timelines grew to 176 MB for 24 MB of live rows after a few folds). Autovacuum may be off, or not
    have run yet. Inside an outer transaction (tests) VACUUM cannot run: ANALYZE only."""
    if connection.vendor != "postgresql":
        return
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        for model in (DailyAnalyticsSummary, PeriodAnalyticsSummary, HourlyAnalyticsSummary, BlogTimeline):
            cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")


def _log_vacuum() -> None:
    """VACUUM the insertion log and the markers after the fold emptied them (PostgreSQL, outside an outer
    transaction): every fold deletes the log whole, and its dead rows, left to an autovacuum that may be off or
    not have run yet, would be read again by every request that reads the log (17,869 live rows among 204,764 dead
    ones: 17 ms a read instead of 7). A few milliseconds: the tables hold only what arrived since the last fold."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for model in (ViewInsertion, ViewChange):
            cursor.execute(f"VACUUM {connection.ops.quote_name(model._meta.db_table)}")


def data_version_bump() -> None:
    updated = DataVersion.objects.filter(pk=DataVersion.ANSWERS).update(value=F("value") + 1)
    if not updated:
        DataVersion.objects.get_or_create(pk=DataVersion.ANSWERS, defaults={"value": 1})


def summaries_fold(
    *,
    days: int | None = None,
    force: bool = False,
    full: bool = False,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> FoldReport:
    """Fold new and changed days (or the last ``days``, or everything with ``full``) into summary blocks."""
    started = time.perf_counter()
    today = local_date(timezone.now())
    with repeatable_read():
        plan, buckets = _fold_plan(today=today, days=days, force=force, full=full)
        report = FoldReport(plan=plan, dry_run=dry_run)
        if dry_run:
            report.seconds = time.perf_counter() - started
            return report

        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, plan.blocks)

        if plan.full:
            DailyAnalyticsSummary.objects.all().delete()
            PeriodAnalyticsSummary.objects.all().delete()
        sketch: dict[date, dict[int, list[int]]] | None = {} if sketches.enabled() else None
        report.rows_written += _write(Granularity.DAY, plan.days, step, sketch)
        report.rows_written += _write_hours(plan, today, buckets)
        # Every day of the plan now has a fresh block; days marked but outside the plan (--days) are still dirty.
        info = FoldInfo(folded_through=today, dirty_days=frozenset(changed_days(buckets) - set(plan.days)))
        for granularity, starts in ((Granularity.WEEK, plan.weeks), (Granularity.MONTH, plan.months)):
            rolled, left = _write_rolled(granularity, starts, info, step)
            report.rows_written += rolled + _write(granularity, left, step)
        _delete_folded_changes(plan, buckets)
        report.rows_written += trailing_write(today, plan.trailing, progress=step)
        FoldState.objects.update_or_create(
            pk=1,
            defaults={
                "timezone": settings.TIME_ZONE,
                "folded_through": plan.folded_through,
                "folded_at": timezone.now(),
            },
        )
    # Outside the fold's snapshot: writers bump this row too, and a REPEATABLE READ update of it would fail.
    data_version_bump()
    if plan.full or plan.trailing:
        _statistics_renew()
    _log_vacuum()
    catalogue_log_prune()
    if sketch:
        sketches.sketches_write(sketch)  # after the commit: a sketch never gets ahead of its day's blocks
    report.seconds = time.perf_counter() - started
    return report
