"""The fast path: every SPEC §5 answer from summary blocks, with raw events only where no block can speak.

A request's window is cut into whole local days (served by clean month, week and day blocks) and raw ranges
(partial-day edges, days changed since their fold, days not folded yet). Both become one stream of
``(span, blog id, country key, views)`` cells; the filters become a boolean blog × country mask evaluated
against the current Blog, User and Country rows; numpy then groups the masked cells. Every number is exact:
the answers equal ``reference``'s, which the differential tests check on random data. See docs/design.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import reduce
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from django.db.models.functions import Coalesce, Trunc

from analytics import sketches
from analytics.blockcodec import decode, decode_country_matrix, union_bits
from analytics.filters import AnalyticsQuery, Leaf, Node, NotNode, TreeField, ViewFilters, Window
from analytics.models import (
    Blog,
    BlogView,
    Country,
    DailyAnalyticsSummary,
    FoldState,
    PeriodAnalyticsSummary,
    ViewChange,
)
from analytics.periods import Granularity, local_date, local_midnight, next_period_start, reporting_tz
from analytics.selectors import reference
from analytics.selectors.predicates import BLOG_PATHS, leaf_q
from analytics.selectors.rows import Row
from analytics.services.folding import ALL_COUNTRIES, NO_COUNTRY, changed_days

logger = logging.getLogger(__name__)


class InconsistentSummaries(Exception):
    """A block names a blog or country that no longer exists: the invariant broke, so answer from raw events."""


# --- which blocks and raw ranges cover a request ---------------------------------------------------------------
@dataclass(frozen=True)
class FoldInfo:
    folded_through: date
    dirty_days: frozenset[date]

    def is_clean(self, day: date) -> bool:
        return day <= self.folded_through and day not in self.dirty_days


def fold_info() -> FoldInfo | None:
    state = FoldState.objects.first()
    if state is None or state.timezone != settings.TIME_ZONE:
        return None  # never folded, or cut in another timezone: the blocks cannot speak for these days
    buckets = ViewChange.objects.values_list("bucket", flat=True).distinct()
    return FoldInfo(state.folded_through, frozenset(changed_days(buckets)))


@dataclass
class Coverage:
    days: dict[date, int] = field(default_factory=dict)  # day block → span
    periods: dict[tuple[str, date], int] = field(default_factory=dict)  # (granularity, start) → span
    raw: list[tuple[datetime, datetime, int]] = field(default_factory=list)  # [start, end) → span

    def only(self, spans: set[int]) -> Coverage:
        return Coverage(
            {day: span for day, span in self.days.items() if span in spans},
            {key: span for key, span in self.periods.items() if span in spans},
            [piece for piece in self.raw if piece[2] in spans],
        )

    def single_block_spans(self) -> set[int]:
        """Spans served by exactly one block and nothing raw."""
        counts = Counter([*self.days.values(), *self.periods.values()])
        raw = {piece[2] for piece in self.raw}
        return {span for span, count in counts.items() if count == 1 and span not in raw}

    def whole_days(self) -> list[date]:
        """Every day the day and period blocks stand for."""
        days = list(self.days)
        for granularity, start in self.periods:
            following = next_period_start(start, Granularity(granularity))
            days.extend(start + timedelta(days=offset) for offset in range((following - start).days))
        return days

    def add_raw(self, start: datetime, end: datetime, span: int) -> None:
        if start >= end:
            return
        if self.raw and self.raw[-1][1] == start and self.raw[-1][2] == span:
            self.raw[-1] = (self.raw[-1][0], end, span)
        else:
            self.raw.append((start, end, span))


def _whole_period(
    day: date, last: date, granularity: Granularity, info: FoldInfo, available: set[tuple[str, date]]
) -> date | None:
    """The day after the period starting on ``day`` if its block can stand for days ``day``..``last``."""
    following = next_period_start(day, granularity)
    if (granularity.value, day) not in available or following - timedelta(days=1) > last:
        return None
    if any(day <= dirty < following for dirty in info.dirty_days):
        return None
    return following


def cover(spans: list[tuple[datetime, datetime]], info: FoldInfo, available: set[tuple[str, date]]) -> Coverage:
    """Greedy cover of each span [start, end): months, then weeks, then days; raw where blocks cannot serve."""
    coverage = Coverage()
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
            following = None
            if day.day == 1:
                following = _whole_period(day, last, Granularity.MONTH, info, available)
                if following is not None:
                    coverage.periods[(Granularity.MONTH.value, day)] = span
            if following is None and day.weekday() == 0:
                following = _whole_period(day, last, Granularity.WEEK, info, available)
                if following is not None:
                    coverage.periods[(Granularity.WEEK.value, day)] = span
            if following is None:
                following = day + timedelta(days=1)
                if info.is_clean(day):
                    coverage.days[day] = span
                else:
                    coverage.add_raw(local_midnight(day), local_midnight(following), span)
            day = following
        coverage.add_raw(local_midnight(end_day), end, span)
    return coverage


def _available_periods(spans: list[tuple[datetime, datetime]]) -> set[tuple[str, date]]:
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


def _block_rows(coverage: Coverage, country_keys: list[int] | None, *columns: str) -> Iterator[tuple[Any, ...]]:
    """(span, *columns) of every block row the coverage uses, for the wanted country keys (``None``: all real
    ones, no-country included; ``[ALL_COUNTRIES]``: the per-block totals)."""

    def keyed(rows: Any) -> Any:
        if country_keys is None:
            return rows.filter(country_key__gte=NO_COUNTRY)
        return rows.filter(country_key__in=country_keys)

    if coverage.days:
        days = keyed(DailyAnalyticsSummary.objects.filter(date__in=sorted(coverage.days)))
        for day, *values in days.values_list("date", *columns):
            yield coverage.days[day], *values
    if coverage.periods:
        wanted = reduce(lambda q, key: q | Q(granularity=key[0], start=key[1]), coverage.periods, Q(pk__in=[]))
        periods = keyed(PeriodAnalyticsSummary.objects.filter(wanted))
        for granularity, start, *values in periods.values_list("granularity", "start", *columns):
            yield coverage.periods[(granularity, start)], *values


def _cells(coverage: Coverage, country_keys: list[int] | None) -> Cells:
    """Every (span, blog, country, views) entry of the blocks and raw ranges."""
    rows = list(_block_rows(coverage, country_keys, "country_key", "blog_ids", "view_counts", "unique_blogs"))
    decoded = decode([(ids, counts, size) for _, _, ids, counts, size in rows])
    spans = np.array([row[0] for row in rows], dtype=np.int64)
    keys = np.array([row[1] for row in rows], dtype=np.int64)
    raw = _raw_cells(coverage)
    return Cells(
        span=np.concatenate([spans[decoded.row], raw.span]),
        blog=np.concatenate([decoded.blog, raw.blog]),
        country=np.concatenate([keys[decoded.row], raw.country]),
        views=np.concatenate([decoded.views, raw.views]),
        raw_count=len(raw.blog),
    )


def _raw_cells(coverage: Coverage) -> Cells:
    if not coverage.raw:
        empty = np.zeros(0, dtype=np.int64)
        return Cells(empty, empty, empty, empty)
    span_of_day: dict[date, int] = {}
    ranges = Q(pk__in=[])
    for start, end, span in coverage.raw:
        ranges |= Q(timestamp__gte=start, timestamp__lt=end)
        day = local_date(start)
        while local_midnight(day) < end:
            span_of_day[day] = span
            day += timedelta(days=1)
    rows = list(
        BlogView.objects.filter(ranges)
        .annotate(day=Trunc("timestamp", "day", tzinfo=reporting_tz()), key=Coalesce("country_id", NO_COUNTRY))
        .values("day", "key", "blog_id")
        .annotate(views=Count("id"))
        .order_by()
        .values_list("day", "blog_id", "key", "views")
    )
    spans = np.array([span_of_day[local_date(row[0])] for row in rows], dtype=np.int64)
    columns = np.array([row[1:] for row in rows], dtype=np.int64).reshape(-1, 3)
    return Cells(spans, columns[:, 0], columns[:, 1], columns[:, 2])


# --- the filter mask -----------------------------------------------------------------------------------------
@dataclass
class Catalogue:
    """The current blogs, authors and countries, with the filters of one request as a blog × country mask.

    Column 0 of the mask stands for "no country"; column i > 0 for ``country_ids[i - 1]``.
    """

    blog_ids: np.ndarray
    titles: list[str]
    author_index: np.ndarray
    usernames: list[str]
    country_ids: np.ndarray
    codes: list[str]
    mask: np.ndarray

    @property
    def ignores_country(self) -> bool:
        return bool((self.mask == self.mask[:, :1]).all())

    @property
    def ignores_blog(self) -> bool:
        return bool((self.mask == self.mask[:1, :]).all())

    def country_keys(self) -> list[int] | None:
        """The per-country rows the mask can keep (``None``: every country)."""
        allowed: np.ndarray = np.asarray(self.mask.any(axis=0))
        if allowed.all():
            return None
        keys = [NO_COUNTRY] if allowed[0] else []
        return keys + [int(key) for key in self.country_ids[allowed[1:]]]

    def blog_positions(self, blog_ids: np.ndarray) -> np.ndarray:
        return _positions(self.blog_ids, blog_ids)

    def country_columns(self, keys: np.ndarray) -> np.ndarray:
        columns = np.zeros(len(keys), dtype=np.int64)
        named = keys != NO_COUNTRY
        columns[named] = _positions(self.country_ids, keys[named]) + 1
        return columns


def _positions(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index of each id in ``sorted_ids``; a direct lookup table when ids are dense enough, else a binary search."""
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    top = int(sorted_ids[-1]) if len(sorted_ids) else -1
    if 0 <= top <= 8 * len(sorted_ids) + 1024:
        table = np.full(top + 2, -1, dtype=np.int64)
        table[sorted_ids] = np.arange(len(sorted_ids))
        positions = table[np.clip(ids, 0, top + 1)]
        if (positions < 0).any():
            raise InconsistentSummaries("a summary names an id that no longer exists")
        return positions
    positions = np.searchsorted(sorted_ids, ids)
    if positions.max(initial=0) >= len(sorted_ids) or (sorted_ids[positions] != ids).any():
        raise InconsistentSummaries("a summary names an id that no longer exists")
    return positions


