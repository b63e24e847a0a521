"""The fast path: every SPEC §5 answer from summary blocks, with raw events only where no block can speak.

A request's window is cut into whole local days (served by clean month, week and day blocks) and raw ranges
(partial-day edges, days changed since their fold, days not folded yet). Both become one stream of
``(span, blog id, country key, views)`` cells; the filters become a boolean blog × country mask evaluated
against the current Blog, User and Country rows; numpy then groups the masked cells. Every number is exact:
the answers equal ``reference``'s, which the differential tests check on random data. See docs/design.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np

from analytics import sketches
from analytics.blockcodec import (
    ALL_COUNTRIES,
    NO_COUNTRY,
    bits_row,
    country_matrix_read,
    counts_decode,
    decode,
    decode_country_matrix,
    packed_bits,
    packed_set,
    union_packed,
)
from analytics.filters import AnalyticsQuery, Window
from analytics.models import (
    BlogView,
    DailyAnalyticsSummary,
)
from analytics.periods import local_date, local_midnight
from analytics.replicas import reading
from analytics.selectors import reference
from analytics.selectors.catalogue import Catalogue, InconsistentSummaries, Listing, catalogue
from analytics.selectors.coverage import (
    Cells,
    Coverage,
    FoldInfo,
    available_periods,
    block_rows,
    block_rows_named,
    cover,
    empty_cells,
    fold_info,
    raw_cells,
    read_cells,
    timeline_start,
)
from analytics.selectors.framing import performance_frame, performance_rows
from analytics.selectors.rows import NO_TOTALS, Row, Rows, Totals, first
from analytics.transactions import repeatable_read

logger = logging.getLogger(__name__)

Answer = TypeVar("Answer")


# --- answering -----------------------------------------------------------------------------------------------
@dataclass
class Matched:
    """The masked cells of a request, as positions into the catalogue."""

    span: np.ndarray
    blog: np.ndarray
    column: np.ndarray  # country column, or 0 when the cells were read per block total
    views: np.ndarray


# A mask that keeps at most RAW_BLOGS_MAX blogs, with at most RAW_VIEWS_MAX views among them in the spans, reads
# those blogs' raw events through the (blog, timestamp) index rather than whole blocks: the cost then follows
# the views the answer counts (one author's posts), not every blog a block holds. Measured in docs/design.md.
RAW_BLOGS_MAX = 200
RAW_VIEWS_MAX = 20_000
# A mask that keeps at most this share of the blogs reads its clean days of the last 364 from those blogs' timelines
# (one row per blog) instead of blocks that hold every blog. Measured in docs/design.md ("Blog timelines").
TIMELINE_BLOGS_SHARE = 0.05
# Answers that would otherwise read one ALL row per block (grouped by author) read timelines for this many blogs.
TIMELINE_FEW_BLOGS = 200
# Spans that start at most this many days before the timelines' window read them without the raw probe: the days
# before it are a week's block and a few day blocks. That is performance over ``range=year`` by week, whose first
# week starts before the window and whose growth looks one week further back (one blog: 7.3 → 5.3 ms, docs/design.md).
TIMELINE_LEAD_DAYS = 14


def _coverage(spans: list[tuple[datetime, datetime]], book: Catalogue, *, narrow: bool = True) -> Coverage | None:
    info = fold_info()
    if info is None:
        return None
    if book.mask.pairs is not None:
        split = _split_coverage(spans, book, info)
        if split is not None:
            return split
    kept = book.mask.kept_blogs()
    if kept is None:
        return cover(spans, info, available_periods(spans))
    ids = book.listing.blog_ids[kept]
    few = len(kept) <= RAW_BLOGS_MAX
    # Without ``narrow`` (by author, a mask that ignores the country) one ALL row per block is cheaper than the
    # timelines of more than a few blogs (an author's 901: 15-18 ms against 23-25), not than one blog's row.
    shared = len(kept) <= TIMELINE_BLOGS_SHARE * len(book.listing.blog_ids)
    timelines_from = timeline_start() if shared and (narrow or len(kept) <= TIMELINE_FEW_BLOGS) else None
    earliest, latest = min(start for start, _ in spans), max(end for _, end in spans)
    # Inside the timelines' window a few blogs read their timeline rows: the raw probe would cost as much as that
    # read for a blog with 20,000 views (the most viewed blog has 675,000 a year at the platform set).
    lead = timedelta(days=TIMELINE_LEAD_DAYS)
    if few and (timelines_from is None or earliest < local_midnight(timelines_from - lead)):
        if _few_views(ids, earliest, latest):
            return Coverage(raw=[(start, end, span) for span, (start, end) in enumerate(spans)], blogs=ids)
    if timelines_from is not None:
        return cover(spans, info, available_periods(spans), blogs=ids, timeline_start=timelines_from)
    return cover(spans, info, available_periods(spans))


def _split_coverage(spans: list[tuple[datetime, datetime]], book: Catalogue, info: FoldInfo) -> Coverage | None:
    """A mask that ties blogs to countries, such as ``or(country GB, title ~ "typescript")``: the countries it
    keeps whole (GB) are read from the blocks' rows of those countries, and every other country from the
    timelines of the few blogs it keeps there (the typescript posts). The two parts share no cell."""
    listing, whole, rest = book.listing, book.mask.whole_columns, book.mask.blogs_elsewhere
    assert whole is not None and rest is not None
    if len(rest) > TIMELINE_BLOGS_SHARE * len(listing.blog_ids):
        return None
    start = timeline_start()
    if start is None:
        return None
    available = available_periods(spans)
    whole_keys = [listing.column_key(int(column)) for column in np.flatnonzero(whole)]
    rest_keys = [listing.column_key(int(column)) for column in np.flatnonzero(~whole)]
    by_blogs = cover(spans, info, available, blogs=listing.blog_ids[rest], timeline_start=start)
    return cover(spans, info, available).split_by(whole_keys, by_blogs, rest_keys)


def _few_views(blog_ids: np.ndarray, start: datetime, end: datetime) -> bool:
    """Whether these blogs surely have at most RAW_VIEWS_MAX views in [start, end), reading at most about that
    many index entries: each blog's range stops after its share of the budget, and a blog that fills its share
    means "maybe more" (the blocks then answer, which is never wrong). On PostgreSQL one index range per blog:
    a plain ``LIMIT`` over all of them lets the planner pick a sequential scan."""
    if not len(blog_ids):
        return True
    share = RAW_VIEWS_MAX // len(blog_ids) + 1
    chosen: list[int] = blog_ids.tolist()
    if reading.vendor != "postgresql":
        views = BlogView.objects.filter(blog_id__in=chosen, timestamp__gte=start, timestamp__lt=end)
        return views[: RAW_VIEWS_MAX + 1].count() <= RAW_VIEWS_MAX
    table = reading.ops.quote_name(BlogView._meta.db_table)
    with reading.cursor() as cursor:
        cursor.execute(
            f"""SELECT coalesce(max(found), 0) FROM unnest(%s::bigint[]) AS chosen(id), LATERAL (
                    SELECT count(*) AS found FROM (
                        SELECT 1 FROM {table} AS viewed
                        WHERE viewed.blog_id = chosen.id AND viewed.timestamp >= %s AND viewed.timestamp < %s
                        LIMIT %s
                    ) AS hits
                ) AS counted""",
            [chosen, start, end, share],
        )
        (fullest,) = cursor.fetchone()
    return int(fullest) < share


def _matched(coverage: Coverage, book: Catalogue, *, per_country: bool) -> Matched:
    """Entries kept by the mask. Without ``per_country``, masks that ignore the country read block totals, and
    masks that drop a few countries read block totals minus those countries' columns."""
    listing, mask = book.listing, book.mask
    if not per_country and not mask.ignores_country and mask.ignores_blog:
        dropped = np.flatnonzero(~mask.column_vector(listing.width))
        if 2 * len(dropped) < listing.width:
            return _matched_by_complement(coverage, book, dropped)
    if not per_country and mask.union_of_products is not None and not coverage.timeline:
        # (A coverage that reads some days from timelines has no blocks for them: the general path reads it.)
        return _matched_union(coverage, book, *mask.union_of_products)
    per_country = per_country or not mask.ignores_country
    cells = read_cells(coverage, book.country_keys() if per_country else [ALL_COUNTRIES])
    blog = listing.blog_positions(cells.blog)
    if per_country:
        column = listing.country_columns(cells.country)
        keep = mask.keeps(blog, column)
    else:
        # Raw cells still carry their country; block totals carry ALL_COUNTRIES. Either way only the blog counts.
        column = np.zeros(len(blog), dtype=np.int64)
        keep = mask.keeps_blogs(blog)
    return Matched(cells.span[keep], blog[keep], column[keep], cells.views[keep])


