"""Which summary blocks and raw ranges serve a request's spans, and reading them as cells (docs/design.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db.models import Count, Q
from django.db.models.functions import Coalesce, TruncDate

from analytics.blockcodec import ALL_COUNTRIES, NO_COUNTRY, Run, decode, decode_timelines, ints_from_text
from analytics.copying import rows_read, statement_read
from analytics.models import (
    BlogTimeline,
    BlogView,
    DailyAnalyticsSummary,
    FoldState,
    HourlyAnalyticsSummary,
    PeriodAnalyticsSummary,
    ViewChange,
    ViewInsertion,
)
from analytics.periods import (
    TIMELINE_DAYS,
    TRAILING_DAYS,
    Granularity,
    block_end,
    changed_days,
    local_date,
    local_midnight,
    reporting_tz,
    trailing_kind,
)
from analytics.replicas import reading


# --- which blocks and raw ranges cover a request ---------------------------------------------------------------
@dataclass(frozen=True)
class FoldInfo:
    folded_through: date
    dirty_days: frozenset[date]
    dirty_hours: frozenset[datetime] = frozenset()  # the UTC hours of the change markers (``ViewChange.bucket``)
    # The dirty hours and days that only insertions changed: the insertion log holds every view they gained since
    # the blocks were folded (``ViewInsertion``). Empty for the fold's own roll-ups, which read clean blocks only.
    logged_hours: frozenset[datetime] = frozenset()
    logged_days: frozenset[date] = frozenset()

    def is_clean(self, day: date) -> bool:
        return day <= self.folded_through and day not in self.dirty_days

    def is_logged(self, day: date) -> bool:
        """Whether the day's block plus the log's rows of the day are the day: folded, and changed only by logged
        insertions, within local midnights that split no quarter hour of the log."""
        return (
            day <= self.folded_through
            and day in self.logged_days
            and _on_quarter(local_midnight(day))
            and _on_quarter(local_midnight(day + timedelta(days=1)))
        )


def _on_quarter(moment: datetime) -> bool:
    return moment.second == 0 and moment.microsecond == 0 and moment.astimezone(UTC).minute % 15 == 0


def fold_info() -> FoldInfo | None:
    state = FoldState.objects.first()
    if state is None or state.timezone != settings.TIME_ZONE:
        return None  # never folded, or cut in another timezone: the blocks cannot speak for these days
    markers = set(ViewChange.objects.values_list("bucket", "kind").distinct())
    buckets = {bucket for bucket, _ in markers}
    unlogged = {bucket for bucket, kind in markers if kind != ViewChange.Kind.INSERTED}
    dirty_days = changed_days(buckets)
    return FoldInfo(
        state.folded_through,
        frozenset(dirty_days),
        frozenset(buckets),
        logged_hours=frozenset(buckets - unlogged),
        logged_days=frozenset(dirty_days - changed_days(unlogged)),
    )


@dataclass
class Coverage:
    days: dict[date, int] = field(default_factory=dict)  # day block → span
    periods: dict[tuple[str, date], int] = field(default_factory=dict)  # (granularity, start) → span
    raw: list[tuple[datetime, datetime, int]] = field(default_factory=list)  # [start, end) → span
    # Raw ranges and timelines are read for these blog ids only (None: every blog); the mask keeps no other.
    blogs: np.ndarray | None = None
    timeline: dict[date, int] = field(default_factory=dict)  # day read from the blog timelines → span
    timeline_start: date | None = None  # the first day of the timelines' window
    hours: dict[tuple[datetime, int], int] = field(default_factory=dict)  # hour block (UTC start, hours) → span
    # A split read: this coverage serves only ``keys``; ``rest`` serves every other country key (``split_by``).
    keys: list[int] | None = None
    rest: Coverage | None = None
    # [start, end) → span: insertion log rows to add to the blocks of those times, folded before them (is_logged).
    logged: list[tuple[datetime, datetime, int]] = field(default_factory=list)

    def only(self, spans: set[int]) -> Coverage:
        return Coverage(
            days={day: span for day, span in self.days.items() if span in spans},
            periods={key: span for key, span in self.periods.items() if span in spans},
            raw=[piece for piece in self.raw if piece[2] in spans],
            blogs=self.blogs,
            timeline={day: span for day, span in self.timeline.items() if span in spans},
            timeline_start=self.timeline_start,
            hours={hour: span for hour, span in self.hours.items() if span in spans},
            keys=self.keys,
            rest=self.rest.only(spans) if self.rest is not None else None,
            logged=[piece for piece in self.logged if piece[2] in spans],
        )

    def blocks_only(self) -> Coverage:
        """The day, period and hour blocks of this coverage: no raw range, no logged insertions, no timeline."""
        return Coverage(self.days, self.periods, hours=self.hours)

    def unblocked(self) -> Coverage:
        """The raw ranges and logged insertions of this coverage, for every blog: what its blocks do not hold."""
        return Coverage(raw=self.raw, logged=self.logged)

    def split_by(self, keys: list[int], rest: Coverage, rest_keys: list[int]) -> Coverage:
        """This coverage for the country ``keys``, and ``rest`` for ``rest_keys``: a mask that keeps some
        countries whole reads them from the blocks, and its other countries from a few blogs' timelines."""
        return replace(self, keys=keys, rest=replace(rest, keys=rest_keys, rest=None))

    def single_block_spans(self) -> set[int]:
        """Spans served by exactly one block and nothing raw or logged."""
        counts = Counter([*self.days.values(), *self.periods.values(), *self.hours.values()])
        raw = {piece[2] for piece in (*self.raw, *self.logged)}
        return {span for span, count in counts.items() if count == 1 and span not in raw}

    def whole_days(self) -> list[date]:
        """Every day the day and period blocks stand for."""
        days = list(self.days)
        for kind, start in self.periods:
            following = block_end(kind, start)
            days.extend(start + timedelta(days=offset) for offset in range((following - start).days))
        return days

    def add_raw(self, start: datetime, end: datetime, span: int) -> None:
        _add_range(self.raw, start, end, span)

    def add_logged(self, start: datetime, end: datetime, span: int) -> None:
        _add_range(self.logged, start, end, span)


