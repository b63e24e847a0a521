"""The current blogs, authors and countries (a ``Listing``), and a request's filters as a ``Mask`` over them.

A listing is numbers only: every blog id with its author, every country with its code. Titles and usernames are
read for the rows an answer returns, never for the whole catalogue. Blog-level predicates (author, blog id,
title) are resolved by the database to the ids they keep; the mask stores them as a blog vector and a country
vector, and only a tree that ties the two dimensions together (``or(country X, title ~ Y)``) needs a blog ×
country matrix. Both are cached per catalogue token; see docs/design.md.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.db.models import Q

from analytics.blockcodec import NO_COUNTRY, ints_from_text
from analytics.filters import BoolNode, Dimension, Leaf, Node, NotNode, TreeField, ViewFilters
from analytics.models import Blog, Country, DataVersion
from analytics.replicas import reading, source_alias
from analytics.selectors.predicates import BLOG_PATHS, leaf_q

logger = logging.getLogger(__name__)


class InconsistentSummaries(Exception):
    """A block names a blog or country that no longer exists: the invariant broke, so answer from raw events."""


def positions(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index of each id in ``sorted_ids``; a direct lookup table when ids are dense enough, else a binary search."""
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    top = int(sorted_ids[-1]) if len(sorted_ids) else -1
    if 0 <= top <= 8 * len(sorted_ids) + 1024:
        table = np.full(top + 2, -1, dtype=np.int64)
        table[sorted_ids] = np.arange(len(sorted_ids))
        found = table[np.clip(ids, 0, top + 1)]
        if (found < 0).any():
            raise InconsistentSummaries("a summary names an id that no longer exists")
        return found
    found = np.searchsorted(sorted_ids, ids)
    if found.max(initial=0) >= len(sorted_ids) or (sorted_ids[found] != ids).any():
        raise InconsistentSummaries("a summary names an id that no longer exists")
    return found


# --- the listing ---------------------------------------------------------------------------------------------
NAME_BYTES = 100  # a remembered title or username in the cache's budget: a str of about 35 characters and its key


@dataclass
class Listing:
    """Every current blog (ascending id, with its author's position in ``author_ids``) and country.

    Country column 0 stands for "no country"; column i > 0 for ``country_ids[i - 1]``. Titles and usernames are
    looked up on demand and remembered: the listing lives only as long as its catalogue token, and the token
    changes with every title, username or code.
    """

    blog_ids: np.ndarray
    author_index: np.ndarray
    author_ids: np.ndarray
    country_ids: np.ndarray
    codes: tuple[str, ...]
    # PostgreSQL: the snapshot (``pg_snapshot`` text) the blog columns were read in, when a later listing may be
    # derived from this one (``listing_follow``); ``None`` when it may not (SQLite, or a transaction that wrote).
    snapshot: str | None = None
    _titles: dict[int, str] = field(default_factory=dict, repr=False)
    _usernames: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def width(self) -> int:
        """Country columns, "no country" included."""
        return len(self.codes) + 1

    def approximate_bytes(self) -> int:
        """The arrays, and a flat ``NAME_BYTES`` per remembered title, username and code: counting each name's
        length cost a millisecond per new token once a process remembered 10,000 usernames."""
        arrays = (self.blog_ids, self.author_index, self.author_ids, self.country_ids)
        names = len(self._titles) + len(self._usernames) + len(self.codes)
        return sum(array.nbytes for array in arrays) + NAME_BYTES * names

    def blog_positions(self, blog_ids: np.ndarray) -> np.ndarray:
        return positions(self.blog_ids, blog_ids)

    def country_columns(self, keys: np.ndarray) -> np.ndarray:
        columns = np.zeros(len(keys), dtype=np.int64)
        named = keys != NO_COUNTRY
        columns[named] = positions(self.country_ids, keys[named]) + 1
        return columns

    def column_key(self, column: int) -> int:
        return NO_COUNTRY if column == 0 else int(self.country_ids[column - 1])

    def titles(self, blog_positions: np.ndarray | Sequence[int]) -> list[str]:
        """The titles of these blogs, read in the caller's snapshot (the one the listing's token was read in)."""
        ids: list[int] = self.blog_ids[blog_positions].tolist()
        missing = [blog_id for blog_id in ids if blog_id not in self._titles]
        if missing:
            self._titles.update(Blog.objects.filter(pk__in=missing).values_list("id", "title"))
        return [self._titles[blog_id] for blog_id in ids]

    def usernames(self, author_positions: np.ndarray | Sequence[int]) -> list[str]:
        # One gather, not a numpy scalar per author: 6,500 authors of a day, 1 ms less.
        ids: list[int] = self.author_ids[author_positions].tolist()
        missing = [author_id for author_id in ids if author_id not in self._usernames]
        if missing:
            users = get_user_model()._default_manager
            if len(missing) > 1_000:
                # Many authors (blog-views/user lists them all): one pass over every author beats a long IN list.
                rows = users.filter(pk__in=Blog.objects.values("author_id")).values_list("pk", "username")
            else:
                rows = users.filter(pk__in=missing).values_list("pk", "username")
            self._usernames.update(rows)
        return [self._usernames[author_id] for author_id in ids]