def _matched_by_complement(coverage: Coverage, book: Catalogue, dropped_columns: np.ndarray) -> Matched:
    """Block totals, plus the raw cells the mask keeps, minus the dropped countries' block columns: far fewer
    bytes than every kept country's column when only a few are dropped (``exclude_country_codes``). Views may
    be negative per entry; only their sums per (span, blog) mean anything."""
    listing = book.listing
    keys = [listing.column_key(int(column)) for column in dropped_columns]
    totals = read_cells(coverage, [ALL_COUNTRIES])
    blocks_only = coverage.blocks_only()
    dropped = read_cells(blocks_only, keys)
    blog = listing.blog_positions(np.concatenate([totals.blog, dropped.blog]))
    column = np.zeros(len(blog), dtype=np.int64)
    keep = np.ones(len(blog), dtype=bool)
    # The raw cells sit at the end of ``totals`` and still carry their country: apply the mask to them.
    raw = slice(len(totals.blog) - totals.raw_count, len(totals.blog))
    keep[raw] = book.mask.keeps(blog[raw], listing.country_columns(totals.country[raw]))
    views = np.concatenate([totals.views, -dropped.views])
    span = np.concatenate([totals.span, dropped.span])
    return Matched(span[keep], blog[keep], column[keep], views[keep])


