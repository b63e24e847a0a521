"""Request bodies → one normalised, hashable query object (SPEC §2, §3, §5). Parsing and validation only.

Every problem found is reported at once, keyed by its path in the body (``filters.and[1].eq.field``), through
``RequestValidationError``; nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from analytics.periods import Granularity, local_date, local_midnight, reporting_tz
from ideeza.exceptions import RequestValidationError

# --- limits (SPEC §3, §5; the ones SPEC leaves open are documented in docs/api.md) ---------------------------
MAX_TREE_DEPTH = 8
MAX_TREE_NODES = 100
MAX_IN_VALUES = 1_000
MAX_LIST_VALUES = 1_000
MAX_STRING_LENGTH = 255
MAX_DB_INT = 2**63 - 1
TOP_LIMIT_MAX = 100
TOP_LIMIT_DEFAULT = 10
BLOG_VIEWS_LIMIT_MAX = 10_000
OFFSET_MAX = 1_000_000
YEAR_MIN, YEAR_MAX = 2000, 2100
DATE_YEAR_MIN, DATE_YEAR_MAX = 1900, 2100
MAX_PERFORMANCE_PERIODS = 10_000
RANGE_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}

# --- error messages (tests import these) ----------------------------------------------------------------------
MSG_BODY_NOT_OBJECT = "The request body must be a JSON object."
MSG_UNKNOWN_KEY = "Unknown key; allowed keys are: {allowed}."
MSG_NOT_STRING = "Must be a string."
MSG_NOT_INTEGER = "Must be an integer."
MSG_NOT_LIST = "Must be a list."
MSG_NOT_OBJECT = "Must be an object."
MSG_REQUIRED = "This key is required."
MSG_EMPTY_LIST = "Must not be empty."
MSG_TOO_MANY_VALUES = "At most {limit} values are allowed."
MSG_STRING_TOO_LONG = "At most {limit} characters are allowed."
MSG_NUL_CHARACTER = "Must not contain NUL characters."
MSG_OUT_OF_RANGE = "Must be between {low} and {high}."
MSG_CHOICE = "Must be one of: {choices}."
MSG_BAD_DATE = "Must be an ISO 8601 date (2025-01-31) or datetime (2025-01-31T13:00:00+01:00)."
MSG_DATE_OUT_OF_RANGE = f"Must fall in the years {DATE_YEAR_MIN}-{DATE_YEAR_MAX}."
MSG_START_AFTER_END = "start_date must not be after end_date."
MSG_NODE_ONE_KEY = "A filter node must have exactly one key: and, or, not, eq, in or contains."
MSG_UNKNOWN_OPERATOR = "Unknown operator; use one of: and, or, not, eq, in, contains."
MSG_UNKNOWN_FIELD = "Unknown field; use one of: {fields}."
MSG_CONTAINS_FIELD = "contains only applies to the field blog_title."
MSG_TREE_TOO_DEEP = f"The filter tree is deeper than {MAX_TREE_DEPTH} levels."
MSG_TREE_TOO_LARGE = f"The filter tree has more than {MAX_TREE_NODES} nodes."
MSG_TOO_MANY_PERIODS = (
    "The window holds {count} periods of a {compare}; at most "
    f"{MAX_PERFORMANCE_PERIODS:,} are served. Choose a coarser compare or a shorter window."
)


class Endpoint(StrEnum):
    BLOG_VIEWS = "blog_views"
    TOP = "top"
    PERFORMANCE = "performance"
    TOTALS = "totals"


class Comparison(StrEnum):
    """SPEC §8: the window ``previous`` is computed over."""

    PREVIOUS_PERIOD = "previous_period"
    PREVIOUS_YEAR = "previous_year"


class Dimension(StrEnum):
    """What a filter field is a predicate on: the viewed blog (author, title and id are blog attributes) or the
    viewer's country. The fast path answers blog predicates in the database as sets of blog ids and country
    predicates on the country codes (docs/design.md, "What every answer needs")."""

    BLOG = "blog"
    COUNTRY = "country"


class TreeField(StrEnum):
    COUNTRY = "country"
    AUTHOR = "author"
    BLOG = "blog"
    BLOG_TITLE = "blog_title"

    @property
    def dimension(self) -> Dimension:
        return Dimension.COUNTRY if self is TreeField.COUNTRY else Dimension.BLOG


class Operator(StrEnum):
    EQ = "eq"
    IN = "in"
    CONTAINS = "contains"


# --- the normalised query ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Leaf:
    """``eq`` is stored as ``in`` with one value; country codes are stored upper-case."""

    op: Operator
    field: TreeField
    values: tuple[str | int, ...]


@dataclass(frozen=True)
class BoolNode:
    op: str  # "and" | "or"
    children: tuple[Node, ...]


@dataclass(frozen=True)
class NotNode:
    child: Node


Node = Leaf | BoolNode | NotNode


@dataclass(frozen=True)
class Window:
    """The half-open interval ``[start, end)`` of aware instants; ``None`` is an open end."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start >= self.end