def _add_range(ranges: list[tuple[datetime, datetime, int]], start: datetime, end: datetime, span: int) -> None:
    """Append [start, end) of ``span``, joined to the last range when they touch and share the span."""
    if start >= end:
        return
    if ranges and ranges[-1][1] == start and ranges[-1][2] == span:
        ranges[-1] = (ranges[-1][0], end, span)
    else:
        ranges.append((start, end, span))


def _whole_block(
    day: date, last: date, kind: str, info: FoldInfo, available: set[tuple[str, date]], logging: bool
) -> date | None:
    """The day after the block of ``kind`` starting on ``day`` if it can stand for its days within ``day``..``last``
    (with ``logging``, plus the insertion log's rows of its logged days)."""
    if (kind, day) not in available:
        return None
    following = block_end(kind, day)
    if following - timedelta(days=1) > last or following - timedelta(days=1) > info.folded_through:
        return None
    if any(day <= dirty < following and not (logging and info.is_logged(dirty)) for dirty in info.dirty_days):
        return None
    return following


# Longest first: a trailing year, then the calendar month and week, then the trailing month and week.
BLOCK_KINDS = (
    trailing_kind(TRAILING_DAYS[0]),
    Granularity.MONTH.value,
    trailing_kind(TRAILING_DAYS[1]),
    Granularity.WEEK.value,
    trailing_kind(TRAILING_DAYS[2]),
)