def _blog_leaves(node: Node | None) -> list[Leaf]:
    if node is None:
        return []
    if isinstance(node, Leaf):
        return [node] if node.field is not TreeField.COUNTRY else []
    if isinstance(node, NotNode):
        return _blog_leaves(node.child)
    return [leaf for child in node.children for leaf in _blog_leaves(child)]


def catalogue(filters: ViewFilters) -> Catalogue:
    leaves = list(dict.fromkeys(_blog_leaves(filters.tree)))
    names = {leaf: f"leaf_{index}" for index, leaf in enumerate(leaves)}
    annotations = {names[leaf]: ExpressionWrapper(leaf_q(leaf, BLOG_PATHS), BooleanField()) for leaf in leaves}
    rows = list(
        Blog.objects.annotate(**annotations)
        .order_by("id")
        .values_list("id", "title", "author_id", "author__username", *names.values())
    )
    countries = list(Country.objects.order_by("id").values_list("id", "code"))

    author_ids = sorted({row[2] for row in rows})
    usernames_by_id = {row[2]: row[3] for row in rows}
    blog_ids = np.array([row[0] for row in rows], dtype=np.int64)
    country_ids = np.array([country[0] for country in countries], dtype=np.int64)
    codes = [country[1] for country in countries]
    leaf_values = {
        leaf: np.array([bool(row[4 + index]) for row in rows], dtype=bool) for index, leaf in enumerate(leaves)
    }

    def country_vector(predicate: Callable[[str], bool], no_country: bool) -> np.ndarray:
        return np.array([no_country, *(predicate(code) for code in codes)], dtype=bool)

    def evaluate(node: Node) -> np.ndarray:
        if isinstance(node, Leaf):
            if node.field is TreeField.COUNTRY:
                return country_vector(lambda code: code in node.values, False)[None, :]
            return leaf_values[node][:, None]
        if isinstance(node, NotNode):
            return ~evaluate(node.child)
        combine = np.logical_and if node.op == "and" else np.logical_or
        return reduce(combine, (evaluate(child) for child in node.children))

    mask = np.ones((len(rows), len(codes) + 1), dtype=bool)
    if filters.country_codes is not None:
        mask &= country_vector(lambda code: code in filters.country_codes, False)[None, :]  # type: ignore[operator]
    if filters.exclude_country_codes is not None:
        excluded = filters.exclude_country_codes
        mask &= country_vector(lambda code: code not in excluded, True)[None, :]
    if filters.author_username is not None:
        mask &= np.array([row[3] == filters.author_username for row in rows], dtype=bool)[:, None]
    if filters.blog_id is not None:
        mask &= (blog_ids == filters.blog_id)[:, None]
    if filters.tree is not None:
        mask &= evaluate(filters.tree)

    return Catalogue(
        blog_ids=blog_ids,
        titles=[row[1] for row in rows],
        author_index=np.searchsorted(np.array(author_ids, dtype=np.int64), [row[2] for row in rows]),
        usernames=[usernames_by_id[author_id] for author_id in author_ids],
        country_ids=country_ids,
        codes=codes,
        mask=mask,
    )