@dataclass(frozen=True)
class ViewFilters:
    """The non-time filters, ANDed (SPEC §3)."""

    country_codes: frozenset[str] | None = None
    exclude_country_codes: frozenset[str] | None = None
    author_username: str | None = None
    blog_id: int | None = None
    tree: Node | None = None
    # SPEC §9: the caller's scope (never part of a body, set by ``analytics.scopes``). It restricts views like an
    # author leaf ANDed to the tree, and creations like ``author_username``, whatever the tree names.
    scope_author: str | None = None

    @property
    def names_country_in_tree(self) -> bool:
        return tree_names_country(self.tree)


@dataclass(frozen=True)
class AnalyticsQuery:
    """One parsed request. Selectors read the window, filters, ``limit`` and ``compare``; ``offset`` and
    ``compare_to`` shape the answer around them (analytics/api/answers.py)."""

    window: Window = field(default_factory=Window)
    filters: ViewFilters = field(default_factory=ViewFilters)
    limit: int | None = None
    compare: Granularity | None = None
    offset: int = 0
    compare_to: Comparison | None = None


def tree_names_country(node: Node | None) -> bool:
    if node is None:
        return False
    if isinstance(node, Leaf):
        return node.field.dimension is Dimension.COUNTRY
    if isinstance(node, NotNode):
        return tree_names_country(node.child)
    return any(tree_names_country(child) for child in node.children)


# --- parsing -------------------------------------------------------------------------------------------------
_COMMON_KEYS = (
    "range",
    "year",
    "start_date",
    "end_date",
    "country_codes",
    "exclude_country_codes",
    "author_username",
    "blog_id",
    "filters",
)
ALLOWED_KEYS: dict[Endpoint, tuple[str, ...]] = {
    Endpoint.BLOG_VIEWS: (*_COMMON_KEYS, "limit", "offset", "compare_to"),
    Endpoint.TOP: (*_COMMON_KEYS, "limit", "offset", "compare_to"),
    Endpoint.PERFORMANCE: (*_COMMON_KEYS, "compare", "compare_to"),
    Endpoint.TOTALS: (*_COMMON_KEYS, "compare_to"),
}
PAGED = (Endpoint.BLOG_VIEWS, Endpoint.TOP)


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.fields.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise RequestValidationError(self.fields)


def _string(value: Any, path: str, errors: _Errors) -> str | None:
    if not isinstance(value, str):
        errors.add(path, MSG_NOT_STRING)
        return None
    if "\x00" in value:
        errors.add(path, MSG_NUL_CHARACTER)
        return None
    if len(value) > MAX_STRING_LENGTH:
        errors.add(path, MSG_STRING_TOO_LONG.format(limit=MAX_STRING_LENGTH))
        return None
    return value


def _integer(value: Any, path: str, errors: _Errors, low: int, high: int) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool):
        errors.add(path, MSG_NOT_INTEGER)
        return None
    if not low <= value <= high:
        errors.add(path, MSG_OUT_OF_RANGE.format(low=low, high=high))
        return None
    return value


def _choice(value: Any, path: str, errors: _Errors, choices: tuple[str, ...]) -> str | None:
    if not isinstance(value, str) or value not in choices:
        errors.add(path, MSG_CHOICE.format(choices=", ".join(choices)))
        return None
    return value


def _code_list(value: Any, path: str, errors: _Errors) -> frozenset[str] | None:
    if not _bounded_list(value, path, errors, MAX_LIST_VALUES):
        return None
    codes = [_string(item, f"{path}[{index}]", errors) for index, item in enumerate(value)]
    if any(code is None for code in codes):
        return None
    return frozenset(code.upper() for code in codes if code is not None)