def cover(
    spans: list[tuple[datetime, datetime]],
    info: FoldInfo,
    available: set[tuple[str, date]],
    *,
    blogs: np.ndarray | None = None,
    timeline_start: date | None = None,
    hours: bool = True,
) -> Coverage:
    """Greedy cover of each span [start, end): at each day the longest clean block that starts there and fits
    (``BLOCK_KINDS``), else the day's block; raw where no block can serve. With ``timeline_start`` (and the
    ``blogs`` the request keeps), every clean whole day of that timeline window is read from the timelines. With
    ``hours``, the whole hours of the raw ranges that have a clean hour block read it (``_hour_blocks_use``).

    A block whose days or hours only logged insertions changed since its fold (``FoldInfo.is_logged``) serves
    them too, with the log's rows of those days or hours (``Coverage.logged``), unless the request keeps a few
    ``blogs``: their raw events are then the cheaper read."""
    coverage = Coverage(blogs=blogs, timeline_start=timeline_start)
    logging = blogs is None
    timeline_days = (
        (timeline_start, timeline_start + timedelta(days=TIMELINE_DAYS)) if timeline_start is not None else None
    )
    for span, (start, end) in enumerate(spans):
        first = local_date(start)
        if start != local_midnight(first):
            first += timedelta(days=1)
        end_day = local_date(end)  # days before end_day are whole; end_day itself is partial or outside
        if first >= end_day:
            coverage.add_raw(start, end, span)
            continue
        coverage.add_raw(start, local_midnight(first), span)
        day, last = first, end_day - timedelta(days=1)
        while day <= last:
            if timeline_days is not None and timeline_days[0] <= day < timeline_days[1] and info.is_clean(day):
                coverage.timeline[day] = span
                day += timedelta(days=1)
                continue
            following = None
            for kind in BLOCK_KINDS:
                following = _whole_block(day, last, kind, info, available, logging)
                if following is not None:
                    coverage.periods[(kind, day)] = span
                    break
            if following is None:
                following = day + timedelta(days=1)
                if not (info.is_clean(day) or (logging and info.is_logged(day))):
                    coverage.add_raw(local_midnight(day), local_midnight(following), span)
                    day = following
                    continue
                coverage.days[day] = span
            # A block holds a changed day only when the log holds the change (``_whole_block``): add it.
            for changed in sorted(dirty for dirty in info.dirty_days if day <= dirty < following):
                coverage.add_logged(local_midnight(changed), local_midnight(changed + timedelta(days=1)), span)
            day = following
        coverage.add_raw(local_midnight(end_day), end, span)
    if hours and coverage.raw:
        _hour_blocks_use(coverage, info, logging=logging)
    return coverage


HOUR = timedelta(hours=1)
# The lengths of hour blocks, longest first. A block of n hours starts on a multiple of n hours since the epoch, so the
# 8-hour blocks are 00:00, 08:00 and 16:00 UTC: the unchanged hours of a day are a few blocks, not one per hour.
HOUR_SPANS = (8, 4, 2, 1)


def hour_index(hour: datetime) -> int:
    """Whole hours since the epoch: a block of ``n`` hours starts where this is a multiple of ``n``."""
    return int(hour.timestamp()) // 3600


def _hour_blocks_use(coverage: Coverage, info: FoldInfo, *, logging: bool) -> None:
    """Serve the whole UTC hours of the raw ranges from hour blocks where one exists (the fold writes them for its
    recent days, an ALL row for every block) and no change marker names any of its hours since (with ``logging``:
    none but markers of logged insertions, whose log rows the block then adds): at each hour the longest such block
    that starts there and fits the range (``HOUR_SPANS``). Only the changed hours, and the parts of an hour at a
    range's edges, stay raw. One query, for the hours the ranges span."""
    first = min(start for start, _, _ in coverage.raw)
    last = max(end for _, end, _ in coverage.raw)
    available = HourlyAnalyticsSummary.objects.filter(country_key=ALL_COUNTRIES, start__gte=first, start__lt=last)
    blocks = {(start.astimezone(UTC), hours) for start, hours in available.values_list("start", "hours")}
    if not blocks:
        return
    dirty = {bucket.astimezone(UTC) for bucket in info.dirty_hours}
    unlogged = dirty - {bucket.astimezone(UTC) for bucket in info.logged_hours} if logging else dirty

    def clean(hour: datetime, hours: int) -> bool:
        return (hour, hours) in blocks and not any(hour + step * HOUR in unlogged for step in range(hours))

    pieces, coverage.raw = coverage.raw, []
    for start, end, span in pieces:
        hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        hour = hour if hour == start else hour + HOUR
        at = start
        while hour + HOUR <= end:
            index = hour_index(hour)
            fits = (hours for hours in HOUR_SPANS if index % hours == 0 and hour + hours * HOUR <= end)
            hours = next((hours for hours in fits if clean(hour, hours)), 0)
            if hours:
                coverage.add_raw(at, hour, span)
                coverage.hours[(hour, hours)] = span
                for changed in (hour + step * HOUR for step in range(hours)):
                    if changed in dirty:
                        coverage.add_logged(changed, changed + HOUR, span)
                at = hour + hours * HOUR
            hour += max(hours, 1) * HOUR
        coverage.add_raw(at, end, span)


