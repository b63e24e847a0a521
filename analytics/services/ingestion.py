"""Recording blog views: validate events, resolve what they name, store them idempotently (SPEC §1, §4, §7).

The one write path for view rows: the ingestion API stores events through ``views_ingest``, ``seed_data``
through ``view_rows_insert`` (on PostgreSQL it COPYs instead, see ``seeding.seeded_views_insert``). The change
triggers of migration 0002 notice every insert in the same transaction: the summaries read the touched days raw
until the next fold, and the data version the response cache keys on moves on, so an accepted event is in every
answer at once.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Field

from analytics.filters import (
    DATE_YEAR_MAX,
    DATE_YEAR_MIN,
    MAX_DB_INT,
    MSG_DATE_OUT_OF_RANGE,
    MSG_NOT_INTEGER,
    MSG_NOT_STRING,
    MSG_NUL_CHARACTER,
    MSG_OUT_OF_RANGE,
    MSG_REQUIRED,
)
from analytics.models import Blog, BlogView, Country, ViewEventId
from analytics.periods import reporting_tz

EVENT_FIELDS = ("blog_id", "country_code", "viewer_id", "ip_address", "timestamp", "event_id")
MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_TEXT_LENGTH = 64  # no valid timestamp, UUID or IP address is longer; longer text is not parsed at all
MAX_COUNTRY_CODE_LENGTH = Country._meta.get_field("code").max_length or 5
# Rows per INSERT statement (further capped by the backend's bound-parameter limit, e.g. SQLite's 999). On
# PostgreSQL a whole API batch is then one statement, which keeps concurrent batches deadlock-free (see below).
MAX_STATEMENT_ROWS = 1_000

# --- error messages (tests import these) ----------------------------------------------------------------------
MSG_EVENT_NOT_OBJECT = "Each event must be a JSON object."
MSG_UNKNOWN_KEY = f"Unknown key; allowed keys are: {', '.join(EVENT_FIELDS)}."
MSG_ID_OUT_OF_RANGE = MSG_OUT_OF_RANGE.format(low=1, high=MAX_DB_INT)
MSG_UNKNOWN_BLOG = "No blog has this id."
MSG_BLOG_OUT_OF_SCOPE = "This key may only record views of its author's blogs, and none of them has this id."
MSG_UNKNOWN_COUNTRY = "No country has this code."
MSG_UNKNOWN_VIEWER = "No user has this id."
MSG_BAD_IP = "Must be an IPv4 or IPv6 address, e.g. 203.0.113.7 or 2001:db8::1."
MSG_BAD_TIMESTAMP = (
    "Must be an ISO 8601 date and time, e.g. 2025-01-31T13:00:00Z; without an offset it is read in the reporting "
    "timezone."
)
MSG_TIMESTAMP_OUT_OF_RANGE = MSG_DATE_OUT_OF_RANGE
MSG_TIMESTAMP_IN_FUTURE = f"Must not be more than {MAX_FUTURE_SKEW.seconds // 60} minutes in the future."
MSG_BAD_EVENT_ID = "Must be a UUID, e.g. 0f8fad5b-d9cb-469f-a165-70867728950e."


@dataclass(frozen=True)
class Rejection:
    """An event that was not stored: its position in the request and every reason, keyed by field."""

    index: int
    errors: dict[str, list[str]]


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    rejected: tuple[Rejection, ...] = ()


class ViewRow(NamedTuple):
    """One validated view, in the column order of ``analytics_blogview``; ``timestamp`` is aware."""

    blog_id: int
    country_id: int | None
    viewer_id: int | None
    ip_address: str | None
    timestamp: datetime
    event_id: uuid.UUID | None


@dataclass(slots=True)
class _Draft:
    """An event while it is checked: the values parsed so far and the reasons it cannot be stored."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    blog_id: int | None = None
    country_code: str | None = None
    country_id: int | None = None
    viewer_id: int | None = None
    ip_address: str | None = None
    timestamp: datetime | None = None
    event_id: uuid.UUID | None = None

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)