def listing_read() -> Listing:
    """Every blog's id and author id, and every country, as the current snapshot sees them: numbers only."""
    blog_ids, author_ids, snapshot = _blog_columns()
    countries = list(Country.objects.order_by("id").values_list("id", "code"))
    authors, author_index = np.unique(author_ids, return_inverse=True)
    return Listing(
        blog_ids=blog_ids,
        author_index=author_index.astype(np.int64),
        author_ids=authors.astype(np.int64),
        country_ids=np.array([country_id for country_id, _ in countries], dtype=np.int64),
        codes=tuple(code for _, code in countries),
        snapshot=snapshot,
    )


# The snapshot a listing may be followed from: none when the reading transaction has written anything (it may see
# its own catalogue writes, which a rollback would take back without a trace in the log).
_SNAPSHOT = "CASE WHEN pg_current_xact_id_if_assigned() IS NULL THEN pg_current_snapshot()::text END"


def _blog_columns() -> tuple[np.ndarray, np.ndarray, str | None]:
    """(ids ascending, author ids, snapshot): on PostgreSQL as two aggregated strings parsed by numpy (both
    aggregates read the rows in one pass, so the two lists line up; sorted here, not by the database), several
    times faster than 100,000 Python tuples; elsewhere row by row."""
    table = reading.ops.quote_name(Blog._meta.db_table)
    with reading.cursor() as cursor:
        if reading.vendor == "postgresql":
            cursor.execute(
                f"SELECT string_agg(id::text, ','), string_agg(author_id::text, ','), {_SNAPSHOT} FROM {table}"
            )
            ids_text, authors_text, snapshot = cursor.fetchone()
            ids, authors = ints_from_text(ids_text), ints_from_text(authors_text)
            order = np.argsort(ids, kind="stable")
            return ids[order], authors[order], snapshot
        cursor.execute(f"SELECT id, author_id FROM {table} ORDER BY id")
        rows = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 2)
    return rows[:, 0].copy(), rows[:, 1].copy(), None


# A listing follows at most this many changed blogs; past it (a bulk import) reading it whole is as cheap.
FOLLOW_MAX_BLOGS = 20_000


@dataclass(frozen=True)
class Countries:
    """Every country, ascending id, as a follow reads them."""

    ids: np.ndarray
    codes: tuple[str, ...]


# One statement, so one snapshot even outside REPEATABLE READ: whether the current snapshot sees everything the
# listing's snapshot saw (every transaction then running is one the listing's did not see, and nothing newer was
# visible to it); the log rows committed for this snapshot that the listing's did not see, by kind (a reset, a
# username change, the blogs changed); those blogs' current (id, author id); and every country. Rows below the
# listing's xmin committed before it was read, so the xid index bounds the scan.
_FOLLOW = """
WITH since AS (
    SELECT DISTINCT kind, blog_id FROM analytics_cataloguelog
    WHERE xid >= pg_snapshot_xmin(%(then)s::pg_snapshot) AND NOT pg_visible_in_snapshot(xid, %(then)s::pg_snapshot)
), changed_rows AS (
    SELECT string_agg(id::text, ',') AS ids, string_agg(author_id::text, ',') AS authors
    FROM {blogs} WHERE id IN (SELECT blog_id FROM since WHERE kind = 'b')
), every_country AS (
    SELECT array_agg(id ORDER BY id) AS ids, array_agg(code ORDER BY id) AS codes FROM {countries}
)
SELECT
    {snapshot},
    pg_snapshot_xmax(%(then)s::pg_snapshot) <= pg_snapshot_xmax(pg_current_snapshot())
        AND NOT EXISTS (
            SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) AS running (xid)
            WHERE pg_visible_in_snapshot(running.xid, %(then)s::pg_snapshot)
        ),
    EXISTS (SELECT 1 FROM since WHERE kind = 'r'),
    EXISTS (SELECT 1 FROM since WHERE kind = 'u'),
    (SELECT count(*) FROM since WHERE kind = 'b'),
    (SELECT string_agg(blog_id::text, ',') FROM since WHERE kind = 'b'),
    changed_rows.ids,
    changed_rows.authors,
    every_country.ids,
    every_country.codes
FROM changed_rows, every_country
"""