def available_periods(spans: list[tuple[datetime, datetime]]) -> set[tuple[str, date]]:
    first = local_date(min(start for start, _ in spans))
    last = local_date(max(end for _, end in spans))
    rows = PeriodAnalyticsSummary.objects.filter(country_key=ALL_COUNTRIES, start__gte=first, start__lte=last)
    return set(rows.values_list("granularity", "start"))


# --- cells ---------------------------------------------------------------------------------------------------
@dataclass
class Cells:
    """Parallel arrays: one entry per (span, blog, country key) piece of a block or raw range."""

    span: np.ndarray
    blog: np.ndarray
    country: np.ndarray
    views: np.ndarray
    raw_count: int = 0  # the last ``raw_count`` entries came from raw events (``_cells``)


def block_rows(coverage: Coverage, country_keys: list[int] | None, *columns: str) -> Iterator[tuple[Any, ...]]:
    """(span, *columns) of every block row the coverage uses, for the wanted country keys (``None``: all real
    ones, no-country included; ``[ALL_COUNTRIES]``: the per-block totals)."""
    for span, _, *values in block_rows_named(coverage, country_keys, *columns):
        yield span, *values


def block_rows_named(coverage: Coverage, country_keys: list[int] | None, *columns: str) -> Iterator[tuple[Any, ...]]:
    """``block_rows`` with the block each row belongs to after its span: ``(span, block, *columns)``, where the block
    is ``("day", date)``, ``("hours", start, length)`` or ``(granularity, start)``, so rows of one block can be
    matched."""

    def keyed(rows: Any) -> Any:
        if country_keys is None:
            return rows.filter(country_key__gte=NO_COUNTRY)
        return rows.filter(country_key__in=country_keys)

    if coverage.days:
        days = keyed(DailyAnalyticsSummary.objects.filter(date__in=sorted(coverage.days)))
        for day, *values in rows_read(days.values_list("date", *columns)):
            yield coverage.days[day], ("day", day), *values
    if coverage.hours:
        # As for periods: two IN lists, then only the (start, length) pairs the coverage uses.
        firsts = sorted({start for start, _ in coverage.hours})
        lengths = sorted({hours for _, hours in coverage.hours})
        blocks = keyed(HourlyAnalyticsSummary.objects.filter(start__in=firsts, hours__in=lengths))
        for hour, hours, *values in rows_read(blocks.values_list("start", "hours", *columns)):
            key = (hour.astimezone(UTC), hours)
            span = coverage.hours.get(key)
            if span is not None:
                yield span, ("hours", *key), *values
    if coverage.periods:
        # Two IN lists (granularities, starts) rather than an OR per block, which Django compiles slowly; then drop
        # the few rows that match both lists but not as a pair (a week starting on the 1st of a covered month).
        granularities = sorted({granularity for granularity, _ in coverage.periods})
        starts = sorted({start for _, start in coverage.periods})
        periods = keyed(PeriodAnalyticsSummary.objects.filter(granularity__in=granularities, start__in=starts))
        for granularity, start, *values in rows_read(periods.values_list("granularity", "start", *columns)):
            span = coverage.periods.get((granularity, start))
            if span is not None:
                yield span, (granularity, start), *values