def views_ingest(
    *, events: Sequence[Mapping[str, Any]], now: datetime, author_username: str | None = None
) -> IngestResult:
    """Store every valid event in one transaction; an ``event_id`` already stored (or repeated) is a duplicate.
    With ``author_username`` (an author's API key, SPEC §9) an event of any other blog is rejected."""
    for attempt in (1, 2, 3):
        try:
            return _ingest(events, now, author_username)
        except IntegrityError:
            # A blog, user or country deleted between the lookup and the commit (foreign keys are checked at
            # commit): validate again, so the event is rejected as unknown instead of failing the batch. On a
            # partitioned table, also an event id a concurrent request stored first: the next attempt skips it.
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


def view_rows_insert(*, rows: Sequence[ViewRow]) -> int:
    """Insert validated rows atomically, skipping any whose ``event_id`` is stored already; return how many."""
    if not rows:
        return 0
    with transaction.atomic():
        return _rows_insert(rows)


# --- validation -----------------------------------------------------------------------------------------------
def _ingest(events: Sequence[Mapping[str, Any]], now: datetime, author_username: str | None) -> IngestResult:
    drafts = [_draft(item, now) for item in events]
    _resolve(drafts, author_username)

    rows: list[ViewRow] = []
    rejected: list[Rejection] = []
    seen: set[uuid.UUID] = set()
    repeated = 0
    for index, draft in enumerate(drafts):
        if draft.errors:
            rejected.append(Rejection(index=index, errors=draft.errors))
            continue
        event_id = draft.event_id
        if event_id is not None:
            if event_id in seen:  # the first occurrence in the batch wins
                repeated += 1
                continue
            seen.add(event_id)
        assert draft.blog_id is not None and draft.timestamp is not None  # no errors: both were parsed
        rows.append(
            ViewRow(draft.blog_id, draft.country_id, draft.viewer_id, draft.ip_address, draft.timestamp, event_id)
        )
    inserted = view_rows_insert(rows=rows)
    return IngestResult(accepted=inserted, duplicates=repeated + len(rows) - inserted, rejected=tuple(rejected))


def _draft(item: Any, now: datetime) -> _Draft:
    draft = _Draft()
    if not isinstance(item, Mapping):
        draft.fail("", MSG_EVENT_NOT_OBJECT)
        return draft
    for key in item:
        if key not in EVENT_FIELDS:
            draft.fail(str(key), MSG_UNKNOWN_KEY)
    # A JSON null is the same as leaving an optional key out.
    if (blog_id := item.get("blog_id")) is None:
        draft.fail("blog_id", MSG_REQUIRED)
    else:
        draft.blog_id = _database_id(blog_id, "blog_id", draft)
    if (code := item.get("country_code")) is not None:
        draft.country_code = _country_code(code, draft)
    if (viewer_id := item.get("viewer_id")) is not None:
        draft.viewer_id = _database_id(viewer_id, "viewer_id", draft)
    if (ip := item.get("ip_address")) is not None:
        draft.ip_address = _ip_address(ip, draft)
    if (timestamp := item.get("timestamp")) is not None:
        draft.timestamp = _timestamp(timestamp, now, draft)
    else:
        draft.timestamp = now
    if (event_id := item.get("event_id")) is not None:
        draft.event_id = _event_id(event_id, draft)
    return draft


def _database_id(value: Any, key: str, draft: _Draft) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool):
        draft.fail(key, MSG_NOT_INTEGER)
    elif not 1 <= value <= MAX_DB_INT:
        draft.fail(key, MSG_ID_OUT_OF_RANGE)
    else:
        return value
    return None


def _text(value: Any, key: str, draft: _Draft, message: str) -> str | None:
    """A string worth parsing; otherwise the field's own message (NUL characters get theirs)."""
    if isinstance(value, str) and "\x00" in value:
        draft.fail(key, MSG_NUL_CHARACTER)
    elif not isinstance(value, str) or len(value) > MAX_TEXT_LENGTH:
        draft.fail(key, message)
    else:
        return value
    return None