# --- answering -----------------------------------------------------------------------------------------------
@dataclass
class Matched:
    """The masked cells of a request, as positions into the catalogue."""

    span: np.ndarray
    blog: np.ndarray
    column: np.ndarray  # country column, or 0 when the cells were read per block total
    views: np.ndarray


def _coverage(spans: list[tuple[datetime, datetime]]) -> Coverage | None:
    info = fold_info()
    return None if info is None else cover(spans, info, _available_periods(spans))


def _matched(coverage: Coverage, book: Catalogue, *, per_country: bool) -> Matched:
    """Entries kept by the mask. Without ``per_country``, masks that ignore the country read block totals, and
    masks that drop a few countries read block totals minus those countries' columns."""
    if not per_country and not book.ignores_country and book.ignores_blog:
        dropped = np.flatnonzero(~book.mask[0])
        if 2 * len(dropped) < book.mask.shape[1]:
            return _matched_by_complement(coverage, book, dropped)
    per_country = per_country or not book.ignores_country
    cells = _cells(coverage, book.country_keys() if per_country else [ALL_COUNTRIES])
    blog = book.blog_positions(cells.blog)
    if per_country:
        column = book.country_columns(cells.country)
        keep = book.mask[blog, column]
    else:
        # Raw cells still carry their country; block totals carry ALL_COUNTRIES. Either way only the blog counts.
        column = np.zeros(len(blog), dtype=np.int64)
        keep = book.mask[blog, 0]
    return Matched(cells.span[keep], blog[keep], column[keep], cells.views[keep])