def read_cells(coverage: Coverage, country_keys: list[int] | None) -> Cells:
    """Every (span, blog, country, views) entry of the blocks, timelines and raw ranges (of a split coverage:
    each part for its own country keys, so no cell is read twice)."""
    if coverage.keys is None:
        return _read_cells(coverage, country_keys)
    # Split reads serve masks that tie blogs to countries, whose callers always ask for real country keys.
    assert country_keys != [ALL_COUNTRIES], "a split coverage has no per-block totals to read"
    parts = []
    for part in (replace(coverage, rest=None), coverage.rest):
        assert part is not None and part.keys is not None
        wanted = part.keys if country_keys is None else sorted(set(part.keys) & set(country_keys))
        if wanted:
            cells = _read_cells(part, wanted)
            parts.append(_restricted(cells, np.isin(cells.country, wanted)))
    return _joined(parts)


def _restricted(cells: Cells, keep: np.ndarray) -> Cells:
    raw = len(cells.blog) - cells.raw_count
    kept_raw = int(np.count_nonzero(keep[raw:]))
    return Cells(cells.span[keep], cells.blog[keep], cells.country[keep], cells.views[keep], kept_raw)


def _joined(parts: list[Cells]) -> Cells:
    """The cells of every part, their raw entries last (``Cells.raw_count``)."""
    pieces = [(part, slice(0, len(part.blog) - part.raw_count)) for part in parts]
    pieces += [(part, slice(len(part.blog) - part.raw_count, len(part.blog))) for part in parts]

    def column(name: str) -> np.ndarray:
        arrays = [getattr(part, name)[at] for part, at in pieces]
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)

    raw_count = sum(part.raw_count for part in parts)
    return Cells(column("span"), column("blog"), column("country"), column("views"), raw_count)


def _read_cells(coverage: Coverage, country_keys: list[int] | None) -> Cells:
    rows = list(block_rows(coverage, country_keys, "country_key", "blog_ids", "view_counts", "unique_blogs"))
    decoded = decode([(ids, counts, size) for _, _, ids, counts, size in rows])
    spans = np.array([row[0] for row in rows], dtype=np.int64)
    keys = np.array([row[1] for row in rows], dtype=np.int64)
    timeline = timeline_cells(coverage, country_keys)
    raw = raw_cells(coverage)
    return Cells(
        span=np.concatenate([spans[decoded.row], timeline.span, raw.span]),
        blog=np.concatenate([decoded.blog, timeline.blog, raw.blog]),
        country=np.concatenate([keys[decoded.row], timeline.country, raw.country]),
        views=np.concatenate([decoded.views, timeline.views, raw.views]),
        raw_count=len(raw.blog),
    )


def timeline_start() -> date | None:
    """The first day of the newest complete timeline window (its marker row) whose trailing block exists too: the
    fold writes and drops both together, and a path that dropped only the block (by hand, say) must not leave the
    timeline speaking for days the blocks no longer vouch for."""
    blocks = PeriodAnalyticsSummary.objects.filter(granularity=trailing_kind(TIMELINE_DAYS), country_key=ALL_COUNTRIES)
    markers = BlogTimeline.objects.filter(blog_id=0, start__in=blocks.values("start")).order_by("-start")
    return markers.values_list("start", flat=True).first()


def timeline_cells(coverage: Coverage, country_keys: list[int] | None) -> Cells:
    """The timeline days of the coverage as (span, blog, country, views) cells of its ``blogs``: one indexed read
    of their rows, whatever the catalogue's size. Cells keep their real country, even when ``country_keys`` asks
    for totals; other country keys are dropped."""
    empty = np.zeros(0, dtype=np.int64)
    if not coverage.timeline or coverage.blogs is None or not len(coverage.blogs):
        return Cells(empty, empty, empty, empty)
    assert coverage.timeline_start is not None
    found = decode_timelines(_timeline_runs(coverage.timeline_start, coverage.blogs))
    span_of = np.full(TIMELINE_DAYS, -1, dtype=np.int64)
    for day, span in coverage.timeline.items():
        span_of[(day - coverage.timeline_start).days] = span
    span = span_of[found.day]
    keep = span >= 0
    if country_keys is not None and country_keys != [ALL_COUNTRIES]:
        keep &= np.isin(found.country, country_keys)
    return Cells(span[keep], found.blog[keep], found.country[keep], found.views[keep])


