"""How a summary block stores its views: the distinct blog ids, ascending, and the views of each.

Ids are stored as gaps from the previous id and counts as plain integers, each in the narrowest unsigned
little-endian width that fits the block (1, 2, 4 or 8 bytes). The width is not stored: it is the blob's
length over ``unique_blogs``. A year of blocks is mostly 2-byte gaps and 1- or 2-byte counts, so a request
reads about a third of the bytes fixed 8 + 4 byte pairs would take, and decoding is a few numpy calls.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from pyroaring import BitMap

# Every block has one row per country present (``country_key`` = the country id, or NO_COUNTRY for views with no
# country) and one ALL_COUNTRIES row: the block's totals over every country, which also marks the block folded.
ALL_COUNTRIES = -1
NO_COUNTRY = 0

Ids = Sequence[int] | np.ndarray  # blog ids or counts, as lists (the fold's stream) or arrays (rollups)

_WIDTHS = (np.dtype("<u1"), np.dtype("<u2"), np.dtype("<u4"), np.dtype("<u8"))


def ints_from_text(text: str | None) -> np.ndarray:
    """A comma-separated list of integers (PostgreSQL's ``string_agg(x::text, ',')``; NULL for none) as int64."""
    return np.zeros(0, dtype=np.int64) if not text else np.fromstring(text, dtype=np.int64, sep=",")


def _narrowest(values: np.ndarray, minimum: int = 0) -> np.dtype:
    top = int(values.max(initial=0))
    return next(dtype for dtype in _WIDTHS if dtype.itemsize >= minimum and top <= np.iinfo(dtype).max)


def encode_ids(blog_ids: Sequence[int] | np.ndarray) -> bytes:
    ids = np.asarray(blog_ids, dtype=np.int64)
    if len(ids) and (ids[0] < 0 or (np.diff(ids) <= 0).any()):
        raise ValueError("blog ids must be positive and strictly ascending")
    gaps = np.diff(ids, prepend=0)
    # At least 2 bytes, so an id blob's width never collides with a count blob's 1-byte width in tests.
    return gaps.astype(_narrowest(gaps, minimum=2)).tobytes()


def blog_set(blog_ids: Sequence[int] | np.ndarray) -> BitMap:
    """The ids as a roaring bitmap (32-bit ids: a blog id past 4,294,967,295 is refused, not wrapped)."""
    ids = np.asarray(blog_ids, dtype=np.int64)
    if len(ids) and (int(ids.min()) < 0 or int(ids.max()) > 0xFFFF_FFFF):
        raise ValueError("blog ids must be between 0 and 4,294,967,295 to be stored in a roaring bitmap")
    values = array("I")
    values.frombytes(ids.astype(np.uint32).tobytes())
    return BitMap(values)


# A blog set is a tagged blob: a packed bitset over the ids (tag 0), or a roaring bitmap in its portable
# serialisation (tag 1; pyroaring, the format CRoaring, Java and Go share) when that is at most a quarter of the
# bitset's bytes. Dense and middling sets (a year of a country: thousands of blogs) stay bitsets, read without a
# copy; sparse ones (a day's country: 500 blogs among 1,000,000, 1.1 kB instead of 125 kB) take the bytes of the
# blogs present and are unpacked id by id. Empty: no bytes. Measured in docs/design.md ("Roaring bitmaps").
_BITSET, _ROARING = 0, 1
ROARING_AT_MOST = 0.25  # of the bitset's size


def encode_bits(blog_ids: Sequence[int] | np.ndarray) -> bytes:
    """A blog set blob (see above) of these ids."""
    ids = np.asarray(blog_ids, dtype=np.int64)
    if not len(ids):
        return b""
    roaring = blog_set(ids).serialize()
    if len(roaring) > ROARING_AT_MOST * ((int(ids.max()) + 8) // 8):
        return bytes([_BITSET]) + packed_bits(ids).tobytes()
    return bytes([_ROARING]) + roaring


def _tag(blob: bytes | memoryview) -> int:
    """A blob's first byte (psycopg2's memoryviews index as one-byte ``bytes``, not as ints)."""
    return bytes(blob[:1])[0]


def packed_set(blob: bytes | memoryview) -> np.ndarray:
    """A blog set blob as a packed little-endian bitset (bit i set when blog id i is in it)."""
    if not len(blob):
        return np.zeros(0, dtype=np.uint8)
    if _tag(blob) == _BITSET:
        return np.frombuffer(blob, dtype=np.uint8, offset=1)
    return packed_bits(_roaring_ids(blob))


def decode_set(blob: bytes | memoryview) -> np.ndarray:
    """The ids of a blog set blob, ascending."""
    if not len(blob):
        return np.zeros(0, dtype=np.int64)
    if _tag(blob) == _BITSET:
        return np.flatnonzero(np.unpackbits(packed_set(blob), bitorder="little"))
    return _roaring_ids(blob).astype(np.int64)


def _roaring_ids(blob: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(BitMap.deserialize(bytes(blob[1:])).to_array(), dtype=np.uint32)


def packed_bits(ids: np.ndarray, width_bytes: int | None = None) -> np.ndarray:
    """Ids as a little-endian packed bitset (bit i set when id i is present), ``width_bytes`` wide (default: just
    wide enough; ids beyond the width are left out). Few ascending ids (a sparse set in a wide bitset) are OR-ed
    byte by byte, so the cost follows the ids; otherwise a boolean scatter and ``np.packbits``."""
    top = int(ids.max()) if len(ids) else -1
    width = (top + 8) // 8 if width_bytes is None else width_bytes
    if width_bytes is not None and top >= 8 * width:
        ids = ids[ids < 8 * width]
    if len(ids) < width and (len(ids) < 2 or bool((ids[1:] > ids[:-1]).all())):
        packed = np.zeros(width, dtype=np.uint8)
        if len(ids):
            byte = ids >> 3
            starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
            bit = np.left_shift(1, ids & 7).astype(np.uint8)
            packed[byte[starts]] = np.bitwise_or.reduceat(bit, starts)
        return packed
    bits = np.zeros(8 * width, dtype=bool)
    bits[ids] = True
    return np.packbits(bits, bitorder="little")


def union_bits(blocks: Sequence[np.ndarray], groups: np.ndarray, group_count: int, width_bits: int) -> np.ndarray:
    """OR bitset rows by group: a (group_count, width_bits) boolean matrix (``union_packed``, unpacked)."""
    merged = union_packed(blocks, groups, group_count, width_bits)
    return np.unpackbits(merged, axis=1, count=width_bits, bitorder="little").astype(bool)


def union_packed(blocks: Sequence[np.ndarray], groups: np.ndarray, group_count: int, width_bits: int) -> np.ndarray:
    """OR bitset rows by group: a (group_count, ceil(width_bits / 8)) uint8 matrix of little-endian bitsets.

    ``blocks`` are uint8 matrices of bitset rows (one row per entry of ``groups``, in order); rows may be
    narrower than ``width_bits`` (missing bytes are zero) or wider (the extra bytes are ignored). The result is
    padded with zero bytes to a whole number of 64-bit words: the OR runs on words, eight bytes at a time, and a
    width one new blog made odd no longer slows it (1.4 ms a request at 100,000 blogs).
    """
    width_bytes = (width_bits + 63) // 64 * 8
    matrix = np.zeros((len(groups), width_bytes), dtype=np.uint8)
    at = 0
    for block in blocks:
        used = min(block.shape[1], width_bytes)
        matrix[at : at + len(block), :used] = block[:, :used]
        at += len(block)
    merged = np.zeros((group_count, width_bytes // 8), dtype=np.uint64)
    if len(groups):
        # Sort by group and OR each run of rows (ufunc.at would be ten times slower).
        order = np.argsort(groups, kind="stable")
        sorted_groups = groups[order]
        starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
        merged[sorted_groups[starts]] = np.bitwise_or.reduceat(matrix.view(np.uint64)[order], starts, axis=0)
    return merged.view(np.uint8)


def bits_row(blob: bytes | memoryview) -> np.ndarray:
    """One blog set blob as a 1 × n packed bitset block for ``union_bits``."""
    return packed_set(blob).reshape(1, -1)


def encode_country_matrix(columns: Sequence[tuple[int, int, Ids]]) -> bytes:
    """A block's countries in one blob: (country key, views, blog ids) per country → header + blog set blobs.

    Layout: int64 n, n int64 keys, n int64 views, n int64 blob lengths, then the n ``encode_bits`` blobs.
    """
    sets = [encode_bits(ids) for _, _, ids in columns]
    header = [len(columns), *(key for key, _, _ in columns), *(views for _, views, _ in columns), *map(len, sets)]
    return np.array(header, dtype="<i8").tobytes() + b"".join(sets)


@dataclass(frozen=True)
class CountryMatrix:
    """``encode_country_matrix`` read back: each country's key and views, and its blog set as a packed bitset row
    (``dense``, by row) or, for a sparse set stored as a roaring bitmap, as its ids (``sparse``, by row)."""

    keys: np.ndarray
    views: np.ndarray
    dense: dict[int, np.ndarray]
    sparse: dict[int, np.ndarray]


def country_matrix_read(blob: bytes | memoryview) -> CountryMatrix:
    (count,) = (int(value) for value in np.frombuffer(blob, dtype="<i8", count=1))
    header = np.frombuffer(blob, dtype="<i8", count=1 + 3 * count)
    keys, views, lengths = header[1 : 1 + count], header[1 + count : 1 + 2 * count], header[1 + 2 * count :]
    ends = (8 * (1 + 3 * count) + np.cumsum(lengths)).tolist()
    parts = [blob[end - length : end] for end, length in zip(ends, lengths.tolist(), strict=True)]
    tags = [_tag(part) if len(part) else None for part in parts]
    dense = {row: packed_set(part) for row, part in enumerate(parts) if tags[row] == _BITSET}
    sparse = {row: _roaring_ids(part) for row, part in enumerate(parts) if tags[row] == _ROARING}
    return CountryMatrix(keys.copy(), views.copy(), dense, sparse)


def decode_country_matrix(blob: bytes | memoryview) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, views, packed bitset rows as a count × width uint8 matrix) of ``encode_country_matrix``; the width
    is that of the widest row. Bitset rows are copied in; roaring rows are scattered in one pass."""
    matrix = country_matrix_read(blob)
    dense, sparse = matrix.dense, matrix.sparse
    count = len(matrix.keys)
    width = max(
        [len(bits) for bits in dense.values()] + [(int(ids[-1]) + 8) // 8 for ids in sparse.values() if len(ids)],
        default=0,
    )
    rows = np.zeros((count, width), dtype=np.uint8)
    for row, bits in dense.items():
        rows[row, : len(bits)] = bits
    if sparse:
        offsets = np.repeat(np.array(list(sparse), dtype=np.int64) * 8 * width, [len(ids) for ids in sparse.values()])
        rows |= packed_bits(offsets + np.concatenate(list(sparse.values())), count * width).reshape(count, width)
    return matrix.keys, matrix.views, rows


def encode_counts(counts: Sequence[int] | np.ndarray) -> bytes:
    values = np.asarray(counts, dtype=np.int64)
    return values.astype(_narrowest(values)).tobytes()


@dataclass(frozen=True)
class Decoded:
    """All blocks' entries back to back; ``row`` says which input row each entry came from."""

    row: np.ndarray
    blog: np.ndarray
    views: np.ndarray


def decode(blocks: Sequence[tuple[bytes | memoryview, bytes | memoryview | None, int]]) -> Decoded:
    """Decode (ids blob, counts blob or None, unique_blogs) rows at once; counts are 0 where not given."""
    rows, blogs, views = [], [], []
    by_width: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, (ids, counts, size) in enumerate(blocks):
        if size:
            by_width[(len(ids) // size, len(counts) // size if counts is not None else 0)].append(index)
    for (id_width, count_width), members in by_width.items():
        sizes = np.array([blocks[index][2] for index in members], dtype=np.int64)
        gaps = np.frombuffer(b"".join(blocks[index][0] for index in members), dtype=_dtype(id_width))
        running = np.cumsum(gaps, dtype=np.int64)
        # Each block's ids restart from its own first gap: subtract the running total before the block.
        starts = np.cumsum(sizes) - sizes
        before = np.where(starts > 0, running[starts - 1], 0)
        blogs.append(running - np.repeat(before, sizes))
        rows.append(np.repeat(np.array(members, dtype=np.int64), sizes))
        if count_width:
            raw = b"".join(blocks[index][1] for index in members)  # type: ignore[misc]
            views.append(np.frombuffer(raw, dtype=_dtype(count_width)).astype(np.int64))
        else:
            views.append(np.zeros(len(running), dtype=np.int64))
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return Decoded(empty, empty, empty)
    return Decoded(np.concatenate(rows), np.concatenate(blogs), np.concatenate(views))


def counts_decode(blob: bytes | memoryview, size: int) -> np.ndarray:
    """One ``encode_counts`` array of ``size`` values, as int64."""
    if not size:
        return np.zeros(0, dtype=np.int64)
    return np.frombuffer(blob, dtype=_dtype(len(blob) // size)).astype(np.int64)


def _dtype(width: int) -> np.dtype:
    return next(dtype for dtype in _WIDTHS if dtype.itemsize == width)


# --- one summary row -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackedBlock:
    start: date
    country_key: int
    blog_ids: Ids
    view_counts: Ids
    countries: tuple[tuple[int, int, Ids], ...] = ()  # ALL rows: (key, views, ids) of every country
    all_counts: Ids | None = None  # country rows: each blog's views over every country of the block

    def fields(self) -> dict[str, object]:
        """The ``SummaryBlock`` columns of this row."""
        return {
            "country_key": self.country_key,
            "blog_ids": encode_ids(self.blog_ids),
            "view_counts": encode_counts(self.view_counts),
            "all_counts": encode_counts(self.all_counts) if self.all_counts is not None else b"",
            "blog_bits": encode_bits(self.blog_ids),
            "country_matrix": encode_country_matrix(self.countries) if self.country_key == ALL_COUNTRIES else b"",
            "total_views": int(np.sum(np.asarray(self.view_counts, dtype=np.int64))),
            "unique_blogs": len(self.blog_ids),
        }


# --- blog timelines --------------------------------------------------------------------------------------------
# One blog's views in a trailing window, day by day and country by country: three parallel arrays (day offset in
# the window, country key, views), each in its narrowest width. A filter that keeps few blogs reads their rows
# (a few hundred bytes each) instead of whole country-major blocks that hold every blog.
@dataclass(frozen=True)
class Timeline:
    blog: np.ndarray
    day: np.ndarray
    country: np.ndarray
    views: np.ndarray


def encode_timeline(days: Ids, countries: Ids, counts: Ids) -> tuple[bytes, bytes, bytes]:
    return encode_counts(days), encode_counts(countries), encode_counts(counts)


Run = tuple[np.ndarray, np.ndarray, bytes | memoryview, bytes | memoryview, bytes | memoryview]


def decode_timelines(runs: Sequence[Run]) -> Timeline:
    """Decode runs of timeline rows: (blog ids, cells of each, then the rows' days, countries and counts blobs
    back to back). Every row of a run has the same three widths; a single row is a run of one."""
    parts: list[tuple[np.ndarray, ...]] = []
    for blogs, cells, *blobs in runs:
        total = int(np.sum(cells))
        if not total:
            continue
        columns = [np.frombuffer(blob, dtype=_dtype(len(blob) // total)).astype(np.int64) for blob in blobs]
        parts.append((np.repeat(np.asarray(blogs, dtype=np.int64), cells), *columns))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Timeline(empty, empty, empty, empty)
    blog, day, country, views = (np.concatenate([part[i] for part in parts]) for i in range(4))
    return Timeline(blog, day, country, views)
