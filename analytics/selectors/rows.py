"""What the analytics endpoints compute: ordered ``Row(x, y, z)`` lists (SPEC §5) and one ``Totals`` (SPEC §8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Row(NamedTuple):
    """One answer row. ``key`` names the group the row counts (country code, username or blog id; the period's
    first day for performance): titles repeat, so ``compare_to`` matches rows by key, never by ``x``. A named tuple:
    built in a third of a frozen dataclass's time, which counts for the thousands of rows of a by-author answer."""

    x: str
    y: int
    z: int | float | None
    key: str | int | None = None


class Rows(list[Row]):
    """Ordered rows cut to the query's ``limit``, and ``total``: how many groups there were before the cut (the
    API's ``X-Total-Count``), so paging never needs every group's title or username."""

    def __init__(self, rows: list[Row], total: int | None = None) -> None:
        super().__init__(rows)
        self.total = len(rows) if total is None else total


def first(rows: list[Row], limit: int | None) -> Rows:
    return Rows(rows if limit is None else rows[:limit], total=len(rows))


@dataclass(frozen=True, slots=True)
class Totals:
    """Matching views, and the distinct blogs, authors and (named) countries among them."""

    views: int
    blogs: int
    authors: int
    countries: int


NO_TOTALS = Totals(0, 0, 0, 0)
