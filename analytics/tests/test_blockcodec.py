"""The summary block codec (docs/design.md): every encoding decodes back to what went in, on random input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from analytics.blockcodec import (
    bits_row,
    decode,
    decode_country_matrix,
    decode_set,
    encode_bits,
    encode_country_matrix,
    encode_counts,
    encode_ids,
    union_bits,
)

blog_sets = st.sets(st.integers(min_value=1, max_value=70_000), max_size=40).map(sorted)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(blog_sets, st.integers(min_value=1, max_value=2**40)), max_size=6))
def test_decode_returns_every_block_ids_and_counts(blocks: list[tuple[list[int], int]]) -> None:
    """Blocks of different id and count widths, decoded together, come back entry for entry, in block order."""
    encoded = []
    expected_rows, expected_blogs, expected_views = [], [], []
    for index, (ids, scale) in enumerate(blocks):
        counts = [scale // (position + 1) + 1 for position in range(len(ids))]
        encoded.append((encode_ids(ids), encode_counts(counts), len(ids)))
        expected_rows += [index] * len(ids)
        expected_blogs += ids
        expected_views += counts
    decoded = decode(encoded)
    order = np.lexsort((decoded.blog, decoded.row))
    assert decoded.row[order].tolist() == expected_rows
    assert decoded.blog[order].tolist() == expected_blogs
    assert decoded.views[order].tolist() == expected_views


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=-1, max_value=300), st.integers(0, 10**9), blog_sets), max_size=8))
def test_country_matrix_round_trip(columns: list[tuple[int, int, list[int]]]) -> None:
    keys, views, rows = decode_country_matrix(encode_country_matrix(columns))
    assert keys.tolist() == [key for key, _, _ in columns]
    assert views.tolist() == [count for _, count, _ in columns]
    assert rows.shape[0] == len(columns)
    for row, (_, _, ids) in zip(rows, columns, strict=True):
        bits = np.unpackbits(row, bitorder="little")
        assert np.flatnonzero(bits).tolist() == ids


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=3), blog_sets), max_size=12), st.booleans())
def test_union_bits_ors_rows_of_any_width_by_group(entries: list[tuple[int, list[int]]], as_matrix: bool) -> None:
    """Rows narrower or wider than the requested width, given one by one or as one matrix, OR into their group."""
    width_bits = 50_000  # narrower than some rows (ids up to 70,000 are dropped), wider than others
    groups = np.array([group for group, _ in entries], dtype=np.int64)
    if as_matrix:
        blocks = [decode_country_matrix(encode_country_matrix([(0, 0, ids) for _, ids in entries]))[2]]
    else:
        blocks = [bits_row(encode_bits(ids)) for _, ids in entries]
    merged = union_bits(blocks, groups, 4, width_bits)
    assert merged.shape == (4, width_bits)
    for group in range(4):
        expected = sorted({blog for g, ids in entries if g == group for blog in ids if blog < width_bits})
        assert np.flatnonzero(merged[group]).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.sets(st.integers(min_value=0, max_value=2**32 - 1), max_size=200),
        st.sets(st.integers(min_value=0, max_value=2_000), max_size=600),
    ).map(sorted)
)
def test_blog_sets_are_portable_roaring_bitmaps_or_bitsets(ids: list[int]) -> None:
    """A blog set is a bitset, or a roaring bitmap (a quarter of the bitset's bytes at most) that any reader of the
    portable format (here pyroaring's own deserialiser) reads back."""
    blob = encode_bits(ids)
    assert decode_set(blob).tolist() == ids
    if ids and ids[-1] < 1_000_000:  # unpacked, a bitset over ids near 2**32 would be half a gigabyte
        assert np.flatnonzero(np.unpackbits(bits_row(blob)[0], bitorder="little")).tolist() == ids
    if blob and blob[0] == 1:
        assert list(BitMap.deserialize(blob[1:])) == ids
    elif blob:
        assert len(blob) - 1 == ids[-1] // 8 + 1


def test_a_blog_set_costs_the_blogs_present_not_the_largest_id() -> None:
    """500 blogs among 1,000,000: about 1 kB, where a bitset over the ids took 125 kB (issue #9)."""
    ids = np.sort(np.random.default_rng(9).choice(1_000_000, size=500, replace=False))
    assert len(encode_bits(ids)) < 2_000
    dense = np.arange(0, 100_000, 2)  # half of 100,000 blogs: a bitset, no bigger than 12,500 bytes and its tag
    assert len(encode_bits(dense)) == 12_501
    assert len(encode_country_matrix([(1, 500, ids), (2, 3, [7, 999_999])])) < 2_200
    assert np.flatnonzero(np.unpackbits(bits_row(encode_bits(ids))[0], bitorder="little")).tolist() == ids.tolist()


def test_blobs_read_back_from_psycopg2_memoryviews() -> None:
    """psycopg2 hands bytea over as a memoryview of format 'c', whose items are one-byte ``bytes``, not ints."""
    dense, sparse = list(range(0, 600, 3)), [5, 70_000, 999_999]
    for ids in (dense, sparse):
        blob: Any = memoryview(encode_bits(ids)).cast("c")
        assert decode_set(blob).tolist() == ids
        assert np.flatnonzero(np.unpackbits(bits_row(blob)[0], bitorder="little")).tolist() == ids
    matrix: Any = memoryview(encode_country_matrix([(1, 1, dense), (2, 1, sparse)])).cast("c")
    _, _, rows = decode_country_matrix(matrix)
    assert [np.flatnonzero(np.unpackbits(row, bitorder="little")).tolist() for row in rows] == [dense, sparse]


def test_a_blog_id_past_32_bits_is_refused_not_wrapped() -> None:
    with pytest.raises(ValueError, match="4,294,967,295"):
        encode_bits([1, 2**32])
