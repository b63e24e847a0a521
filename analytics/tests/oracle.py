"""A naive, ORM-free model of SPEC §2, §3 and §5, used as the oracle of the differential tests.

Everything here is a direct, slow reading of the contract over plain Python records: no Django, no SQL,
no pre-aggregates. The API must answer exactly what these functions compute (SPEC §4).
All instants are kept in UTC so that comparisons never depend on a wall clock (Python compares aware
datetimes sharing one tzinfo by wall time, which is wrong across a DST fold).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

RANGE_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}  # SPEC §2
TOP_DEFAULT_LIMIT = 10  # SPEC §5
ONE_SECOND = timedelta(seconds=1)
ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class BlogRecord:
    id: int
    title: str
    author: str  # the author's username
    created_at: datetime  # aware


@dataclass(frozen=True)
class ViewRecord:
    blog: BlogRecord
    country: str | None  # upper-case code, None for a view with no country
    timestamp: datetime  # aware


@dataclass(frozen=True)
class Events:
    """Every blog (viewed or not: the "created" metric counts both) and every view."""

    blogs: tuple[BlogRecord, ...]
    views: tuple[ViewRecord, ...]


@dataclass(frozen=True)
class Window:
    """``lower <= t < upper``; None is an open end (SPEC §2: no time filter = all time)."""

    lower: datetime | None
    upper: datetime | None

    def contains(self, instant: datetime) -> bool:
        return (self.lower is None or instant >= self.lower) and (self.upper is None or instant < self.upper)


class BadRequest(Exception):
    """The API must answer 400 (SPEC §2: start_date after end_date)."""


Row = dict[str, Any]


# --- time (SPEC §2) -----------------------------------------------------------------------------------------------


def day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant of a reporting-timezone day, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def local_day(instant: datetime, zone: tzinfo) -> date:
    return instant.astimezone(zone).date()


def _parse_bound(text: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """The [first, after-last) instants a start_date/end_date value covers.

    A date is the whole reporting-timezone day; a datetime is honoured to the second, so its second is
    covered entirely (13:00:00 covers up to 13:00:00.999999). A naive datetime is in the reporting timezone.
    """
    if len(text) == 10:
        day = date.fromisoformat(text)
        return day_start(day, zone), day_start(day + timedelta(days=1), zone)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    first = moment.astimezone(UTC).replace(microsecond=0)
    return first, first + ONE_SECOND


def resolve_window(request: dict[str, Any], *, now: datetime, zone: tzinfo) -> Window:
    """The intersection of range, year, start_date and end_date (SPEC §2)."""
    lowers: list[datetime] = []
    uppers: list[datetime] = []
    today = local_day(now, zone)
    if "range" in request:
        days = RANGE_DAYS[request["range"]]
        lowers.append(day_start(today - timedelta(days=days - 1), zone))
        uppers.append(day_start(today + timedelta(days=1), zone))
    if "year" in request:
        lowers.append(day_start(date(request["year"], 1, 1), zone))
        uppers.append(day_start(date(request["year"] + 1, 1, 1), zone))
    start = _parse_bound(request["start_date"], zone)[0] if "start_date" in request else None
    end = _parse_bound(request["end_date"], zone)[1] if "end_date" in request else None
    if start is not None and end is not None and start >= end:
        raise BadRequest("start_date is after end_date")
    if start is not None:
        lowers.append(start)
    if end is not None:
        uppers.append(end)
    return Window(max(lowers) if lowers else None, min(uppers) if uppers else None)


# --- filters (SPEC §3) --------------------------------------------------------------------------------------------


def _codes(values: Iterable[str]) -> set[str]:
    return {value.upper() for value in values}


def _field_value(view_or_blog: ViewRecord | BlogRecord, field: str) -> Any:
    blog = view_or_blog.blog if isinstance(view_or_blog, ViewRecord) else view_or_blog
    if field == "country":
        assert isinstance(view_or_blog, ViewRecord), "a tree naming country never restricts blogs"
        return view_or_blog.country
    if field == "author":
        return blog.author
    if field == "blog":
        return blog.id
    if field == "blog_title":
        return blog.title
    raise ValueError(field)


def _equals(field: str, actual: Any, wanted: Any) -> bool:
    if field == "country":
        # Case-insensitive; a view with no country equals no code (so ``not`` of it holds).
        return actual is not None and actual == str(wanted).upper()
    return actual == wanted


def evaluate_tree(node: dict[str, Any], subject: ViewRecord | BlogRecord) -> bool:
    """The boolean filter tree of SPEC §3 on one view (or, for the "created" metric, one blog)."""
    ((operator, operand),) = node.items()
    if operator == "and":
        return all(evaluate_tree(child, subject) for child in operand)
    if operator == "or":
        return any(evaluate_tree(child, subject) for child in operand)
    if operator == "not":
        return not evaluate_tree(operand, subject)
    if operator == "eq":
        field = operand["field"]
        return _equals(field, _field_value(subject, field), operand["value"])
    if operator == "in":
        field = operand["field"]
        actual = _field_value(subject, field)
        return any(_equals(field, actual, value) for value in operand["values"])
    if operator == "contains":
        assert operand["field"] == "blog_title"
        return operand["value"].lower() in _field_value(subject, "blog_title").lower()
    raise ValueError(operator)


def tree_names_country(node: dict[str, Any]) -> bool:
    ((operator, operand),) = node.items()
    if operator in ("and", "or"):
        return any(tree_names_country(child) for child in operand)
    if operator == "not":
        return tree_names_country(operand)
    return operand["field"] == "country"


def matches_filters(view: ViewRecord, request: dict[str, Any]) -> bool:
    """The flat fields and the tree, ANDed (SPEC §3); no time filter."""
    if "country_codes" in request and (view.country is None or view.country not in _codes(request["country_codes"])):
        return False
    if "exclude_country_codes" in request and view.country in _codes(request["exclude_country_codes"]):
        return False
    if "author_username" in request and view.blog.author != request["author_username"]:
        return False
    if "blog_id" in request and view.blog.id != request["blog_id"]:
        return False
    return "filters" not in request or evaluate_tree(request["filters"], view)


def blog_counts_as_created(blog: BlogRecord, request: dict[str, Any]) -> bool:
    """SPEC §5: author_username, blog_id and a tree naming no country restrict creations; country filters don't."""
    if "author_username" in request and blog.author != request["author_username"]:
        return False
    if "blog_id" in request and blog.id != request["blog_id"]:
        return False
    tree = request.get("filters")
    return tree is None or tree_names_country(tree) or evaluate_tree(tree, blog)