def _matched_union(coverage: Coverage, book: Catalogue, blogs: np.ndarray, columns: np.ndarray) -> Matched:
    """A mask that is "these blogs in any country, or any blog in these countries": the blocks' totals of the
    kept blogs, and those countries' block columns for every other blog (the two share no cell), plus the raw
    cells the mask keeps. Views per (span, blog) are exact; the country is dropped (``column`` 0), so only answers
    that do not group by country ask for this. It reads one ALL row and a few country rows per block, whatever
    the number of blogs kept, where the per-country read decodes every country of every block."""
    listing = book.listing
    blocks = coverage.blocks_only()
    totals = read_cells(blocks, [ALL_COUNTRIES])
    keys = [listing.column_key(int(column)) for column in np.flatnonzero(columns)]
    rows = read_cells(blocks, keys) if keys else empty_cells()
    raw = raw_cells(coverage.unblocked())  # every blog's raw events and logged insertions, masked below
    total_blog, row_blog, raw_blog = (listing.blog_positions(cells.blog) for cells in (totals, rows, raw))
    keep_total, keep_row = blogs[total_blog], ~blogs[row_blog]
    keep_raw = book.mask.keeps(raw_blog, listing.country_columns(raw.country))
    blog = np.concatenate([total_blog[keep_total], row_blog[keep_row], raw_blog[keep_raw]])
    span = np.concatenate([totals.span[keep_total], rows.span[keep_row], raw.span[keep_raw]])
    views = np.concatenate([totals.views[keep_total], rows.views[keep_row], raw.views[keep_raw]])
    return Matched(span, blog, np.zeros(len(blog), dtype=np.int64), views)


@dataclass
class CountrySets:
    """Per country column: its views, and the blogs it saw as a little-endian bitset over blog ids (a column ×
    bytes matrix); columns the mask drops hold no views and no bits. Counting never unpacks the bits."""

    views: np.ndarray
    bits: np.ndarray

    def blogs_per_column(self) -> np.ndarray:
        return np.bitwise_count(self.bits).sum(axis=1).astype(np.int64)

    def named_columns_of(self, blog_ids: np.ndarray) -> np.ndarray:
        """How many named countries (columns 1..) saw each of these blogs: a few bits read per blog."""
        if not len(blog_ids):
            return np.zeros(0, dtype=np.int64)
        picked = (self.bits[1:, blog_ids >> 3] >> (blog_ids & 7).astype(np.uint8)) & 1
        return picked.sum(axis=0).astype(np.int64)

    def seen_ids(self, width_bits: int) -> np.ndarray:
        """Over blog ids 0..width_bits - 1: did any kept column see it?"""
        merged = np.bitwise_or.reduce(self.bits, axis=0) if len(self.bits) else np.zeros(0, dtype=np.uint8)
        return np.unpackbits(merged, count=width_bits, bitorder="little").astype(bool)


def _country_sets(coverage: Coverage, listing: Listing, kept_columns: np.ndarray) -> CountrySets:
    """For masks that ignore the blog (keeping ``kept_columns``): block totals and bitsets, no per-blog counts (a
    few hundred bytes a row)."""
    wanted = [listing.column_key(int(column)) for column in np.flatnonzero(kept_columns)]
    if len(wanted) < len(kept_columns) and 4 * len(wanted) <= listing.width:
        # A few countries: their own rows are fewer bytes than every block's whole country matrix.
        rows = list(block_rows(coverage, wanted, "country_key", "total_views", "blog_bits"))
        keys = np.array([row[1] for row in rows], dtype=np.int64)
        totals = np.array([row[2] for row in rows], dtype=np.int64)
        bits = [bits_row(row[3]) for row in rows]
        return _merged_country_sets(listing, kept_columns, keys, totals, bits, keys, raw_cells(coverage))
    # One ALL row per block carries every country's views and bitset: a few dozen rows for a year.
    matrices = [matrix for _, matrix in block_rows(coverage, [ALL_COUNTRIES], "country_matrix")]
    return _matrix_country_sets(listing, kept_columns, matrices, raw_cells(coverage))


def _matrix_country_sets(listing: Listing, kept_columns: np.ndarray, matrices: list[bytes], raw: Cells) -> CountrySets:
    """``_merged_country_sets`` of the blocks' country matrices (their ALL rows' ``country_matrix``). A sparse set
    (stored as a roaring bitmap: an hour's or a day's small country) joins as its ids, not as a bitset row as wide
    as the largest blog id."""
    if any(not len(matrix) for matrix in matrices):
        raise InconsistentSummaries("a block was folded before country matrices existed")
    keys, totals, bits, bit_keys, id_keys, ids = [], [], [], [], [], []
    for matrix in map(country_matrix_read, matrices):
        keys.append(matrix.keys)
        totals.append(matrix.views)
        for row, packed in matrix.dense.items():
            bits.append(packed.reshape(1, -1))
            bit_keys.append(int(matrix.keys[row]))
        for row, row_ids in matrix.sparse.items():
            ids.append(row_ids)
            id_keys.append(np.full(len(row_ids), matrix.keys[row], dtype=np.int64))
    empty = np.zeros(0, dtype=np.int64)
    sparse = Cells(empty, np.concatenate(ids) if ids else empty, np.concatenate(id_keys) if ids else empty, empty)
    return _merged_country_sets(
        listing,
        kept_columns,
        np.concatenate(keys) if keys else empty,
        np.concatenate(totals) if totals else empty,
        bits,
        np.array(bit_keys, dtype=np.int64),
        raw,
        sparse,
    )