def _bound(value: Any, path: str, errors: _Errors, *, is_end: bool) -> datetime | None:
    """A date or datetime bound as an aware instant: a start is inclusive, an end is returned exclusive."""
    if not isinstance(value, str) or "\x00" in value or len(value) > 64:
        errors.add(path, MSG_BAD_DATE)
        return None
    text = value.strip()
    parsed: date | datetime
    try:
        parsed = date.fromisoformat(text) if len(text) <= 10 else datetime.fromisoformat(text)
    except ValueError:
        errors.add(path, MSG_BAD_DATE)
        return None
    if not DATE_YEAR_MIN <= parsed.year <= DATE_YEAR_MAX:
        errors.add(path, MSG_DATE_OUT_OF_RANGE)
        return None
    if not isinstance(parsed, datetime):
        return local_midnight(parsed + timedelta(days=1) if is_end else parsed)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=reporting_tz())
    # Bounds are honoured to the second, both inclusive: an end of 13:00:00 keeps 13:00:00.999.
    instant = parsed.replace(microsecond=0).astimezone(reporting_tz())
    return instant + timedelta(seconds=1) if is_end else instant


def _node(value: Any, path: str, depth: int, errors: _Errors, counter: list[int]) -> Node | None:
    counter[0] += 1
    if depth > MAX_TREE_DEPTH:
        errors.add(path, MSG_TREE_TOO_DEEP)
        return None
    if counter[0] > MAX_TREE_NODES:
        errors.add(path, MSG_TREE_TOO_LARGE)
        return None
    if not isinstance(value, dict):
        errors.add(path, MSG_NOT_OBJECT)
        return None
    if len(value) != 1:
        errors.add(path, MSG_NODE_ONE_KEY)
        return None
    ((op, body),) = value.items()
    sub = f"{path}.{op}"
    if op in ("and", "or"):
        if not isinstance(body, list):
            errors.add(sub, MSG_NOT_LIST)
            return None
        if not body:
            errors.add(sub, MSG_EMPTY_LIST)
            return None
        if len(body) > MAX_TREE_NODES:
            errors.add(path, MSG_TREE_TOO_LARGE)
            return None
        children = [_node(child, f"{sub}[{index}]", depth + 1, errors, counter) for index, child in enumerate(body)]
        if any(child is None for child in children):
            return None
        return BoolNode(op, tuple(child for child in children if child is not None))
    if op == "not":
        child = _node(body, sub, depth + 1, errors, counter)
        return None if child is None else NotNode(child)
    if op in ("eq", "in", "contains"):
        return _leaf(Operator(op), body, sub, errors)
    errors.add(path, MSG_UNKNOWN_OPERATOR)
    return None


def _leaf_keys_ok(body: dict[str, Any], value_key: str, path: str, errors: _Errors) -> bool:
    ok = True
    for key in body:
        if key not in ("field", value_key):
            errors.add(f"{path}.{key}", MSG_UNKNOWN_KEY.format(allowed=f"field, {value_key}"))
            ok = False
    for key in ("field", value_key):
        if key not in body:
            errors.add(f"{path}.{key}", MSG_REQUIRED)
            ok = False
    return ok


def _leaf_field(op: Operator, raw: Any, path: str, errors: _Errors) -> TreeField | None:
    if not isinstance(raw, str) or raw not in {member.value for member in TreeField}:
        errors.add(path, MSG_UNKNOWN_FIELD.format(fields=", ".join(TreeField)))
        return None
    if op is Operator.CONTAINS and raw != TreeField.BLOG_TITLE:
        errors.add(path, MSG_CONTAINS_FIELD)
        return None
    return TreeField(raw)


def _leaf_value(tree_field: TreeField, raw: Any, path: str, errors: _Errors) -> str | int | None:
    if tree_field is TreeField.BLOG:
        return _integer(raw, path, errors, 1, MAX_DB_INT)
    text = _string(raw, path, errors)
    return text.upper() if text is not None and tree_field.dimension is Dimension.COUNTRY else text


def _leaf(op: Operator, body: Any, path: str, errors: _Errors) -> Leaf | None:
    if not isinstance(body, dict):
        errors.add(path, MSG_NOT_OBJECT)
        return None
    value_key = "values" if op is Operator.IN else "value"
    if not _leaf_keys_ok(body, value_key, path, errors):
        return None
    tree_field = _leaf_field(op, body["field"], f"{path}.field", errors)
    if tree_field is None:
        return None

    raw_values = body[value_key] if op is Operator.IN else [body[value_key]]
    values_path = f"{path}.{value_key}"
    if op is Operator.IN and not _bounded_list(raw_values, values_path, errors, MAX_IN_VALUES):
        return None
    values = [
        _leaf_value(tree_field, raw, f"{values_path}[{index}]" if op is Operator.IN else values_path, errors)
        for index, raw in enumerate(raw_values)
    ]
    if any(value is None for value in values):
        return None
    # Sorted and de-duplicated so that equal trees make equal (and equally hashed) query objects.
    unique = tuple(sorted({value for value in values if value is not None}, key=lambda item: (str(type(item)), item)))
    return Leaf(Operator.IN if op is Operator.EQ else op, tree_field, unique)