def matching_views(events: Events, request: dict[str, Any], *, now: datetime, zone: tzinfo) -> list[ViewRecord]:
    window = resolve_window(request, now=now, zone=zone)
    return [view for view in events.views if window.contains(view.timestamp) and matches_filters(view, request)]


# --- grouped endpoints (SPEC §5) ----------------------------------------------------------------------------------


def _grouped(views: list[ViewRecord], key: Callable[[ViewRecord], Any]) -> dict[Any, list[ViewRecord]]:
    groups: dict[Any, list[ViewRecord]] = {}
    for view in views:
        group = key(view)
        if group is not None:
            groups.setdefault(group, []).append(view)
    return groups


def _distinct_blogs(views: Iterable[ViewRecord]) -> int:
    return len({view.blog.id for view in views})


def _limited(rows: list[Row], limit: int | None) -> list[Row]:
    return rows if limit is None else rows[:limit]


def blog_views(events: Events, request: dict[str, Any], object_type: str, *, now: datetime, zone: tzinfo) -> list[Row]:
    """``blog-views/country|user``: x = code | username, y = distinct blogs, z = views; z desc, x asc."""
    key: Callable[[ViewRecord], Any] = (lambda v: v.country) if object_type == "country" else (lambda v: v.blog.author)
    groups = _grouped(matching_views(events, request, now=now, zone=zone), key)
    rows = [{"x": x, "y": _distinct_blogs(views), "z": len(views)} for x, views in groups.items()]
    rows.sort(key=lambda row: (-row["z"], row["x"]))
    return _limited(rows, request.get("limit"))