def _packed_blog_sets(
    listing: Listing,
    bitsets: list[np.ndarray],
    groups: np.ndarray,
    group_count: int,
    raw_groups: np.ndarray,
    raw_blogs: np.ndarray,
) -> np.ndarray:
    """OR the blocks' blog bitsets by group and set the raw cells' blogs: a group × bytes matrix of bitsets over
    blog ids. Raises ``InconsistentSummaries`` when a bit names a blog the listing does not hold."""
    top_id = int(listing.blog_ids[-1]) if len(listing.blog_ids) else 0
    seen = union_packed(bitsets, groups, group_count, top_id + 1)
    existing = packed_bits(listing.blog_ids, seen.shape[1])
    beyond = any(bits[:, seen.shape[1] :].any() for bits in bitsets)
    if beyond or (np.bitwise_or.reduce(seen, axis=0) & ~existing).any():
        raise InconsistentSummaries("a summary names a blog that no longer exists")
    listing.blog_positions(raw_blogs)  # raises for a blog that no longer exists
    np.bitwise_or.at(seen, (raw_groups, raw_blogs >> 3), (1 << (raw_blogs & 7)).astype(np.uint8))
    return seen


def _merged_country_sets(
    listing: Listing,
    kept_columns: np.ndarray,
    keys: np.ndarray,
    totals: np.ndarray,
    bits: list[np.ndarray],
    bit_keys: np.ndarray,
    raw: Cells,
    sparse: Cells | None = None,
) -> CountrySets:
    """Per country column: block views plus raw views, and the union of the block bitsets (one row per entry of
    ``bit_keys``), the ``sparse`` sets' ids and the raw cells' blogs, masked."""
    width = listing.width
    views = np.bincount(listing.country_columns(keys), weights=totals, minlength=width).astype(np.int64)
    raw_column = listing.country_columns(raw.country)
    views += np.bincount(raw_column, weights=raw.views, minlength=width).astype(np.int64)
    ids_column, ids = raw_column, raw.blog
    if sparse is not None and len(sparse.blog):
        ids_column = np.concatenate([raw_column, listing.country_columns(sparse.country)])
        ids = np.concatenate([raw.blog, sparse.blog])
    seen = _packed_blog_sets(listing, bits, listing.country_columns(bit_keys), width, ids_column, ids)
    seen[~kept_columns] = 0
    return CountrySets(np.where(kept_columns, views, 0), seen)


def _split_parts(coverage: Coverage, book: Catalogue) -> tuple[Coverage, np.ndarray, Matched] | None:
    """For a split coverage (``or(country GB, title ~ "typescript")``; ``_split_coverage``): the coverage of the
    countries the mask keeps for every blog, those columns, and the masked cells of the few blogs it keeps in the
    other countries (their timelines, mostly). The two parts share no cell. ``None`` for any other coverage."""
    rest, whole_columns = coverage.rest, book.mask.whole_columns
    if rest is None or rest.keys is None or whole_columns is None:
        return None
    listing = book.listing
    cells = read_cells(replace(rest, keys=None), rest.keys)
    blog, column = listing.blog_positions(cells.blog), listing.country_columns(cells.country)
    keep = np.isin(cells.country, rest.keys) & book.mask.keeps(blog, column)
    elsewhere = Matched(cells.span[keep], blog[keep], column[keep], cells.views[keep])
    return replace(coverage, keys=None, rest=None), whole_columns, elsewhere


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


def _sorted_rows(rows: list[Row], limit: int | None, key: Callable[[Row], Any]) -> Rows:
    rows.sort(key=key)
    return first(rows, limit)


def _per_country(book: Catalogue, coverage: Coverage) -> tuple[np.ndarray, np.ndarray]:
    """Views and distinct blogs per country column."""
    listing = book.listing
    if book.mask.ignores_blog:
        sets = _country_sets(coverage, listing, book.mask.column_vector(listing.width))
        return sets.views, sets.blogs_per_column()
    split = _split_parts(coverage, book)
    if split is not None:
        # The whole countries from their stored totals and blog sets; the other columns from the few blogs' cells.
        whole, whole_columns, elsewhere = split
        sets = _country_sets(whole, listing, whole_columns)
        views = sets.views + np.bincount(elsewhere.column, weights=elsewhere.views, minlength=listing.width)
        blogs = sets.blogs_per_column() + distinct_counts(
            elsewhere.column, elsewhere.blog, listing.width, len(listing.blog_ids)
        )
        return views.astype(np.int64), blogs
    matched = _matched(coverage, book, per_country=True)
    views = np.bincount(matched.column, weights=matched.views, minlength=book.listing.width).astype(np.int64)
    return views, distinct_counts(matched.column, matched.blog, book.listing.width, len(book.listing.blog_ids))