def _country_code(value: Any, draft: _Draft) -> str | None:
    if not isinstance(value, str):
        draft.fail("country_code", MSG_NOT_STRING)
        return None
    if "\x00" in value:
        draft.fail("country_code", MSG_NUL_CHARACTER)
        return None
    return value.upper()  # codes are stored upper-case and matched case-insensitively (SPEC §3)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)


def _ip_address(value: Any, draft: _Draft) -> str | None:
    text = _text(value, "ip_address", draft, MSG_BAD_IP)
    if text is None:
        return None
    if _CANONICAL_IPV4.fullmatch(text):  # the common case, several times faster than ipaddress
        return text
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    # A zone index (fe80::1%eth0) names an interface of the sender's host; the column cannot hold it.
    if address is None or (isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None):
        draft.fail("ip_address", MSG_BAD_IP)
        return None
    return str(address)


def _timestamp(value: Any, now: datetime, draft: _Draft) -> datetime | None:
    text = _text(value, "timestamp", draft, MSG_BAD_TIMESTAMP)
    if text is None:
        return None
    # A date alone names no instant; fromisoformat would quietly read it as midnight.
    if "T" not in text and "t" not in text and " " not in text:
        draft.fail("timestamp", MSG_BAD_TIMESTAMP)
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        draft.fail("timestamp", MSG_BAD_TIMESTAMP)
        return None
    if not DATE_YEAR_MIN <= parsed.year <= DATE_YEAR_MAX:
        draft.fail("timestamp", MSG_TIMESTAMP_OUT_OF_RANGE)
        return None
    if parsed.tzinfo is None:  # SPEC §2: a datetime without an offset is in the reporting timezone
        parsed = parsed.replace(tzinfo=reporting_tz())
    if parsed > now + MAX_FUTURE_SKEW:
        draft.fail("timestamp", MSG_TIMESTAMP_IN_FUTURE)
        return None
    return parsed


def _event_id(value: Any, draft: _Draft) -> uuid.UUID | None:
    text = _text(value, "event_id", draft, MSG_BAD_EVENT_ID)
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        draft.fail("event_id", MSG_BAD_EVENT_ID)
        return None


def _resolve(drafts: list[_Draft], author_username: str | None) -> None:
    """Reject events naming a blog, country or viewer that does not exist, or a blog outside the author's: one
    query per kind for the batch."""
    blog_ids = {draft.blog_id for draft in drafts if draft.blog_id is not None}
    viewer_ids = {draft.viewer_id for draft in drafts if draft.viewer_id is not None}
    codes = {draft.country_code for draft in drafts if draft.country_code is not None}
    known_blogs = _existing_blog_ids(blog_ids)
    if author_username is not None:
        known_blogs = _author_blog_ids(known_blogs, author_username)
    known_viewers = _existing_user_ids(viewer_ids)
    country_ids = _country_ids(code for code in codes if len(code) <= MAX_COUNTRY_CODE_LENGTH)
    # A scoped caller is not told whether another author's blog exists: unknown and foreign read the same.
    unknown_blog = MSG_UNKNOWN_BLOG if author_username is None else MSG_BLOG_OUT_OF_SCOPE
    for draft in drafts:
        if draft.blog_id is not None and draft.blog_id not in known_blogs:
            draft.fail("blog_id", unknown_blog)
        if draft.viewer_id is not None and draft.viewer_id not in known_viewers:
            draft.fail("viewer_id", MSG_UNKNOWN_VIEWER)
        if draft.country_code is not None:
            draft.country_id = country_ids.get(draft.country_code)
            if draft.country_id is None:
                draft.fail("country_code", MSG_UNKNOWN_COUNTRY)