def _bounded_list(value: Any, path: str, errors: _Errors, limit: int) -> bool:
    if not isinstance(value, list):
        errors.add(path, MSG_NOT_LIST)
    elif not value:
        errors.add(path, MSG_EMPTY_LIST)
    elif len(value) > limit:
        errors.add(path, MSG_TOO_MANY_VALUES.format(limit=limit))
    else:
        return True
    return False


def _window(body: Mapping[str, Any], errors: _Errors, now: datetime) -> Window:
    """SPEC §2: range, year and the two bounds, intersected."""
    bounds: list[tuple[datetime | None, datetime | None]] = []
    today = local_date(now)
    if "range" in body:
        if (choice := _choice(body["range"], "range", errors, tuple(RANGE_DAYS))) is not None:
            first = today - timedelta(days=RANGE_DAYS[choice] - 1)
            bounds.append((local_midnight(first), local_midnight(today + timedelta(days=1))))
    if "year" in body:
        if (year := _integer(body["year"], "year", errors, YEAR_MIN, YEAR_MAX)) is not None:
            bounds.append((local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1))))
    start = _bound(body["start_date"], "start_date", errors, is_end=False) if "start_date" in body else None
    end = _bound(body["end_date"], "end_date", errors, is_end=True) if "end_date" in body else None
    if start is not None and end is not None and start >= end:
        errors.add("start_date", MSG_START_AFTER_END)
    bounds.append((start, end))

    starts = [lower for lower, _ in bounds if lower is not None]
    ends = [upper for _, upper in bounds if upper is not None]
    return Window(max(starts) if starts else None, min(ends) if ends else None)


def _view_filters(body: Mapping[str, Any], errors: _Errors) -> ViewFilters:
    """SPEC §3: the flat fields and the tree."""

    def present(key: str, parse: Any, *args: Any) -> Any:
        return parse(body[key], key, errors, *args) if key in body else None

    return ViewFilters(
        country_codes=present("country_codes", _code_list),
        exclude_country_codes=present("exclude_country_codes", _code_list),
        author_username=present("author_username", _string),
        blog_id=present("blog_id", _integer, 1, MAX_DB_INT),
        tree=_node(body["filters"], "filters", 1, errors, [0]) if "filters" in body else None,
    )


def parse_query(body: Any, *, endpoint: Endpoint, now: datetime) -> AnalyticsQuery:
    """Validate a request body and resolve it, with ``now``, into an ``AnalyticsQuery``."""
    errors = _Errors()
    if not isinstance(body, Mapping):
        raise RequestValidationError({"": [MSG_BODY_NOT_OBJECT]}, message=MSG_BODY_NOT_OBJECT)
    allowed = ALLOWED_KEYS[endpoint]
    for key in body:
        if key not in allowed:
            errors.add(str(key), MSG_UNKNOWN_KEY.format(allowed=", ".join(allowed)))

    window = _window(body, errors, now)
    filters = _view_filters(body, errors)

    limit: int | None = TOP_LIMIT_DEFAULT if endpoint is Endpoint.TOP else None
    offset: int | None = 0
    if endpoint in PAGED:
        if "limit" in body:
            high = TOP_LIMIT_MAX if endpoint is Endpoint.TOP else BLOG_VIEWS_LIMIT_MAX
            limit = _integer(body["limit"], "limit", errors, 1, high)
        if "offset" in body:
            offset = _integer(body["offset"], "offset", errors, 0, OFFSET_MAX)

    compare_to: Comparison | None = None
    if "compare_to" in body:
        if (choice := _choice(body["compare_to"], "compare_to", errors, tuple(Comparison))) is not None:
            compare_to = Comparison(choice)

    compare: Granularity | None = None
    if "compare" in body and endpoint is Endpoint.PERFORMANCE:
        if (choice := _choice(body["compare"], "compare", errors, tuple(Granularity))) is not None:
            compare = Granularity(choice)

    errors.raise_if_any()
    return AnalyticsQuery(
        window=window, filters=filters, limit=limit, compare=compare, offset=offset or 0, compare_to=compare_to
    )