def _timeline_runs(start: date, blogs: np.ndarray) -> list[Run]:
    """The timeline rows of these blogs. On PostgreSQL concatenated by the database, one run per width triple
    (a handful of rows for thousands of blogs, rather than a Python object per blob), and read by binary ``COPY``
    (3,265 blogs' 0.8 MB: 11.3 → 9.9 ms, docs/design.md); elsewhere row by row. The
    aggregates of one group take its rows in one order, whatever it is, so the five lists stay aligned without an
    ``ORDER BY`` in each (which sorted the group five times: 3,155 rows 16.6 → 13.7 ms)."""
    wanted: list[int] = blogs.tolist()
    if reading.vendor != "postgresql":
        rows = BlogTimeline.objects.filter(start=start, blog_id__in=wanted)
        return [
            (np.array([blog]), np.array([cells]), days, countries, counts)
            for blog, days, countries, counts, cells in rows.values_list(
                "blog_id", "days", "countries", "view_counts", "cells"
            )
        ]
    table = reading.ops.quote_name(BlogTimeline._meta.db_table)
    runs = statement_read(
        reading,
        f"""SELECT string_agg(blog_id::text, ','), string_agg(cells::text, ','),
                   string_agg(days, ''::bytea), string_agg(countries, ''::bytea), string_agg(view_counts, ''::bytea)
            FROM {table} WHERE start = %s AND blog_id = ANY(%s) AND cells > 0
            GROUP BY length(days) / cells, length(countries) / cells, length(view_counts) / cells""",
        [start, wanted],
        ("TextField", "TextField", "BinaryField", "BinaryField", "BinaryField"),
    )
    return [(ints_from_text(ids), ints_from_text(cells), *blobs) for ids, cells, *blobs in runs]


def raw_ranges_q(coverage: Coverage) -> Q:
    """The raw events the coverage's raw ranges stand for (of ``blogs`` only, when set). Ranges that touch are one
    condition, whatever their spans: the spans of a performance answer read raw (a few blogs' year of weeks) are
    one range, not 53 ``OR``-ed ones that PostgreSQL plans over every partition (16 ms, against 0.4 ms to run)."""
    ranges = Q(pk__in=[])
    for start, end in _touching_merged(sorted((start, end) for start, end, _ in coverage.raw)):
        ranges |= Q(timestamp__gte=start, timestamp__lt=end)
    if coverage.blogs is not None:
        ranges &= Q(blog_id__in=coverage.blogs.tolist())
    return ranges