def top(events: Events, request: dict[str, Any], top_type: str, *, now: datetime, zone: tzinfo) -> list[Row]:
    """``top/blog|user|country``: the top ``limit`` (default 10) groups by views (SPEC §5)."""
    views = matching_views(events, request, now=now, zone=zone)
    limit = request.get("limit", TOP_DEFAULT_LIMIT)
    if top_type == "blog":
        by_blog = _grouped(views, lambda v: v.blog)
        ranked = sorted(by_blog.items(), key=lambda item: (-len(item[1]), item[0].id))
        rows = [
            {"x": blog.title, "y": len(group), "z": len({v.country for v in group if v.country is not None})}
            for blog, group in ranked
        ]
        return rows[:limit]
    key: Callable[[ViewRecord], Any] = (lambda v: v.blog.author) if top_type == "user" else (lambda v: v.country)
    rows = [{"x": x, "y": len(group), "z": _distinct_blogs(group)} for x, group in _grouped(views, key).items()]
    rows.sort(key=lambda row: (-row["y"], row["x"]))
    return rows[:limit]


# --- performance (SPEC §5) ----------------------------------------------------------------------------------------


def period_start(day: date, compare: str) -> date:
    """The first day of the calendar period holding ``day`` (weeks start on Monday)."""
    if compare == "day":
        return day
    if compare == "week":
        return day - timedelta(days=day.weekday())
    if compare == "month":
        return day.replace(day=1)
    return date(day.year, 1, 1)


def next_period_start(first: date, compare: str) -> date:
    if compare == "day":
        return first + timedelta(days=1)
    if compare == "week":
        return first + timedelta(days=7)
    if compare == "month":
        return date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return date(first.year + 1, 1, 1)


def previous_period_start(first: date, compare: str) -> date:
    return period_start(first - timedelta(days=1), compare)


def default_compare(days: int) -> str:
    """SPEC §5: from the window length in days, both end days counted."""
    if days > 365:
        return "month"
    if days > 30:
        return "week"
    return "day"


def performance(
    events: Events, request: dict[str, Any], *, now: datetime, zone: tzinfo, x_metric: str = "viewed"
) -> list[Row]:
    """One row per calendar period overlapping the window, zero-filled, chronological (SPEC §5)."""
    window = resolve_window(request, now=now, zone=zone)
    filtered = [view for view in events.views if matches_filters(view, request)]
    upper = window.upper if window.upper is not None else day_start(local_day(now, zone) + timedelta(days=1), zone)
    lower = window.lower
    if lower is None:
        candidates = [view.timestamp for view in filtered if view.timestamp < upper]
        if not candidates:
            return []
        lower = day_start(local_day(min(candidates), zone), zone)
    if lower >= upper:
        return []
    first_day, last_day = local_day(lower, zone), local_day(upper - ONE_MICROSECOND, zone)
    compare = request.get("compare") or default_compare((last_day - first_day).days + 1)

    def views_between(start: datetime, end: datetime) -> list[ViewRecord]:
        return [view for view in filtered if start <= view.timestamp < end]

    first = period_start(first_day, compare)
    previous = len(views_between(day_start(previous_period_start(first, compare), zone), day_start(first, zone)))
    rows: list[Row] = []
    while first <= last_day:
        following = next_period_start(first, compare)
        start, end = day_start(first, zone), day_start(following, zone)
        counted = views_between(max(start, lower), min(end, upper))
        if x_metric == "created":
            blogs = sum(1 for b in events.blogs if start <= b.created_at < end and blog_counts_as_created(b, request))
        else:
            blogs = _distinct_blogs(counted)
        views = len(counted)
        growth = None if previous == 0 else round((views - previous) / previous * 100, 2)
        rows.append({"x": f"{first.isoformat()} ({blogs} blogs)", "y": views, "z": growth})
        previous = views
        first = following
    return rows


def answer(
    events: Events, path: str, request: dict[str, Any], *, now: datetime, zone_name: str, x_metric: str = "viewed"
) -> list[Row]:
    """The expected JSON body for ``POST /api/analytics/<path>/`` (raises BadRequest for an expected 400)."""
    zone = ZoneInfo(zone_name)
    kind, _, name = path.partition("/")
    if kind == "blog-views":
        return blog_views(events, request, name, now=now, zone=zone)
    if kind == "top":
        return top(events, request, name, now=now, zone=zone)
    if kind == "performance":
        return performance(events, request, now=now, zone=zone, x_metric=x_metric)
    raise ValueError(path)