def distinct_counts(
    groups: np.ndarray, members: np.ndarray, group_count: int, member_count: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Per group, how many distinct members it has (with ``weights``: whose weights sum to more than 0).

    Dense (a group × member table of booleans) when that table is at most 32 bytes per entry, else by sorting the
    entries: the cost follows the entries, never blogs × countries or periods × blogs alone. (Sorting, not
    ``np.unique``: numpy 2.3's hashing unique took 145 ms for 250,000 keys that a sort orders in 12.)
    """
    keys = groups * member_count + members
    cells = group_count * member_count
    if weights is None and cells <= 32 * len(keys) + 65_536:
        seen = np.zeros(cells, dtype=bool)
        seen[keys] = True
        return np.asarray(seen.reshape(group_count, member_count).sum(axis=1), dtype=np.int64)
    if weights is not None and cells <= 4 * len(keys) + 65_536:  # a float table: 8 bytes a cell
        seen = np.bincount(keys, weights=weights, minlength=cells) > 0
        return np.asarray(seen.reshape(group_count, member_count).sum(axis=1), dtype=np.int64)
    order = np.argsort(keys, kind="stable") if weights is not None else None
    ordered = keys[order] if order is not None else np.sort(keys)
    if not len(ordered):
        return np.zeros(group_count, dtype=np.int64)
    firsts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    present = ordered[firsts]
    if weights is not None and order is not None:
        present = present[np.add.reduceat(weights[order], firsts) > 0]
    return np.bincount(present // member_count, minlength=group_count).astype(np.int64)


def _per_blog(book: Catalogue, matched: Matched) -> np.ndarray:
    return np.bincount(matched.blog, weights=matched.views, minlength=len(book.listing.blog_ids)).astype(np.int64)


def _per_author(book: Catalogue, coverage: Coverage) -> tuple[np.ndarray, np.ndarray]:
    per_blog = _per_blog(book, _matched(coverage, book, per_country=False))
    listing = book.listing
    width = len(listing.author_ids)
    views = np.bincount(listing.author_index, weights=per_blog, minlength=width).astype(np.int64)
    blogs = np.bincount(listing.author_index, weights=per_blog > 0, minlength=width).astype(np.int64)
    return views, blogs


def _per_blog_with_countries(
    book: Catalogue, coverage: Coverage
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Views per blog position, and a function giving the distinct (named) countries of some blog positions:
    top blogs asks it only for the rows it returns."""
    listing, mask = book.listing, book.mask
    allowed = mask.column_vector(listing.width)
    dropped = np.flatnonzero(~allowed)
    if mask.ignores_blog and 2 * len(dropped) < listing.width:
        # Unfiltered, or a few countries dropped: one read of the ALL rows gives views per blog (their entries,
        # minus the dropped countries' entries) and countries per blog (their country matrices, masked); the raw
        # ranges are read once for both.
        columns = ("blog_ids", "view_counts", "unique_blogs", "country_matrix")
        rows = list(block_rows(coverage, [ALL_COUNTRIES], *columns))
        raw = raw_cells(coverage)
        decoded = decode([(ids, counts, size) for _, ids, counts, size, _ in rows])
        kept_raw = allowed[listing.country_columns(raw.country)]
        blogs, views = [decoded.blog, raw.blog[kept_raw]], [decoded.views, raw.views[kept_raw]]
        if len(dropped):
            blocks_only = coverage.blocks_only()
            removed = read_cells(blocks_only, [listing.column_key(int(column)) for column in dropped])
            blogs.append(removed.blog)
            views.append(-removed.views)
        blog = listing.blog_positions(np.concatenate(blogs))
        per_blog = np.bincount(blog, weights=np.concatenate(views), minlength=len(listing.blog_ids)).astype(np.int64)
        sets = _matrix_country_sets(listing, allowed, [row[4] for row in rows], raw)
        return per_blog, lambda positions: sets.named_columns_of(listing.blog_ids[positions])
    matched = _matched(coverage, book, per_country=True)
    named = matched.column > 0
    countries = distinct_counts(matched.blog[named], matched.column[named], len(listing.blog_ids), listing.width)
    return _per_blog(book, matched), lambda positions: countries[positions]


def _answer(
    query: AnalyticsQuery,
    build: Callable[[Catalogue, Coverage], Answer],
    fallback: Callable[[AnalyticsQuery], Answer],
    empty: Callable[[], Answer] = list,  # type: ignore[assignment]
    *,
    by_country: bool = True,
) -> Answer:
    """Resolve the window and the catalogue in one snapshot, then ``build`` from the blocks; raw if unfolded.
    ``empty()`` is the answer when no view can match. Without ``by_country`` (answers grouped by author) a mask
    that ignores the country reads the blocks' totals, cheap enough that the narrowed read is not tried."""
    if query.window.is_empty:
        return empty()
    with repeatable_read(read_only=True):
        span = _data_span(query.window)
        if span is None:
            return empty()
        book = catalogue(query.filters)
        coverage = _coverage([span], book, narrow=by_country or not book.mask.ignores_country)
        if coverage is None:
            return fallback(query)
        try:
            return build(book, coverage)
        except InconsistentSummaries:
            logger.exception("summaries disagree with the catalogue; answering from raw events")
            return fallback(query)


def _approximate_per_country(book: Catalogue, coverage: Coverage) -> tuple[np.ndarray, np.ndarray] | None:
    """IDEEZA_USE_HLL: exact views from block totals, distinct blogs from the day sketches; ``None`` when the
    window is not whole clean days or the filters look at blogs (then the exact path answers)."""
    listing = book.listing
    if not sketches.enabled() or coverage.raw or coverage.logged or coverage.hours or not book.mask.ignores_blog:
        return None
    if not coverage.days and not coverage.periods:
        return None
    width = listing.width
    keys = [NO_COUNTRY, *(int(key) for key in listing.country_ids)]
    # Days with no views have no sketch to read (and need none).
    viewed_days = DailyAnalyticsSummary.objects.filter(
        country_key=ALL_COUNTRIES, date__in=coverage.whole_days(), total_views__gt=0
    ).values_list("date", flat=True)
    blogs_by_key = sketches.distinct_blogs(viewed_days, keys)
    if blogs_by_key is None:
        return None
    rows = list(block_rows(coverage, book.country_keys(), "country_key", "total_views"))
    columns = listing.country_columns(np.array([row[1] for row in rows], dtype=np.int64))
    views = np.bincount(columns, weights=[row[2] for row in rows], minlength=width).astype(np.int64)
    blogs = np.array([blogs_by_key[key] for key in keys], dtype=np.int64)
    allowed = book.mask.column_vector(width)
    return np.where(allowed, views, 0), np.where(allowed, blogs, 0)


def _country_rows(book: Catalogue, coverage: Coverage, make: Callable[[str, int, int], Row]) -> list[Row]:
    views, blogs = _approximate_per_country(book, coverage) or _per_country(book, coverage)
    codes = book.listing.codes
    return [make(codes[c - 1], int(views[c]), int(blogs[c])) for c in range(1, len(views)) if views[c]]


def blog_views_by_country(query: AnalyticsQuery) -> list[Row]:
    def build(book: Catalogue, coverage: Coverage) -> list[Row]:
        rows = _country_rows(book, coverage, lambda code, views, blogs: Row(code, blogs, views, code))
        return _sorted_rows(rows, query.limit, lambda row: (-int(row.z or 0), row.x))

    return _answer(query, build, reference.blog_views_by_country)


def top_countries(query: AnalyticsQuery) -> list[Row]:
    def build(book: Catalogue, coverage: Coverage) -> list[Row]:
        rows = _country_rows(book, coverage, lambda code, views, blogs: Row(code, views, blogs, code))
        return _sorted_rows(rows, query.limit, lambda row: (-row.y, row.x))

    return _answer(query, build, reference.top_countries)


def _author_order(book: Catalogue, views: np.ndarray, limit: int | None) -> tuple[np.ndarray, list[str], int]:
    """The positions and usernames of the authors with views, most views first, then username in code-point order
    (SPEC §5), sorted by numpy: 10,000 authors in about a millisecond rather than a Python sort's 35; and how many
    authors had views."""
    shown = np.flatnonzero(views)
    if limit is not None and len(shown) > limit:
        # Only the usernames that can make the cut: every author with at least the limit-th most views.
        threshold = np.partition(views[shown], len(shown) - limit)[len(shown) - limit]
        candidates = shown[views[shown] >= threshold]
    else:
        candidates = shown
    total, shown = len(shown), candidates
    names = book.listing.usernames(shown)
    if "\x00" in "".join(names):  # numpy's fixed-width strings drop trailing NULs: sort in Python
        order = np.array(sorted(range(len(names)), key=lambda i: (-views[shown[i]], names[i])), dtype=np.int64)
    elif names:
        order = np.lexsort((np.array(names, dtype=str), -views[shown]))
    else:
        order = np.zeros(0, dtype=np.int64)
    if limit is not None:
        order = order[:limit]
    return shown[order], [names[index] for index in order.tolist()], total


def _author_rows(names: list[str], y: np.ndarray, z: np.ndarray, total: int) -> Rows:
    """One row per author: ``map`` over Python ints, no per-row indexing (5,600 rows of a day: ≈ 2 ms less)."""
    return Rows(list(map(Row, names, y.tolist(), z.tolist(), names)), total)


def blog_views_by_author(query: AnalyticsQuery) -> list[Row]:
    def build(book: Catalogue, coverage: Coverage) -> list[Row]:
        views, blogs = _per_author(book, coverage)
        shown, names, total = _author_order(book, views, query.limit)
        return _author_rows(names, blogs[shown], views[shown], total)

    return _answer(query, build, reference.blog_views_by_author, by_country=False)


def top_authors(query: AnalyticsQuery) -> list[Row]:
    def build(book: Catalogue, coverage: Coverage) -> list[Row]:
        views, blogs = _per_author(book, coverage)
        shown, names, total = _author_order(book, views, query.limit)
        return _author_rows(names, views[shown], blogs[shown], total)

    return _answer(query, build, reference.top_authors, by_country=False)


def top_blogs(query: AnalyticsQuery) -> list[Row]:
    def build(book: Catalogue, coverage: Coverage) -> list[Row]:
        views, countries_of = _per_blog_with_countries(book, coverage)
        viewed = np.flatnonzero(views)
        # Positions ascend with blog ids, so a stable sort by views alone breaks ties by blog id (SPEC §5).
        order = viewed[np.argsort(-views[viewed], kind="stable")]
        if query.limit is not None:
            order = order[: query.limit]
        ids, titles, countries = book.listing.blog_ids, book.listing.titles(order), countries_of(order)
        rows = [
            Row(title, int(views[b]), int(countries[i]), int(ids[b]))
            for i, (b, title) in enumerate(zip(order, titles, strict=True))
        ]
        return Rows(rows, total=len(viewed))

    return _answer(query, build, reference.top_blogs)


def _totals(book: Catalogue, coverage: Coverage) -> Totals:
    """One read: the country sets when the mask ignores the blog, else the masked per-country cells."""
    listing = book.listing
    ids = listing.blog_ids
    split = _split_parts(coverage, book)
    if book.mask.ignores_blog or split is not None:
        # The countries kept whole from their sets; a split coverage adds the few blogs' cells elsewhere.
        whole, kept_columns, elsewhere = split or (coverage, book.mask.column_vector(listing.width), None)
        sets = _country_sets(whole, listing, kept_columns)
        seen = sets.seen_ids(int(ids[-1]) + 1 if len(ids) else 0)[ids]
        per_column = sets.views.copy()
        if elsewhere is not None:
            seen[elsewhere.blog] = True
            per_column += np.bincount(elsewhere.column, weights=elsewhere.views, minlength=listing.width).astype(
                np.int64
            )
        views, countries = int(per_column.sum()), int(np.count_nonzero(per_column[1:]))
    else:
        matched = _matched(coverage, book, per_country=True)
        seen = _per_blog(book, matched) > 0
        per_column = np.bincount(matched.column, weights=matched.views, minlength=book.listing.width)
        views, countries = int(matched.views.sum()), int(np.count_nonzero(per_column[1:]))
    authors = int(np.count_nonzero(np.bincount(book.listing.author_index[seen])))
    return Totals(views=views, blogs=int(seen.sum()), authors=authors, countries=countries)


def totals(query: AnalyticsQuery) -> Totals:
    return _answer(query, _totals, reference.totals, empty=lambda: NO_TOTALS)


def _per_span(coverage: Coverage, book: Catalogue, slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Views and distinct blogs of each span. Unfiltered, a span served by one block alone takes that block's
    stored totals; the other spans decode their entries."""
    listing, mask = book.listing, book.mask
    if mask.ignores_blog and book.country_keys() is not None:
        kept_columns = mask.column_vector(listing.width)
        dropping = 2 * np.count_nonzero(~kept_columns) < listing.width
        return (dropping and _per_span_dropping(coverage, listing, slots, kept_columns)) or _per_span_of_countries(
            coverage, listing, slots, kept_columns
        )
    split = _split_parts(coverage, book)
    if split is not None:
        # The countries kept whole count as a mask of countries does; the few blogs elsewhere add their cells.
        whole, whole_columns, elsewhere = split
        return _per_span_of_countries(whole, listing, slots, whole_columns, elsewhere)
    views = np.zeros(slots, dtype=np.int64)
    blogs = np.zeros(slots, dtype=np.int64)
    rest = coverage
    if mask.keeps_everything:
        single = coverage.single_block_spans()
        if single:
            rows = block_rows(coverage.only(single), [ALL_COUNTRIES], "total_views", "unique_blogs")
            for span, total, unique in rows:
                views[span], blogs[span] = total, unique
            rest = coverage.only(set(range(slots)) - single)
    matched = _matched(rest, book, per_country=False)
    views += np.bincount(matched.span, weights=matched.views, minlength=slots).astype(np.int64)
    if len(listing.blog_ids):
        # Complement reads carry negative entries: a blog counts in a span when its views there sum above 0.
        blogs += distinct_counts(matched.span, matched.blog, slots, len(listing.blog_ids), weights=matched.views)
    return views, blogs


def _per_span_dropping(
    coverage: Coverage, listing: Listing, slots: int, kept_columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """A mask that drops a few countries and keeps every blog (``exclude_country_codes``): a span's views are its
    blocks' totals minus the dropped countries' totals, and a block's blogs are its ALL set minus the blogs it saw
    only in the dropped countries, told by the dropped rows alone: each of their blogs carries its views over every
    country of the block (``all_counts``), so a blog whose dropped views add up to those saw nothing else. The cost
    follows the dropped countries' rows, not every country's set. ``None`` when a block was folded before those
    counts existed (migration 0014): then the country matrices answer."""
    blocks = coverage.blocks_only()
    dropped_keys = [listing.column_key(int(column)) for column in np.flatnonzero(~kept_columns)]
    columns = ("total_views", "blog_ids", "view_counts", "all_counts", "unique_blogs")
    rows = list(block_rows_named(blocks, dropped_keys, *columns))
    if any(size and not len(all_counts) for *_, all_counts, size in rows):
        return None
    wholes = list(block_rows_named(blocks, [ALL_COUNTRIES], "total_views", "blog_bits"))
    position = {block: at for at, (_, block, _, _) in enumerate(wholes)}
    whole_spans = np.array([span for span, *_ in wholes], dtype=np.int64)
    views = np.bincount(whole_spans, weights=[total for _, _, total, _ in wholes], minlength=slots).astype(np.int64)
    dropped_spans = np.array([row[0] for row in rows], dtype=np.int64)
    views -= np.bincount(dropped_spans, weights=[row[2] for row in rows], minlength=slots).astype(np.int64)
    # Per block, the blogs whose views in the dropped countries are all of their views there. One row per block
    # (one country dropped) compares entry by entry; several are summed per blog first.
    dropped_rows: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for _, block, _, ids, counts, all_counts, size in rows:
        if size:
            decoded = decode([(ids, counts, size)])
            everywhere = counts_decode(all_counts, size)
            dropped_rows.setdefault(position[block], []).append((decoded.blog, decoded.views, everywhere))
    bitsets = []
    for at, (_, _, _, bits) in enumerate(wholes):
        packed = packed_set(bits).copy()
        parts = dropped_rows.get(at, [])
        if len(parts) == 1:
            ids, counts, everywhere = parts[0]
            removed = ids[counts == everywhere]
        elif parts:
            ids, counts, everywhere = (np.concatenate(column) for column in zip(*parts, strict=True))
            order = np.argsort(ids, kind="stable")
            firsts = np.flatnonzero(np.r_[True, ids[order][1:] != ids[order][:-1]])
            removed = ids[order][firsts][np.add.reduceat(counts[order], firsts) == everywhere[order][firsts]]
        else:
            removed = np.zeros(0, dtype=np.int64)
        if len(removed):
            np.bitwise_and.at(packed, removed >> 3, ~(1 << (removed & 7)).astype(np.uint8))
        bitsets.append(packed.reshape(1, -1))
    raw = raw_cells(coverage)
    kept = kept_columns[listing.country_columns(raw.country)]
    views += np.bincount(raw.span[kept], weights=raw.views[kept], minlength=slots).astype(np.int64)
    seen = _packed_blog_sets(listing, bitsets, whole_spans, slots, raw.span[kept], raw.blog[kept])
    return views, np.bitwise_count(seen).sum(axis=1).astype(np.int64)


def _per_span_of_countries(
    coverage: Coverage, listing: Listing, slots: int, kept_columns: np.ndarray, elsewhere: Matched | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A mask of countries only (``country_codes``, ``exclude_country_codes``, a tree of country leaves): each
    span's views are its kept countries' stored totals, and its distinct blogs the popcount of their OR-ed blog
    sets, with the raw cells (and the cells kept ``elsewhere``) added: no entry is decoded. A few countries read
    their own rows; more read each block's country matrix (one ALL row a block) and OR its kept countries' sets
    there, so dropping one country costs a few dozen rows, not every block's entries."""
    keys = [listing.column_key(int(column)) for column in np.flatnonzero(kept_columns)]
    spans: list[int] = []
    totals: list[int] = []
    bitsets: list[np.ndarray] = []
    if 4 * len(keys) <= listing.width:
        for span, total, bits in block_rows(coverage, keys, "total_views", "blog_bits"):
            spans.append(span)
            totals.append(total)
            bitsets.append(bits_row(bits))
    else:
        for span, matrix in block_rows(coverage, [ALL_COUNTRIES], "country_matrix"):
            if not len(matrix):
                raise InconsistentSummaries("a block was folded before country matrices existed")
            block_keys, block_views, block_bits = decode_country_matrix(matrix)
            kept = kept_columns[listing.country_columns(block_keys)]
            spans.append(span)
            totals.append(int(block_views[kept].sum()))
            bitsets.append(np.bitwise_or.reduce(block_bits[kept], axis=0, keepdims=True))
    raw = raw_cells(coverage)
    kept = kept_columns[listing.country_columns(raw.country)]
    added = elsewhere or Matched(*(np.zeros(0, dtype=np.int64) for _ in range(4)))
    added_span = np.concatenate([raw.span[kept], added.span])
    added_blog = np.concatenate([raw.blog[kept], listing.blog_ids[added.blog]])
    block_spans = np.array(spans, dtype=np.int64)
    views = np.bincount(block_spans, weights=totals, minlength=slots).astype(np.int64)
    views += np.bincount(added_span, weights=np.concatenate([raw.views[kept], added.views]), minlength=slots).astype(
        np.int64
    )
    seen = _packed_blog_sets(listing, bitsets, block_spans, slots, added_span, added_blog)
    return views, np.bitwise_count(seen).sum(axis=1).astype(np.int64)


def performance(query: AnalyticsQuery, *, now: datetime, x_metric: str) -> list[Row]:
    with repeatable_read(read_only=True):
        frame = performance_frame(query, now=now)
        if frame is None:
            return []
        spans = [frame.period_range(-1)] + [frame.period_range(index) for index in range(len(frame.starts))]
        book = catalogue(query.filters)
        coverage = _coverage(spans, book)
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
        return performance_rows(frame, by_start, blog_counts, int(views[0]))