def _matched_by_complement(coverage: Coverage, book: Catalogue, dropped_columns: np.ndarray) -> Matched:
    """Block totals, plus the raw cells the mask keeps, minus the dropped countries' block columns: far fewer
    bytes than every kept country's column when only a few are dropped (``exclude_country_codes``). Views may
    be negative per entry; only their sums per (span, blog) mean anything."""
    keys = [NO_COUNTRY if column == 0 else int(book.country_ids[column - 1]) for column in dropped_columns]
    totals = _cells(coverage, [ALL_COUNTRIES])
    blocks_only = Coverage(coverage.days, coverage.periods, [])
    dropped = _cells(blocks_only, keys)
    raw_count = totals.raw_count
    blog = book.blog_positions(np.concatenate([totals.blog, dropped.blog]))
    column = np.zeros(len(blog), dtype=np.int64)
    keep = np.ones(len(blog), dtype=bool)
    # The raw cells sit at the end of ``totals`` and still carry their country: apply the mask to them.
    raw = slice(len(totals.blog) - raw_count, len(totals.blog))
    keep[raw] = book.mask[blog[raw], book.country_columns(totals.country[raw])]
    views = np.concatenate([totals.views, -dropped.views])
    span = np.concatenate([totals.span, dropped.span])
    return Matched(span[keep], blog[keep], column[keep], views[keep])


