"""Reads. ``reference`` scans raw ``BlogView`` rows (the oracle); ``summaries`` answers from the fold's blocks.

Both are ``Engine``s: the same seven selectors, the same numbers. ``IDEEZA_QUERY_ENGINE`` picks the one the API
uses (default ``summaries``; settings checks the name).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

if TYPE_CHECKING:
    from analytics.filters import AnalyticsQuery
    from analytics.selectors.rows import Row, Totals


class Engine(Protocol):
    """What an engine answers: SPEC §5's six questions and §8's totals, each for one parsed request."""

    def blog_views_by_country(self, query: AnalyticsQuery) -> list[Row]: ...
    def blog_views_by_author(self, query: AnalyticsQuery) -> list[Row]: ...
    def top_blogs(self, query: AnalyticsQuery) -> list[Row]: ...
    def top_authors(self, query: AnalyticsQuery) -> list[Row]: ...
    def top_countries(self, query: AnalyticsQuery) -> list[Row]: ...
    def performance(self, query: AnalyticsQuery, *, now: datetime, x_metric: str) -> list[Row]: ...
    def totals(self, query: AnalyticsQuery) -> Totals: ...


def engines() -> dict[str, Engine]:
    from analytics.selectors import reference, summaries

    return {"summaries": summaries, "reference": reference}


def engine() -> Engine:
    """The engine ``IDEEZA_QUERY_ENGINE`` names."""
    return engines()[settings.IDEEZA_QUERY_ENGINE]
