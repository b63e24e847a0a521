"""``summaries.distinct_counts``: both of its ways (a dense table, sorting the entries) count what a set would."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from analytics.selectors.summaries import distinct_counts

entries = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 40), st.integers(-3, 3)), max_size=60)


def _oracle(rows: list[tuple[int, int, int]], groups: int, weighted: bool) -> list[int]:
    sums: dict[tuple[int, int], int] = {}
    for group, member, weight in rows:
        sums[(group, member)] = sums.get((group, member), 0) + (weight if weighted else 1)
    return [sum(1 for (g, _), total in sums.items() if g == group and total > 0) for group in range(groups)]


@given(rows=entries, weighted=st.booleans(), members=st.sampled_from([41, 100_000]))
def test_distinct_counts_equal_a_set_count(rows, weighted, members):
    """41 members: the dense table; 100,000: far more cells than entries, so the entries are sorted."""
    groups = np.array([row[0] for row in rows], dtype=np.int64)
    member = np.array([row[1] for row in rows], dtype=np.int64)
    weights = np.array([row[2] for row in rows], dtype=np.int64) if weighted else None
    counts = distinct_counts(groups, member, 6, members, weights=weights)
    assert counts.tolist() == _oracle(rows, 6, weighted)