@dataclass
class CountrySets:
    """Per country column: its views, and which blog positions it saw (a column × blog boolean matrix)."""

    views: np.ndarray
    seen: np.ndarray


def _country_sets(coverage: Coverage, book: Catalogue) -> CountrySets:
    """For masks that ignore the blog: block totals and bitsets, no per-blog counts (a few hundred bytes a row)."""
    width = len(book.codes) + 1
    keys: list[np.ndarray] = []
    totals: list[np.ndarray] = []
    bits: list[bytes] = []
    wanted = book.country_keys()
    if wanted is not None and 4 * len(wanted) <= width:
        # A few countries: their own rows are fewer bytes than every block's whole country matrix.
        for _, key, total, blog_bits in _block_rows(coverage, wanted, "country_key", "total_views", "blog_bits"):
            keys.append(np.array([key], dtype=np.int64))
            totals.append(np.array([total], dtype=np.int64))
            bits.append(blog_bits)
    else:
        # One ALL row per block carries every country's views and bitset: a few dozen rows for a year.
        for _, matrix in _block_rows(coverage, [ALL_COUNTRIES], "country_matrix"):
            if not len(matrix):
                raise InconsistentSummaries("a block was folded before country matrices existed")
            block_keys, block_views, block_bits = decode_country_matrix(matrix)
            keys.append(block_keys)
            totals.append(block_views)
            bits.extend(block_bits)
    columns = book.country_columns(np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64))
    views = np.bincount(columns, weights=np.concatenate(totals) if totals else None, minlength=width).astype(np.int64)
    top_id = int(book.blog_ids[-1]) if len(book.blog_ids) else 0
    seen_ids = union_bits(bits, columns, width, top_id + 1)
    if seen_ids.shape[1] and (seen_ids.any(axis=0) & ~np.isin(np.arange(top_id + 1), book.blog_ids)).any():
        raise InconsistentSummaries("a summary names a blog that no longer exists")
    seen = seen_ids[:, book.blog_ids] if len(book.blog_ids) else np.zeros((width, 0), dtype=bool)

    raw = _raw_cells(coverage)
    raw_blog, raw_column = book.blog_positions(raw.blog), book.country_columns(raw.country)
    views += np.bincount(raw_column, weights=raw.views, minlength=width).astype(np.int64)
    seen[raw_column, raw_blog] = True
    allowed = book.mask[0]
    return CountrySets(np.where(allowed, views, 0), seen & allowed[:, None])


def _data_span(window: Window) -> tuple[datetime, datetime] | None:
    """The window with its open ends closed at the days of the first and last view (two index lookups)."""
    start, end = window.start, window.end
    if start is None or end is None:
        stamps = BlogView.objects.values_list("timestamp", flat=True)
        first, last = stamps.order_by("timestamp").first(), stamps.order_by("-timestamp").first()
        if first is None or last is None:
            return None
        start = start or local_midnight(local_date(first))
        end = end or local_midnight(local_date(last) + timedelta(days=1))
    return (start, end) if start < end else None


def _sorted_rows(rows: list[Row], limit: int | None, key: Callable[[Row], Any]) -> list[Row]:
    rows.sort(key=key)
    return rows if limit is None else rows[:limit]


def _per_country(book: Catalogue, coverage: Coverage) -> tuple[np.ndarray, np.ndarray]:
    """Views and distinct blogs per country column."""
    if book.ignores_blog:
        sets = _country_sets(coverage, book)
        return sets.views, sets.seen.sum(axis=1)
    matched = _matched(coverage, book, per_country=True)
    width = len(book.codes) + 1
    views = np.bincount(matched.column, weights=matched.views, minlength=width).astype(np.int64)
    seen = np.bincount(matched.blog * width + matched.column, minlength=len(book.blog_ids) * width) > 0
    return views, seen.reshape(len(book.blog_ids), width).sum(axis=0)


