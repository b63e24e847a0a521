"""Reads. ``reference`` scans raw ``BlogView`` rows (the oracle); ``summaries`` answers from the fold's blocks.

``IDEEZA_QUERY_ENGINE`` picks the one the API uses (default ``summaries``); both give the same numbers.
"""

from __future__ import annotations

from types import ModuleType

from django.conf import settings

ENGINES = ("summaries", "reference")


def engine() -> ModuleType:
    from analytics.selectors import reference, summaries

    return reference if settings.IDEEZA_QUERY_ENGINE == "reference" else summaries
