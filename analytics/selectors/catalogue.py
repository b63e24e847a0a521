"""The current blogs, authors and countries, and a request's filters as a blog × country mask."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import reduce

import numpy as np
from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper

from analytics.filters import Leaf, Node, NotNode, TreeField, ViewFilters
from analytics.models import (
    Blog,
    Country,
    DataVersion,
)
from analytics.selectors.predicates import BLOG_PATHS, leaf_q
from analytics.services.folding import NO_COUNTRY


class InconsistentSummaries(Exception):
    """A block names a blog or country that no longer exists: the invariant broke, so answer from raw events."""


# --- the filter mask -----------------------------------------------------------------------------------------
@dataclass
class Catalogue:
    """The current blogs, authors and countries, with the filters of one request as a blog × country mask.

    Column 0 of the mask stands for "no country"; column i > 0 for ``country_ids[i - 1]``.
    """

    blog_ids: np.ndarray
    titles: tuple[str, ...]
    author_index: np.ndarray
    usernames: tuple[str, ...]
    country_ids: np.ndarray
    codes: tuple[str, ...]
    mask: np.ndarray

    def approximate_bytes(self) -> int:
        arrays = (self.blog_ids, self.author_index, self.country_ids, self.mask)
        strings = (*self.titles, *self.usernames, *self.codes)
        return sum(array.nbytes for array in arrays) + sum(64 + len(text) for text in strings)

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
        return positions(self.blog_ids, blog_ids)

    def country_columns(self, keys: np.ndarray) -> np.ndarray:
        columns = np.zeros(len(keys), dtype=np.int64)
        named = keys != NO_COUNTRY
        columns[named] = positions(self.country_ids, keys[named]) + 1
        return columns


def positions(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
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


# --- the cache ---------------------------------------------------------------------------------------------------
CACHE_BUDGET_BYTES = 64 * 1024 * 1024  # per process; a catalogue of 2,000 blogs with its mask is ~0.3 MB


class CatalogueCache:
    """Catalogues by (database, catalogue token, filters), least recently used first out, within a byte budget.

    The token is DataVersion row 2, which the blog, country and username triggers set to a fresh random value in
    the same transaction as the change (``analytics.triggers``): read in the request's snapshot, it names exactly
    the catalogue that snapshot would read. View writes and folds leave it alone, so ingestion does not empty
    the cache. Cached arrays are read-only.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[Hashable, tuple[Catalogue, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Catalogue | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, book: Catalogue) -> None:
        size = book.approximate_bytes()
        if size > self.budget_bytes:
            return
        for array in (book.blog_ids, book.author_index, book.country_ids, book.mask):
            array.flags.writeable = False
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = (book, size)
            self._bytes += size
            while self._bytes > self.budget_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted


_cache = CatalogueCache(CACHE_BUDGET_BYTES)


def catalogue_token() -> int | None:
    """The catalogue token in the current snapshot (``None`` before migration 0006: no caching)."""
    return DataVersion.current(DataVersion.CATALOGUE)


def catalogue(filters: ViewFilters) -> Catalogue:
    """The catalogue and mask for ``filters`` as the current snapshot sees them; cached under the token."""
    token = catalogue_token()
    if token is None:
        return catalogue_read(filters)
    key = (connection.alias, connection.settings_dict["NAME"], token, filters)
    book = _cache.get(key)
    if book is None:
        book = catalogue_read(filters)
        _cache.put(key, book)
    return book


def catalogue_read(filters: ViewFilters) -> Catalogue:
    """Read the catalogue from the database, the blog-level leaves of the tree evaluated there."""
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
    for username in (filters.author_username, filters.scope_author):
        if username is not None:
            mask &= np.array([row[3] == username for row in rows], dtype=bool)[:, None]
    if filters.blog_id is not None:
        mask &= (blog_ids == filters.blog_id)[:, None]
    if filters.tree is not None:
        mask &= evaluate(filters.tree)

    return Catalogue(
        blog_ids=blog_ids,
        titles=tuple(row[1] for row in rows),
        author_index=np.searchsorted(np.array(author_ids, dtype=np.int64), [row[2] for row in rows]),
        usernames=tuple(usernames_by_id[author_id] for author_id in author_ids),
        country_ids=country_ids,
        codes=tuple(codes),
        mask=mask,
    )