def _per_blog(book: Catalogue, matched: Matched) -> np.ndarray:
    return np.bincount(matched.blog, weights=matched.views, minlength=len(book.blog_ids)).astype(np.int64)


def _per_author(book: Catalogue, coverage: Coverage) -> tuple[np.ndarray, np.ndarray]:
    per_blog = _per_blog(book, _matched(coverage, book, per_country=False))
    width = len(book.usernames)
    views = np.bincount(book.author_index, weights=per_blog, minlength=width).astype(np.int64)
    blogs = np.bincount(book.author_index, weights=per_blog > 0, minlength=width).astype(np.int64)
    return views, blogs


def _per_blog_with_countries(book: Catalogue, coverage: Coverage) -> tuple[np.ndarray, np.ndarray]:
    """Views and distinct (named) countries per blog position."""
    width = len(book.codes) + 1
    if book.mask.all():
        # Unfiltered: views from the per-block totals, countries from the bitsets.
        views = _per_blog(book, _matched(coverage, book, per_country=False))
        return views, _country_sets(coverage, book).seen[1:].sum(axis=0)
    matched = _matched(coverage, book, per_country=True)
    seen = np.bincount(matched.blog * width + matched.column, minlength=len(book.blog_ids) * width) > 0
    return _per_blog(book, matched), seen.reshape(len(book.blog_ids), width)[:, 1:].sum(axis=1)


def _answer(
    query: AnalyticsQuery,
    build: Callable[[Catalogue, Coverage], list[Row]],
    fallback: Callable[[AnalyticsQuery], list[Row]],
) -> list[Row]:
    """Resolve the window and the catalogue in one snapshot, then ``build`` from the blocks; raw if unfolded."""
    if query.window.is_empty:
        return []
    with _snapshot():
        span = _data_span(query.window)
        if span is None:
            return []
        book = catalogue(query.filters)
        coverage = _coverage([span])
        if coverage is None:
            return fallback(query)
        try:
            return build(book, coverage)
        except InconsistentSummaries:
            logger.exception("summaries disagree with the catalogue; answering from raw events")
            return fallback(query)


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent snapshot for the several reads of an answer (REPEATABLE READ on PostgreSQL)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _approximate_per_country(book: Catalogue, coverage: Coverage) -> tuple[np.ndarray, np.ndarray] | None:
    """IDEEZA_USE_HLL: exact views from block totals, distinct blogs from the day sketches; ``None`` when the
    window is not whole clean days or the filters look at blogs (then the exact path answers)."""
    if not sketches.enabled() or coverage.raw or not book.ignores_blog or not coverage.days and not coverage.periods:
        return None
    width = len(book.codes) + 1
    keys = [NO_COUNTRY, *(int(key) for key in book.country_ids)]
    # Days with no views have no sketch to read (and need none).
    viewed_days = DailyAnalyticsSummary.objects.filter(
        country_key=ALL_COUNTRIES, date__in=coverage.whole_days(), total_views__gt=0
    ).values_list("date", flat=True)
    blogs_by_key = sketches.distinct_blogs(viewed_days, keys)
    if blogs_by_key is None:
        return None
    rows = list(_block_rows(coverage, book.country_keys(), "country_key", "total_views"))
    columns = book.country_columns(np.array([row[1] for row in rows], dtype=np.int64))
    views = np.bincount(columns, weights=[row[2] for row in rows], minlength=width).astype(np.int64)
    blogs = np.array([blogs_by_key[key] for key in keys], dtype=np.int64)
    allowed = book.mask[0]
    return np.where(allowed, views, 0), np.where(allowed, blogs, 0)


def _country_rows(book: Catalogue, coverage: Coverage, make: Callable[[str, int, int], Row]) -> list[Row]:
    views, blogs = _approximate_per_country(book, coverage) or _per_country(book, coverage)
    return [make(book.codes[c - 1], int(views[c]), int(blogs[c])) for c in range(1, len(views)) if views[c]]


def blog_views_by_country(query: AnalyticsQuery) -> list[Row]:
    def build(book: Catalogue, coverage: Coverage) -> list[Row]:
        rows = _country_rows(book, coverage, lambda code, views, blogs: Row(code, blogs, views))
        return _sorted_rows(rows, query.limit, lambda row: (-int(row.z or 0), row.x))

    return _answer(query, build, reference.blog_views_by_country)