def _touching_merged(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted [start, end) ranges with every run of touching or overlapping ones made one."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in ranges:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def raw_cells(coverage: Coverage) -> Cells:
    """What the coverage's blocks do not hold, as (span, blog, country, views) cells: the raw ranges' events and
    the logged insertions (``logged_cells``)."""
    events = _event_cells(coverage)
    return _joined([events, logged_cells(coverage)]) if coverage.logged else events


def logged_cells(coverage: Coverage) -> Cells:
    """The insertion log's rows in the coverage's logged ranges (of ``blogs`` only, when set), as cells: each
    quarter hour lies in one range, whose span it takes. On PostgreSQL the rows come as four strings that numpy
    parses, as raw events do (``_one_span_cells``)."""
    ranges = sorted(coverage.logged)
    if len(ranges) > RAW_RANGES_PER_STATEMENT:
        return _joined(
            [
                logged_cells(Coverage(logged=ranges[at : at + RAW_RANGES_PER_STATEMENT], blogs=coverage.blogs))
                for at in range(0, len(ranges), RAW_RANGES_PER_STATEMENT)
            ]
        )
    wanted = Q(pk__in=[])
    for start, end in _touching_merged([(start, end) for start, end, _ in ranges]):
        wanted |= Q(bucket__gte=start, bucket__lt=end)
    if coverage.blogs is not None:
        wanted &= Q(blog_id__in=coverage.blogs.tolist())
    rows = ViewInsertion.objects.filter(wanted)
    one_span = len({span for _, _, span in ranges}) == 1  # then no quarter hour needs its span looked up
    if reading.vendor == "postgresql":
        try:
            sql, params = rows.values("bucket", "blog_id", "country_key", "views").query.sql_with_params()
        except EmptyResultSet:
            return empty_cells()
        # date_part is a double; extract(epoch ...) a numeric, several times slower to cast for 20,000 rows.
        seconds_text = "NULL" if one_span else "string_agg(date_part('epoch', bucket)::bigint::text, ',')"
        with reading.cursor() as cursor:
            cursor.execute(
                f"""SELECT {seconds_text}, string_agg(blog_id::text, ','), string_agg(country_key::text, ','),
                           string_agg(views::text, ',')
                    FROM ({sql}) AS logged""",
                params,
            )
            seconds, blog, key, views = (ints_from_text(text) for text in cursor.fetchone())
        if one_span:
            return Cells(np.full(len(blog), ranges[0][2], dtype=np.int64), blog, key, views)
    else:
        found = list(rows.values_list("bucket", "blog_id", "country_key", "views"))
        seconds = np.array([int(row[0].timestamp()) for row in found], dtype=np.int64)
        blog, key, views = (np.array([row[at] for row in found], dtype=np.int64) for at in (1, 2, 3))
    starts = np.array([int(start.timestamp()) for start, _, _ in ranges], dtype=np.int64)
    spans = np.array([span for _, _, span in ranges], dtype=np.int64)
    return Cells(spans[np.searchsorted(starts, seconds, side="right") - 1], blog, key, views)


def _event_cells(coverage: Coverage) -> Cells:
    """The raw ranges' events as (span, blog, country, views) cells.

    A span is whole days of the reporting timezone (or the window's partial first and last day), so an event's
    span is its local day's. When every range serves one span (``range=day``, ``month``, ``year``: the raw part is
    the hours changed since the last fold) the events are read ungrouped, with no day computed per event, and numpy
    groups them (``_one_span_cells``); otherwise one ``GROUP BY`` of local day, blog and country
    (``_cells_by_day``).
    """
    if not coverage.raw:
        return empty_cells()
    if len(coverage.raw) > RAW_RANGES_PER_STATEMENT:
        # Ranges are disjoint, so statements over parts of them read disjoint events; their cells just add up.
        parts = [
            _event_cells(replace(coverage, raw=coverage.raw[at : at + RAW_RANGES_PER_STATEMENT]))
            for at in range(0, len(coverage.raw), RAW_RANGES_PER_STATEMENT)
        ]
        return _joined(parts)
    spans = {span for _, _, span in coverage.raw}
    if len(spans) == 1:
        return _one_span_cells(coverage, spans.pop())
    return _cells_by_day(coverage)


# SQLite parses the ranges' OR as a chain one level deeper per range and refuses 1,000 levels ("Expression tree is
# too large"): a performance answer by day over years of days read raw reached it.
RAW_RANGES_PER_STATEMENT = 500


def _one_span_cells(coverage: Coverage, span: int) -> Cells:
    """On PostgreSQL the events' blogs and countries as two strings that numpy parses and groups: nearly every
    (blog, country) pair of an hour's 20,000 events is its own group, so PostgreSQL's ``GROUP BY`` cost more than it
    saved (docs/design.md). Elsewhere a ``GROUP BY`` of blog and country."""
    events = BlogView.objects.filter(raw_ranges_q(coverage)).annotate(key=Coalesce("country_id", NO_COUNTRY))
    if reading.vendor == "postgresql":
        try:
            sql, params = events.values("blog_id", "key").query.sql_with_params()
        except EmptyResultSet:  # no blog kept: Django would answer this queryset without asking the database
            return empty_cells()
        with reading.cursor() as cursor:
            cursor.execute(
                f"SELECT string_agg(blog_id::text, ','), string_agg(key::text, ',') FROM ({sql}) AS events", params
            )
            blog, key = (ints_from_text(text) for text in cursor.fetchone())
        blog, key, views = _counted_pairs(blog, key)
        return Cells(np.full(len(blog), span, dtype=np.int64), blog, key, views)
    rows = np.array(list(events.values_list("blog_id", "key").annotate(views=Count("id")).order_by()), dtype=np.int64)
    rows = rows.reshape(-1, 3)
    return Cells(np.full(len(rows), span, dtype=np.int64), rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy())


def _cells_by_day(coverage: Coverage) -> Cells:
    """One ``GROUP BY`` of local day, blog and country, each day then mapped to its span."""
    span_of_day: dict[date, int] = {}
    for start, end, span in coverage.raw:
        day = local_date(start)
        while local_midnight(day) < end:
            span_of_day[day] = span
            day += timedelta(days=1)
    grouped = (
        BlogView.objects.filter(raw_ranges_q(coverage))
        .annotate(day=TruncDate("timestamp", tzinfo=reporting_tz()), key=Coalesce("country_id", NO_COUNTRY))
        .values("day", "key", "blog_id")
        .annotate(views=Count("id"))
        .order_by()
    )
    if reading.vendor == "postgresql":
        try:
            compiled = grouped.query.sql_with_params()
        except EmptyResultSet:  # no blog kept: Django would answer this queryset without asking the database
            return empty_cells()
        return _cells_by_day_aggregated(compiled, span_of_day)
    rows = list(grouped.values_list("day", "blog_id", "key", "views"))
    # Dates, not datetimes: no timezone conversion per row, and one dictionary lookup each.
    spans = np.fromiter((span_of_day[row[0]] for row in rows), dtype=np.int64, count=len(rows))
    columns = np.fromiter((value for row in rows for value in row[1:]), dtype=np.int64, count=3 * len(rows))
    columns = columns.reshape(-1, 3)
    return Cells(spans, columns[:, 0], columns[:, 1], columns[:, 2])


_EPOCH = date(2000, 1, 1)


def _cells_by_day_aggregated(grouped: tuple[str, Any], span_of_day: dict[date, int]) -> Cells:
    """The same ``GROUP BY``, its rows concatenated by PostgreSQL into four strings that numpy parses: 20,000
    raw views of a day cost ~20 ms less than as Python tuples."""
    sql, params = grouped
    with reading.cursor() as cursor:
        cursor.execute(
            f"""SELECT string_agg((day - DATE '{_EPOCH.isoformat()}')::text, ','), string_agg(blog_id::text, ','),
                       string_agg(key::text, ','), string_agg(views::text, ',')
                FROM ({sql}) AS grouped""",
            params,
        )
        texts = cursor.fetchone()
    day, blog, key, views = (ints_from_text(text) for text in texts)
    first = min(span_of_day)
    span_of_offset = np.full((max(span_of_day) - first).days + 1, -1, dtype=np.int64)
    for day_of_span, span in span_of_day.items():
        span_of_offset[(day_of_span - first).days] = span
    spans = span_of_offset[day - (first - _EPOCH).days]
    return Cells(spans, blog, key, views)


def empty_cells() -> Cells:
    empty = np.zeros(0, dtype=np.int64)
    return Cells(empty, empty, empty, empty)


def _counted_pairs(blog: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each distinct (blog, key) of these events once, ascending, with how many events it holds: the two columns as
    one int64, sorted (0.6 ms for 20,000 events), or a two-key sort when they do not fit one."""
    if not len(blog):
        return blog, key, np.zeros(0, dtype=np.int64)
    dims = (int(key.max()) + 1, int(blog.max()) + 1)
    try:
        combined = np.sort(np.ravel_multi_index((key, blog), dims))
    except ValueError:  # more combinations than an int64 holds
        order = np.lexsort((blog, key))
        first = np.ones(len(blog), dtype=bool)
        first[1:] = (np.diff(key[order]) != 0) | (np.diff(blog[order]) != 0)
        starts = np.flatnonzero(first)
        cell = order[starts]
        return blog[cell], key[cell], np.diff(np.append(starts, len(blog))).astype(np.int64)
    first = np.ones(len(combined), dtype=bool)
    first[1:] = combined[1:] != combined[:-1]
    starts = np.flatnonzero(first)
    key, blog = (column.astype(np.int64) for column in np.unravel_index(combined[starts], dims))
    return blog, key, np.diff(np.append(starts, len(combined))).astype(np.int64)