def _existing_blog_ids(ids: set[int]) -> set[int]:
    return set(Blog.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()


def _author_blog_ids(ids: set[int], author_username: str) -> set[int]:
    """Those of ``ids`` that are blogs of ``author_username`` now (a blog handed over moves with its author)."""
    blogs = Blog.objects.filter(pk__in=ids, author__username=author_username)
    return set(blogs.values_list("pk", flat=True)) if ids else set()


def _existing_user_ids(ids: set[int]) -> set[int]:
    return set(get_user_model().objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()


def _country_ids(codes: Iterable[str]) -> dict[str, int]:
    wanted = list(codes)
    return dict(Country.objects.filter(code__in=wanted).values_list("code", "pk")) if wanted else {}


# --- storage --------------------------------------------------------------------------------------------------
# The model fields behind ViewRow, in its order.
_FIELDS: tuple[Field[Any, Any], ...] = tuple(
    cast(Field, BlogView._meta.get_field(name))
    for name in ("blog", "country", "viewer", "ip_address", "timestamp", "event_id")
)


def _insert_statement(rows: int) -> str:
    # Raw SQL because bulk_create(ignore_conflicts=True) cannot say which rows it skipped: RETURNING lists only
    # the rows inserted, so the database itself (its unique index on event_id; on PostgreSQL the ledger's key)
    # decides what is a duplicate, also when two requests race. ON CONFLICT ... RETURNING: SQLite >= 3.35.
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(model_field.column)) for model_field in _FIELDS)
    event_id = quote(str(_FIELDS[-1].column))
    table = quote(BlogView._meta.db_table)
    if connection.vendor == "postgresql":
        # Partitioned (migration 0015, analytics/services/partitions.py): no unique index on event_id. The ids in
        # the ledger are skipped here; an id a concurrent request stores first fails this statement on the ledger's
        # key (its trigger), and the retried batch skips it (views_ingest). VALUES typed: a SELECT does not coerce
        # text to inet as INSERT ... VALUES does.
        typed = "(%s::bigint, %s::bigint, %s::integer, %s::inet, %s::timestamptz, %s::uuid)"
        return (
            f"INSERT INTO {table} ({columns}) SELECT * FROM (VALUES {', '.join([typed] * rows)}) AS incoming "
            f"({columns}) WHERE {event_id} IS NULL OR NOT EXISTS (SELECT 1 FROM {quote(ViewEventId._meta.db_table)} "
            f"AS stored WHERE stored.event_id = incoming.{event_id}) RETURNING {event_id}"
        )
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * rows)
    return f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({event_id}) DO NOTHING RETURNING {event_id}"


def _rows_insert(rows: Sequence[ViewRow]) -> int:
    """Insert ``rows`` inside the caller's transaction; return how many were new."""
    # Rows in event_id order (rows without one first): two transactions inserting overlapping ids then take
    # the unique-index locks in the same order and wait for each other instead of deadlocking. With a whole
    # batch in one statement, the change trigger's lock on the data-version row comes after every row lock.
    ordered = sorted(rows, key=lambda row: row.event_id.bytes if row.event_id else b"")
    per_statement = MAX_STATEMENT_ROWS
    if connection.features.max_query_params:
        per_statement = min(per_statement, connection.features.max_query_params // len(ViewRow._fields))
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), per_statement):
            inserted += _statement_execute(cursor, ordered[start : start + per_statement])
    return inserted


def _statement_execute(cursor: Any, rows: Sequence[ViewRow]) -> int:
    params: list[Any] = []
    if connection.vendor == "postgresql":
        # psycopg adapts every value of a ViewRow as it is (Django registers the UUID adapter), and INSERT ...
        # VALUES coerces the IP address text to inet: no per-value field conversion on the hot path.
        for row in rows:
            params.extend(row)
    else:
        prepare = [model_field.get_db_prep_value for model_field in _FIELDS]
        for row in rows:
            params.extend(to_db(value, connection) for to_db, value in zip(prepare, row, strict=True))
    cursor.execute(_insert_statement(len(rows)), params)
    return len(cursor.fetchall())