def listing_follow(previous: Listing) -> Listing | None:
    """``previous`` brought up to the current snapshot by reading only the blogs changed since it was read (and the
    countries, a few hundred rows at most); ``None`` when that cannot be done exactly (another database, a reset or
    a pruned log, too many changes, a snapshot that does not follow ``previous``'s): the caller reads it whole."""
    if reading.vendor != "postgresql" or previous.snapshot is None:
        return None
    tables = {"blogs": Blog._meta.db_table, "countries": Country._meta.db_table}
    quoted = {name: reading.ops.quote_name(table) for name, table in tables.items()}
    try:
        # In a savepoint: a log that cannot be read (a database migrated by hand, say) costs a whole read, never
        # the answer; the snapshot of the request's transaction is kept either way.
        with transaction.atomic(using=reading.alias), reading.cursor() as cursor:
            cursor.execute(_FOLLOW.format(snapshot=_SNAPSHOT, **quoted), {"then": previous.snapshot})
            snapshot, follows, reset, renamed, changed, *texts, country_ids, codes = cursor.fetchone()
    except DatabaseError:
        logger.exception("the catalogue log could not be read; reading the listing whole")
        return None
    if not follows or reset or changed > FOLLOW_MAX_BLOGS:
        return None
    changed_ids, ids, authors = (ints_from_text(text) for text in texts)
    return _listing_changed(
        previous,
        changed_ids,
        ids,
        authors,
        Countries(np.array(country_ids or [], dtype=np.int64), tuple(codes or ())),
        snapshot=snapshot,
        forget_usernames=renamed,
    )


def _listing_changed(
    previous: Listing,
    changed: np.ndarray,
    ids: np.ndarray,
    authors: np.ndarray,
    countries: Countries,
    *,
    snapshot: str | None,
    forget_usernames: bool,
) -> Listing:
    """``previous`` without the ``changed`` blogs, then with the rows they have now (``ids``, ``authors``)."""
    # Remembered names are shared with ``previous``, not copied, wherever both snapshots give every name either
    # listing can ask for the same value: usernames unless one changed (a ``u`` row), titles when no listed blog
    # changed (a country only, or new posts only, which ``previous`` never names). Either listing may then add
    # names read in its own snapshot to the shared dict, and the other reads the same value.
    usernames = {} if forget_usernames else previous._usernames
    if not len(changed):  # a country or a username changed: the blog columns are the previous listing's
        return replace(
            previous, country_ids=countries.ids, codes=countries.codes, snapshot=snapshot, _usernames=usernames
        )
    order = np.argsort(ids)
    ids, authors = ids[order], authors[order]
    author_ids, old_index = previous.author_ids, previous.author_index
    positions = _known_positions(author_ids, authors)
    if (positions < 0).any():
        # A new author: the authors are numbered again, the listed ones moved past the new ids (a gather, no sort).
        new_authors = np.unique(authors[positions < 0])
        merged = np.insert(author_ids, np.searchsorted(author_ids, new_authors), new_authors)
        old_index = np.searchsorted(merged, author_ids)[old_index]
        author_ids, positions = merged, np.searchsorted(merged, authors)
    appended = len(changed) and (not len(previous.blog_ids) or changed.min() > previous.blog_ids[-1])
    if appended:
        # New posts only (ids above every listed one): appended, no blog looked up, no author left without blogs.
        blog_ids = np.concatenate([previous.blog_ids, ids])
        author_index = np.concatenate([old_index, positions])
    else:
        kept = ~np.isin(previous.blog_ids, changed)
        at = np.searchsorted(previous.blog_ids[kept], ids)
        blog_ids = np.insert(previous.blog_ids[kept], at, ids)
        author_index = np.insert(old_index[kept], at, positions)
    blogs_per_author = None if appended else np.bincount(author_index, minlength=len(author_ids))
    if blogs_per_author is not None and (blogs_per_author == 0).any():
        # An author left without blogs: dropped, the ones after it move down.
        used = blogs_per_author > 0
        author_index = (np.cumsum(used) - 1)[author_index]
        author_ids = author_ids[used]
    if appended:
        titles = previous._titles
    else:
        gone = set(changed.tolist())
        titles = {blog_id: title for blog_id, title in previous._titles.items() if blog_id not in gone}
    return Listing(
        blog_ids=blog_ids,
        author_index=author_index,
        author_ids=author_ids,
        country_ids=countries.ids,
        codes=countries.codes,
        snapshot=snapshot,
        _titles=titles,
        _usernames=usernames,
    )


