"""Calendar arithmetic in the reporting timezone (SPEC §2): local midnights and aligned periods."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from django.conf import settings


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


def reporting_tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def local_midnight(day: date) -> datetime:
    """The first instant of ``day`` in the reporting timezone."""
    return datetime.combine(day, time.min, tzinfo=reporting_tz())


def local_date(instant: datetime) -> date:
    return instant.astimezone(reporting_tz()).date()


def period_start(day: date, granularity: Granularity) -> date:
    """The first day of the calendar period holding ``day`` (weeks start on Monday)."""
    if granularity is Granularity.DAY:
        return day
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_period_start(start: date, granularity: Granularity) -> date:
    if granularity is Granularity.DAY:
        return start + timedelta(days=1)
    if granularity is Granularity.WEEK:
        return start + timedelta(days=7)
    if granularity is Granularity.MONTH:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date(start.year + 1, 1, 1)


def previous_period_start(start: date, granularity: Granularity) -> date:
    return period_start(start - timedelta(days=1), granularity)


def period_starts(first_day: date, last_day: date, granularity: Granularity) -> Iterator[date]:
    """Starts of every period that overlaps the days ``first_day``..``last_day`` (inclusive), in order."""
    current = period_start(first_day, granularity)
    while current <= last_day:
        yield current
        current = next_period_start(current, granularity)


def count_periods(first_day: date, last_day: date, granularity: Granularity) -> int:
    """How many periods ``period_starts`` would yield, without iterating them."""
    first = period_start(first_day, granularity)
    last = period_start(last_day, granularity)
    if last < first:
        return 0
    if granularity is Granularity.DAY:
        return (last - first).days + 1
    if granularity is Granularity.WEEK:
        return (last - first).days // 7 + 1
    if granularity is Granularity.MONTH:
        return (last.year - first.year) * 12 + last.month - first.month + 1
    return last.year - first.year + 1


def changed_days(buckets: Iterable[datetime]) -> set[date]:
    """The reporting-timezone days an hour bucket (UTC) overlaps: one, or two for a half-hour offset."""
    days: set[date] = set()
    for bucket in buckets:
        days.add(local_date(bucket))
        days.add(local_date(bucket + timedelta(hours=1) - timedelta(microseconds=1)))
    return days


# --- summary block kinds ---------------------------------------------------------------------------------------
# Besides calendar weeks and months, the fold keeps *trailing* blocks: the whole days before today that
# ``range=week|month|year`` ask for (6, 29 and 364 of them; today itself is read raw or from its day block).
TRAILING_DAYS = (364, 29, 6)
TIMELINE_DAYS = 364  # the window of the blog timelines: the longest trailing block's


def trailing_kind(days: int) -> str:
    """The ``PeriodAnalyticsSummary.granularity`` of a trailing block of ``days`` days: ``"364d"``."""
    return f"{days}d"


def block_end(kind: str, start: date) -> date:
    """The day after the last day of the period block of ``kind`` (week, month or trailing) starting ``start``."""
    if kind.endswith("d"):
        return start + timedelta(days=int(kind[:-1]))
    return next_period_start(start, Granularity(kind))
