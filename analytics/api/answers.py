"""From selectors to what a response says (SPEC §5, §8): paging, ``compare_to``'s ``previous`` and totals.

An answer is computed in one database snapshot: the current rows, the window's closing and the shifted request's
rows all read the same data, so ``previous`` can never come from a later write than the numbers beside it.
The result is plain JSON-ready data; ``renderers`` turns it into JSON or CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from analytics.filters import AnalyticsQuery, BoolNode, Leaf, Operator, TreeField
from analytics.selectors.framing import previous_query
from analytics.selectors.rows import NO_TOTALS, Row, Totals
from analytics.transactions import repeatable_read

RowsSelector = Callable[[AnalyticsQuery], list[Row]]


@dataclass(frozen=True)
class Answer:
    """The response's data, and for ``blog-views/*`` and ``top/*`` the number of rows before paging."""

    data: list[dict[str, Any]] | dict[str, Any]
    total_count: int | None = None
    compared: bool = False  # under compare_to: rows carry ``previous`` (CSV adds its columns even with no row)


def _row(row: Row) -> dict[str, Any]:
    return {"x": row.x, "y": row.y, "z": row.z}


def grouped(select: RowsSelector, query: AnalyticsQuery, *, now: datetime, group: TreeField) -> Answer:
    """A ``blog-views/*`` or ``top/*`` answer: the groups in order, ``offset`` and ``limit`` applied, and how many
    there were; under ``compare_to`` each row's ``previous`` is its own group's numbers over the shifted window,
    or null. ``group`` is what a row's key names (country, author or blog)."""
    end = None if query.limit is None else query.offset + query.limit
    first_rows = replace(query, limit=end, offset=0, compare_to=None)
    if query.compare_to is None:
        rows = select(first_rows)
        # Inline rather than ``_row`` per row: thousands of authors in a day's by-author answer.
        data = [{"x": row.x, "y": row.y, "z": row.z} for row in rows[query.offset : end]]
        return Answer(data, getattr(rows, "total", len(rows)))
    with repeatable_read(read_only=True):
        rows = select(first_rows)
        shown = rows[query.offset : end]
        before: dict[Any, Row] = {}
        shifted = previous_query(query, now=now)
        if shifted is not None and shown:
            before = {row.key: row for row in select(_only_groups(shifted, group, [row.key for row in shown]))}
    total = getattr(rows, "total", len(rows))
    data = []
    for row in shown:
        other = before.get(row.key)
        data.append(_row(row) | {"previous": None if other is None else {"y": other.y, "z": other.z}})
    return Answer(data, total, compared=True)


def _only_groups(query: AnalyticsQuery, group: TreeField, keys: list[Any]) -> AnalyticsQuery:
    """``query`` restricted to the groups shown: a group's own numbers do not change when views of other groups are
    left out, and the shifted request then never reads every blog's title or every author's name."""
    leaf = Leaf(Operator.IN, group, tuple(keys))
    tree = leaf if query.filters.tree is None else BoolNode("and", (query.filters.tree, leaf))
    return replace(query, limit=None, offset=0, compare_to=None, filters=replace(query.filters, tree=tree))


def performance(select: Callable[..., list[Row]], query: AnalyticsQuery, *, now: datetime, x_metric: str) -> Answer:
    """Periods of the window; under ``compare_to`` row *i* gains row *i* of the shifted request's answer."""
    if query.compare_to is None:
        return Answer([_row(row) for row in select(query, now=now, x_metric=x_metric)])
    with repeatable_read(read_only=True):
        rows = select(query, now=now, x_metric=x_metric)
        shifted = previous_query(query, now=now)
        before = select(shifted, now=now, x_metric=x_metric) if shifted is not None else []
    return Answer(
        [_row(row) | {"previous": _row(before[i]) if i < len(before) else None} for i, row in enumerate(rows)],
        compared=True,
    )


def totals(select: Callable[[AnalyticsQuery], Totals], query: AnalyticsQuery, *, now: datetime) -> Answer:
    """The four totals; under ``compare_to`` also ``previous`` (all zero when the window closes on nothing)."""
    if query.compare_to is None:
        return Answer(asdict(select(query)))
    with repeatable_read(read_only=True):
        current = select(query)
        shifted = previous_query(query, now=now)
        before = select(shifted) if shifted is not None else NO_TOTALS
    return Answer(asdict(current) | {"previous": asdict(before)}, compared=True)
