"""What the analytics endpoints compute: ordered ``Row(x, y, z)`` lists (SPEC §5) and one ``Totals`` (SPEC §8)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    """One answer row. ``key`` names the group the row counts (country code, username or blog id; the period's
    first day for performance): titles repeat, so ``compare_to`` matches rows by key, never by ``x``."""

    x: str
    y: int
    z: int | float | None
    key: str | int | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    """Matching views, and the distinct blogs, authors and (named) countries among them."""

    views: int
    blogs: int
    authors: int
    countries: int


NO_TOTALS = Totals(0, 0, 0, 0)