def _known_positions(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each id's position in ``sorted_ids``, or -1 where it is not there."""
    if not len(sorted_ids):
        return np.full(len(ids), -1, dtype=np.int64)
    found = np.searchsorted(sorted_ids, ids).clip(max=len(sorted_ids) - 1)
    return np.where(sorted_ids[found] == ids, found, -1).astype(np.int64)


# --- the mask --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mask:
    """Which (blog position, country column) pairs a request keeps.

    ``blogs`` and ``columns`` are boolean vectors (``None``: all); ``pairs``, when set, is the blog × column matrix of a
    tree that ties the two dimensions together, and ``blogs`` / ``columns`` are then its projections.
    """

    blogs: np.ndarray | None
    columns: np.ndarray | None
    pairs: np.ndarray | None = None

    @property
    def keeps_everything(self) -> bool:
        return self.pairs is None and self.blogs is None and self.columns is None

    @property
    def ignores_country(self) -> bool:
        """Whether a blog's views are kept or dropped whatever their country."""
        return self.pairs is None and self.columns is None

    @property
    def ignores_blog(self) -> bool:
        return self.pairs is None and self.blogs is None

    def keeps(self, blog: np.ndarray, column: np.ndarray) -> np.ndarray:
        if self.pairs is not None:
            return self.pairs[blog, column]
        keep = np.ones(len(blog), dtype=bool)
        if self.blogs is not None:
            keep &= self.blogs[blog]
        if self.columns is not None:
            keep &= self.columns[column]
        return keep

    def keeps_blogs(self, blog: np.ndarray) -> np.ndarray:
        """For a mask that ignores the country."""
        return np.ones(len(blog), dtype=bool) if self.blogs is None else self.blogs[blog]

    def column_vector(self, width: int) -> np.ndarray:
        """For a mask that ignores the blog: the columns it keeps."""
        return np.ones(width, dtype=bool) if self.columns is None else self.columns

    def kept_blogs(self) -> np.ndarray | None:
        """Positions of the blogs any kept pair names (``None``: every blog)."""
        return None if self.blogs is None else np.flatnonzero(self.blogs)

    @cached_property
    def whole_columns(self) -> np.ndarray | None:
        """For a mask with ``pairs``: the columns it keeps for every blog, and (``blogs_elsewhere``) the blogs it
        keeps in any other column. Computed once per cached mask."""
        if self.pairs is None:
            return None
        return np.asarray(self.pairs.all(axis=0)) if len(self.pairs) else np.ones(self.pairs.shape[1], dtype=bool)

    @cached_property
    def blogs_elsewhere(self) -> np.ndarray | None:
        if self.pairs is None or self.whole_columns is None:
            return None
        return np.flatnonzero(self.pairs[:, ~self.whole_columns].any(axis=1))

    @cached_property
    def union_of_products(self) -> tuple[np.ndarray, np.ndarray] | None:
        """For a mask with ``pairs`` that keeps some blogs in every column and every blog in some columns, and
        nothing else (``or(country GB, title ~ "typescript")``): (those blogs, those columns) as boolean vectors;
        ``None`` for any other shape. Computed once per cached mask."""
        if self.pairs is None or self.whole_columns is None or self.blogs_elsewhere is None:
            return None
        everywhere = self.pairs[self.blogs_elsewhere].all(axis=1)
        if not everywhere.all():
            return None
        blogs = np.zeros(len(self.pairs), dtype=bool)
        blogs[self.blogs_elsewhere] = True
        return blogs, self.whole_columns

    def approximate_bytes(self) -> int:
        return sum(array.nbytes for array in (self.blogs, self.columns, self.pairs) if array is not None)


EVERYTHING = Mask(None, None)


def _and(left: np.ndarray | None, right: np.ndarray | None) -> np.ndarray | None:
    return right if left is None else left if right is None else left & right


def _dense(mask: Mask, listing: Listing) -> np.ndarray:
    if mask.pairs is not None:
        return mask.pairs
    blogs = np.ones(len(listing.blog_ids), dtype=bool) if mask.blogs is None else mask.blogs
    columns = np.ones(listing.width, dtype=bool) if mask.columns is None else mask.columns
    return blogs[:, None] & columns[None, :]


def _from_pairs(pairs: np.ndarray) -> Mask:
    return Mask(np.asarray(pairs.any(axis=1)), np.asarray(pairs.any(axis=0)), pairs)


def mask_and(masks: Iterable[Mask], listing: Listing) -> Mask:
    masks = list(masks)
    if any(mask.pairs is not None for mask in masks):
        pairs = np.ones((len(listing.blog_ids), listing.width), dtype=bool)
        for mask in masks:
            pairs &= _dense(mask, listing)
        return _from_pairs(pairs)
    blogs: np.ndarray | None = None
    columns: np.ndarray | None = None
    for mask in masks:
        blogs, columns = _and(blogs, mask.blogs), _and(columns, mask.columns)
    return Mask(blogs, columns)


def mask_or(masks: list[Mask], listing: Listing) -> Mask:
    if any(mask.keeps_everything for mask in masks):
        return EVERYTHING
    # No child keeps everything, so a child that ignores one dimension has a vector for the other.
    blogs = [mask.blogs for mask in masks if mask.pairs is None and mask.columns is None and mask.blogs is not None]
    if len(blogs) == len(masks):
        return Mask(np.logical_or.reduce(blogs), None)
    columns = [mask.columns for mask in masks if mask.pairs is None and mask.blogs is None and mask.columns is not None]
    if len(columns) == len(masks):
        return Mask(None, np.logical_or.reduce(columns))
    return _from_pairs(np.logical_or.reduce([_dense(mask, listing) for mask in masks]))


def mask_not(mask: Mask, listing: Listing) -> Mask:
    if mask.pairs is None and mask.columns is None and mask.blogs is not None:
        return Mask(~mask.blogs, None)
    if mask.pairs is None and mask.blogs is None and mask.columns is not None:
        return Mask(None, ~mask.columns)
    return _from_pairs(~_dense(mask, listing))


def _blogs_where(q: Q, listing: Listing) -> Mask:
    """The blogs the database says satisfy ``q`` (one indexed query, ids only)."""
    ids = np.array(Blog.objects.filter(q).values_list("id", flat=True), dtype=np.int64)
    return Mask(np.isin(listing.blog_ids, ids), None)


def _authored_by(usernames: Iterable[str], listing: Listing) -> Mask:
    """The blogs of the authors with these usernames: the listing knows every blog's author, so the database is
    asked only for the users' ids (a unique index), never for the blogs (thousands of heap reads for a prolific
    author, on every request after a new post)."""
    users = get_user_model()._default_manager
    found = np.array(users.filter(username__in=list(usernames)).values_list("pk", flat=True), dtype=np.int64)
    authors = _known_positions(listing.author_ids, found)
    return Mask(np.isin(listing.author_index, authors[authors >= 0]), None)


def _countries(codes: Iterable[str], listing: Listing, *, no_country: bool) -> Mask:
    wanted = set(codes)
    return Mask(None, np.array([no_country, *(code in wanted for code in listing.codes)], dtype=bool))


def _tree_mask(node: Node, listing: Listing) -> Mask:
    if isinstance(node, Leaf):
        if node.field.dimension is Dimension.COUNTRY:
            return _countries((str(code) for code in node.values), listing, no_country=False)
        if node.field is TreeField.AUTHOR:
            return _authored_by((str(name) for name in node.values), listing)
        return _blogs_where(leaf_q(node, BLOG_PATHS), listing)
    if isinstance(node, NotNode):
        return mask_not(_tree_mask(node.child, listing), listing)
    assert isinstance(node, BoolNode)
    children = [_tree_mask(child, listing) for child in node.children]
    return mask_and(children, listing) if node.op == "and" else mask_or(children, listing)


def mask_read(filters: ViewFilters, listing: Listing) -> Mask:
    """The filters of one request over ``listing``, ANDed (SPEC §3), blog-level predicates answered by the database."""
    parts: list[Mask] = []
    if filters.country_codes is not None:
        parts.append(_countries(filters.country_codes, listing, no_country=False))
    if filters.exclude_country_codes is not None:
        parts.append(mask_not(_countries(filters.exclude_country_codes, listing, no_country=False), listing))
    for username in (filters.author_username, filters.scope_author):
        if username is not None:
            parts.append(_authored_by([username], listing))
    if filters.blog_id is not None:
        parts.append(Mask(listing.blog_ids == filters.blog_id, None))
    if filters.tree is not None:
        parts.append(_tree_mask(filters.tree, listing))
    return mask_and(parts, listing) if parts else EVERYTHING


# --- the catalogue: a listing and a mask, cached ---------------------------------------------------------------
@dataclass(frozen=True)
class Catalogue:
    """The listing of the request's snapshot and the request's mask over it."""

    listing: Listing
    mask: Mask

    def country_keys(self) -> list[int] | None:
        """The per-country rows the mask can keep (``None``: every country)."""
        columns = self.mask.columns
        if columns is None or columns.all():
            return None
        return [self.listing.column_key(int(column)) for column in np.flatnonzero(columns)]


# Per process: listings and masks together (IDEEZA_CATALOGUE_CACHE_MB). At 1,000,000 blogs a listing is ≈ 16 MB and a
# tree that ties blogs to countries a 51 MB mask: with 64 MB they evict each other on every request (docs/design.md).
CACHE_BUDGET_BYTES = settings.IDEEZA_CATALOGUE_CACHE_MB * 1024 * 1024


class CatalogueCache:
    """Listings and masks by (database, catalogue token, filters), least recently used first out, within a byte
    budget.

    The token is DataVersion row 2, which the blog, country and username triggers set to a fresh random value in
    the same transaction as the change (``analytics.triggers``): read in the request's snapshot, it names exactly
    the catalogue that snapshot would read. View writes and folds leave it alone, so ingestion does not empty
    the cache. Cached arrays are read-only.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[Hashable, tuple[Listing | Mask, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Listing | Mask | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: Listing | Mask) -> None:
        size = value.approximate_bytes()
        if size > self.budget_bytes:
            return
        arrays = (
            (value.blog_ids, value.author_index, value.author_ids, value.country_ids)
            if isinstance(value, Listing)
            else (value.blogs, value.columns, value.pairs)
        )
        for array in arrays:
            if array is not None:
                array.flags.writeable = False
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.budget_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted


_cache = CatalogueCache(CACHE_BUDGET_BYTES)
# The newest listing each database was read or followed to in this process: where the next token starts from.
_newest: dict[tuple[str, str], Listing] = {}


def catalogue_token() -> int | None:
    """The catalogue token in the current snapshot (``None`` before migration 0006: no caching)."""
    return DataVersion.current(DataVersion.CATALOGUE)


def catalogue(filters: ViewFilters) -> Catalogue:
    """The listing and the mask for ``filters`` as the current snapshot sees them; cached under the token.

    A token not seen yet (a blog was published) first tries to follow the process's newest listing of this
    database through the catalogue log, reading only the blogs that changed; else it reads the listing whole.
    """
    token = catalogue_token()
    if token is None:
        return catalogue_read(filters)
    database = (source_alias(reading.alias), reading.settings_dict["NAME"])
    base = (*database, token)
    listing = _cache.get(base)
    if not isinstance(listing, Listing):
        newest = _newest.get(database)
        listing = (newest is not None and listing_follow(newest)) or listing_read()
        _cache.put(base, listing)
        if listing.snapshot is not None:
            _newest[database] = listing
    if filters == ViewFilters():
        return Catalogue(listing, EVERYTHING)
    mask = _cache.get((*base, filters))
    if not isinstance(mask, Mask):
        mask = mask_read(filters, listing)
        _cache.put((*base, filters), mask)
    return Catalogue(listing, mask)


def catalogue_read(filters: ViewFilters) -> Catalogue:
    """Read the listing and the mask from the database, uncached."""
    listing = listing_read()
    return Catalogue(listing, mask_read(filters, listing))