def top_countries(query: AnalyticsQuery) -> list[Row]:
    def build(book: Catalogue, coverage: Coverage) -> list[Row]:
        rows = _country_rows(book, coverage, lambda code, views, blogs: Row(code, views, blogs))
        return _sorted_rows(rows, query.limit, lambda row: (-row.y, row.x))

    return _answer(query, build, reference.top_countries)


def blog_views_by_author(query: AnalyticsQuery) -> list[Row]:
    def build(book: Catalogue, coverage: Coverage) -> list[Row]:
        views, blogs = _per_author(book, coverage)
        rows = [Row(book.usernames[a], int(blogs[a]), int(views[a])) for a in np.flatnonzero(views)]
        return _sorted_rows(rows, query.limit, lambda row: (-int(row.z or 0), row.x))

    return _answer(query, build, reference.blog_views_by_author)


def top_authors(query: AnalyticsQuery) -> list[Row]:
    def build(book: Catalogue, coverage: Coverage) -> list[Row]:
        views, blogs = _per_author(book, coverage)
        rows = [Row(book.usernames[a], int(views[a]), int(blogs[a])) for a in np.flatnonzero(views)]
        return _sorted_rows(rows, query.limit, lambda row: (-row.y, row.x))

    return _answer(query, build, reference.top_authors)


def top_blogs(query: AnalyticsQuery) -> list[Row]:
    def build(book: Catalogue, coverage: Coverage) -> list[Row]:
        views, countries = _per_blog_with_countries(book, coverage)
        order = sorted(np.flatnonzero(views), key=lambda b: (-views[b], book.blog_ids[b]))
        if query.limit is not None:
            order = order[: query.limit]
        return [Row(book.titles[b], int(views[b]), int(countries[b])) for b in order]

    return _answer(query, build, reference.top_blogs)


def _per_span(coverage: Coverage, book: Catalogue, slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Views and distinct blogs of each span. Unfiltered, a span served by one block alone takes that block's
    stored totals; the other spans decode their entries."""
    views = np.zeros(slots, dtype=np.int64)
    blogs = np.zeros(slots, dtype=np.int64)
    rest = coverage
    if book.mask.all():
        single = coverage.single_block_spans()
        if single:
            rows = _block_rows(coverage.only(single), [ALL_COUNTRIES], "total_views", "unique_blogs")
            for span, total, unique in rows:
                views[span], blogs[span] = total, unique
            rest = coverage.only(set(range(slots)) - single)
    matched = _matched(rest, book, per_country=False)
    views += np.bincount(matched.span, weights=matched.views, minlength=slots).astype(np.int64)
    width = len(book.blog_ids)
    if width:
        seen = np.bincount(matched.span * width + matched.blog, weights=matched.views, minlength=slots * width) > 0
        blogs += seen.reshape(slots, width).sum(axis=1)
    return views, blogs


def performance(query: AnalyticsQuery, *, now: datetime, x_metric: str) -> list[Row]:
    with _snapshot():
        frame = reference.performance_frame(query, now=now)
        if frame is None:
            return []
        spans = [frame.period_range(-1)] + [frame.period_range(index) for index in range(len(frame.starts))]
        book = catalogue(query.filters)
        coverage = _coverage(spans)
        if coverage is None:
            return reference.performance(query, now=now, x_metric=x_metric)
        try:
            views, blogs = _per_span(coverage, book, len(spans))
        except InconsistentSummaries:
            logger.exception("summaries disagree with the catalogue; answering from raw events")
            return reference.performance(query, now=now, x_metric=x_metric)
        by_start = {start: int(views[index + 1]) for index, start in enumerate(frame.starts)}
        if x_metric == "created":
            blog_counts = reference.created_per_period(query, frame)
        else:
            blog_counts = {start: int(blogs[index + 1]) for index, start in enumerate(frame.starts)}
        return reference.performance_rows(frame, by_start, blog_counts, int(views[0]))
