"""Deterministic demo data for ``manage.py seed_data``: authors, countries, blogs and a year of skewed views.

Every random choice comes from one ``random.Random(seed)`` drawn in a fixed order, so the same seed on the same
reporting-timezone day gives the same rows. Views cover the ``days`` whole local days before today (not today
itself, so nothing is in the future and a run later the same day draws the same instants) and enter the database
through ``seeded_views_insert`` only: COPY on PostgreSQL, ``bulk_create`` elsewhere.
"""

from __future__ import annotations

import io
import random
import time
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import accumulate

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from analytics.models import (
    Blog,
    BlogTimeline,
    BlogView,
    Country,
    DailyAnalyticsSummary,
    FoldState,
    HourlyAnalyticsSummary,
    PeriodAnalyticsSummary,
)
from analytics.periods import local_date, local_midnight
from analytics.services.ingestion import ViewRow, view_rows_insert
from analytics.services.partitions import partitions_ensure

# Seeded authors carry this e-mail domain, so --reset removes them and no other user (RFC 2606: never delivered).
SEED_EMAIL_DOMAIN = "seed.ideeza.invalid"
VIEW_CHUNK_ROWS = 25_000
_COPY_FIELDS = ("blog", "country", "viewer", "ip_address", "timestamp")
NO_COUNTRY_SHARE = 0.03  # views whose country could not be resolved
SIGNED_IN_SHARE = 0.10  # views by a logged-in reader; the rest are anonymous
NO_IP_SHARE = 0.08  # views whose IP address was not kept
OLDER_BLOG_SHARE = 0.25  # blogs written before the seeded window opens

LIMITS: dict[str, tuple[int, int]] = {
    "views": (0, 100_000_000),
    "blogs": (1, 1_000_000),
    "authors": (1, 100_000),
    "countries": (1, 1_000),
    "days": (1, 3_650),
}
MSG_OUT_OF_RANGE = "--{option} must be between {low:,} and {high:,}, not {value:,}."

ProgressCallback = Callable[[int, int], None]
"""Called after each chunk of views with (views written so far, views to write)."""

# Real ISO 3166 codes, roughly in order of web traffic, so the popular ones get the most views.
COUNTRIES: tuple[tuple[str, str], ...] = (
    ("US", "United States"), ("IN", "India"), ("GB", "United Kingdom"), ("DE", "Germany"), ("CA", "Canada"),
    ("FR", "France"), ("BR", "Brazil"), ("JP", "Japan"), ("AU", "Australia"), ("NL", "Netherlands"),
    ("ES", "Spain"), ("IT", "Italy"), ("MX", "Mexico"), ("KR", "South Korea"), ("SE", "Sweden"),
    ("PL", "Poland"), ("ID", "Indonesia"), ("TR", "Turkey"), ("NG", "Nigeria"), ("PH", "Philippines"),
    ("PK", "Pakistan"), ("AR", "Argentina"), ("ZA", "South Africa"), ("CH", "Switzerland"), ("BE", "Belgium"),
    ("IE", "Ireland"), ("AT", "Austria"), ("NO", "Norway"), ("DK", "Denmark"), ("FI", "Finland"),
    ("PT", "Portugal"), ("CZ", "Czechia"), ("RO", "Romania"), ("UA", "Ukraine"), ("IL", "Israel"),
    ("SG", "Singapore"), ("MY", "Malaysia"), ("TH", "Thailand"), ("VN", "Vietnam"), ("EG", "Egypt"),
    ("KE", "Kenya"), ("CO", "Colombia"), ("CL", "Chile"), ("PE", "Peru"), ("NZ", "New Zealand"),
    ("GR", "Greece"), ("HU", "Hungary"), ("BD", "Bangladesh"), ("SA", "Saudi Arabia"), ("AE", "United Arab Emirates"),
    ("HK", "Hong Kong"), ("TW", "Taiwan"), ("MA", "Morocco"), ("LK", "Sri Lanka"), ("GH", "Ghana"),
    ("ET", "Ethiopia"), ("EC", "Ecuador"), ("BG", "Bulgaria"), ("HR", "Croatia"), ("RS", "Serbia"),
    ("SK", "Slovakia"), ("LT", "Lithuania"), ("UY", "Uruguay"), ("EE", "Estonia"),
)  # fmt: skip

FIRST_NAMES = (
    "Amara Aiko Alex Ana Arjun Ben Carla Chen Chloe Daniel David Diego Elena Emma Fatima Felix Grace Hana Hugo "
    "Ibrahim Ines Ivan Jack James Jonas Julia Kai Kofi Laura Leo Lina Lucas Maya Mei Mohammed Nadia Noah Olga "
    "Omar Priya Rahul Rosa Sam Sara Sofia Tariq Tom Valentina Yara Yusuf Zoe"
).split()
LAST_NAMES = (
    "Adeyemi Ahmed Andersen Baker Becker Chen Costa Dubois Evans Fernandez Fischer Garcia Gupta Haddad Hansen "
    "Ito Jansen Kim Kowalski Kumar Larsen Lopez Martin Meyer Mueller Nakamura Nguyen Novak Okafor Oliveira "
    "Patel Petrov Rossi Santos Schmidt Silva Singh Smith Suzuki Tanaka Taylor Wang Weber Williams Yilmaz Zhang"
).split()
TOPICS = (
    "Django", "PostgreSQL", "Python", "Rust", "Kubernetes", "Remote Work", "Product Design", "TypeScript",
    "Machine Learning", "Indexing", "Caching", "Observability", "Accessibility", "Open Source", "Pricing",
    "Hiring Engineers", "Technical Debt", "API Design", "Code Review", "Onboarding", "Time Zones",
    "Edge Computing", "Data Pipelines", "CSS Grid", "Mobile Performance", "3D Printing", "Hardware Startups",
    "Prototyping", "Supply Chains", "User Research", "Growth Experiments", "SQL Window Functions",
)  # fmt: skip
TITLE_TEMPLATES = (
    "A Beginner's Guide to {topic}", "What Nobody Tells You About {topic}", "{n} Lessons From a Year of {topic}",
    "Why We Rewrote Everything Around {topic}", "{topic} in Practice: Notes From Production",
    "How We Cut Costs by {n}% With {topic}", "The Hidden Cost of {topic}", "{topic}, Explained Simply",
    "Stop Doing {topic} Like It's 2015", "{n} Mistakes to Avoid With {topic}", "Is {topic} Worth It?",
    "Scaling {topic} Without Losing Your Mind", "A Field Guide to {topic}", "{topic} vs. Reality",
)  # fmt: skip
SENTENCES = (
    "We tried the obvious approach first and measured everything.",
    "The numbers surprised us more than once.",
    "Here is what worked, what did not, and what we would do differently.",
    "Most of the gains came from removing work rather than adding it.",
    "Start small, keep the feedback loop short, and write things down.",
    "The edge cases are where the real design decisions hide.",
)
# Share of the day's views by reporting-timezone hour: quiet nights, a working-day plateau, an evening peak.
HOUR_WEIGHTS = (2, 1.5, 1, 1, 1, 1.5, 3, 5, 7, 8, 8.5, 8.5, 9, 8.5, 8, 8, 7.5, 7, 7.5, 8.5, 9, 8, 6, 4)
WEEKDAY_WEIGHTS = (1.0, 1.06, 1.05, 1.02, 0.94, 0.72, 0.68)  # Monday first
# Public-looking first octets (no private, loopback, multicast or reserved ranges).
IP_FIRST_OCTETS = (24, 31, 37, 46, 51, 62, 66, 73, 77, 81, 89, 91, 98, 103, 109, 122, 141, 151, 176, 185, 193, 203)


class SeedOptionError(ValueError):
    """An option outside what the seeder accepts; the message says which and what would be accepted."""


@dataclass(frozen=True)
class SeedResult:
    authors: int
    blogs: int
    countries: int
    views: int
    first_day: date
    last_day: date
    seconds: float


@dataclass(frozen=True, slots=True)
class ViewColumns:
    """One chunk of views, column-wise; ``timestamps`` are whole seconds since the Unix epoch (UTC)."""

    blog_ids: list[int]
    country_ids: list[int | None]
    viewer_ids: list[int | None]
    ip_addresses: list[str | None]
    timestamps: list[int]

    def rows(self) -> Iterator[tuple[int, int | None, int | None, str | None, int]]:
        return zip(self.blog_ids, self.country_ids, self.viewer_ids, self.ip_addresses, self.timestamps, strict=True)


@dataclass(frozen=True)
class _Calendar:
    """The seeded window: ``starts[i]`` is the epoch of local midnight of day ``i`` (oldest first, one extra
    at the end), ``weights[i]`` its share of views (growth, weekday, noise)."""

    first_day: date
    starts: list[int]
    weights: list[float]

    @property
    def days(self) -> int:
        return len(self.weights)


@dataclass(frozen=True)
class _SeededBlogs:
    """The new blogs in creation order: their ids, running total of popularity, and per day how many
    of them (a prefix) can be read."""

    ids: list[int]
    cumulative: list[float]
    readable: list[int]


def demo_data_seed(
    *,
    views: int = 10_000,
    blogs: int = 50,
    authors: int = 20,
    countries: int = 8,
    days: int = 365,
    seed: int = 42,
    reset: bool = False,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> SeedResult:
    """Add (or with ``reset``, replace) a deterministic demo data set, all or nothing."""
    options = {"views": views, "blogs": blogs, "authors": authors, "countries": countries, "days": days}
    for option, value in options.items():
        low, high = LIMITS[option]
        if not low <= value <= high:
            raise SeedOptionError(MSG_OUT_OF_RANGE.format(option=option, low=low, high=high, value=value))

    started = time.perf_counter()
    rng = random.Random(seed)
    calendar = _calendar(rng, days=days, today=local_date(now or timezone.now()))
    # Every seeded month in a partition of its own rather than the DEFAULT one (PostgreSQL).
    partitions_ensure(since=calendar.first_day - timedelta(days=1), now=now)
    with transaction.atomic():
        if reset:
            demo_data_wipe()
        author_ids = _authors_get_or_create(rng, count=authors)
        country_ids = _countries_get_or_create(count=countries)
        seeded = _blogs_create(rng, count=blogs, author_ids=author_ids, calendar=calendar)
        _views_create(
            rng,
            count=views,
            blogs=seeded,
            author_ids=author_ids,
            country_ids=country_ids,
            calendar=calendar,
            progress=progress,
        )
    if connection.vendor == "postgresql":
        _analyze()
    return SeedResult(
        authors=authors,
        blogs=blogs,
        countries=countries,
        views=views,
        first_day=calendar.first_day,
        last_day=calendar.first_day + timedelta(days=days - 1),
        seconds=time.perf_counter() - started,
    )


def demo_data_wipe() -> None:
    """Delete every view, blog and country, the summaries built from them, and the users the seeder created."""
    BlogView.objects.all().delete()
    # Summaries are derived data: without the fold state they are rebuilt from scratch, as on a fresh database.
    DailyAnalyticsSummary.objects.all().delete()
    PeriodAnalyticsSummary.objects.all().delete()
    HourlyAnalyticsSummary.objects.all().delete()
    BlogTimeline.objects.all().delete()
    FoldState.objects.all().delete()
    Blog.objects.all().delete()
    Country.objects.all().delete()
    get_user_model().objects.filter(email__endswith=f"@{SEED_EMAIL_DOMAIN}").delete()


def seeded_views_insert(*, columns: ViewColumns) -> None:
    """Write one chunk of seeded views; the single door every seeded view goes through.

    Elsewhere the rows take the ingestion service's insert (``view_rows_insert``, the one the API uses); on
    PostgreSQL they are COPYed instead, several times faster for millions of trusted rows without event ids.
    """
    if connection.vendor == "postgresql":
        _copy_views(columns)
        return
    view_rows_insert(
        rows=[
            ViewRow(blog, country, viewer, ip, _instant(ts), None) for blog, country, viewer, ip, ts in columns.rows()
        ]
    )


# --- building blocks ------------------------------------------------------------------------------------------
def _calendar(rng: random.Random, *, days: int, today: date) -> _Calendar:
    first_day = today - timedelta(days=days)
    starts = [int(local_midnight(first_day + timedelta(days=i)).timestamp()) for i in range(days + 1)]
    weights = []
    for i in range(days):
        growth = 0.55 + 0.45 * i / max(days - 1, 1)  # the platform grows over the window
        weight = growth * WEEKDAY_WEIGHTS[(first_day + timedelta(days=i)).weekday()] * rng.uniform(0.85, 1.15)
        if rng.random() < 0.02:  # the odd day a post does the rounds
            weight *= rng.uniform(1.5, 2.5)
        weights.append(weight)
    return _Calendar(first_day=first_day, starts=starts, weights=weights)


def _zipf(count: int, exponent: float) -> list[float]:
    return [1 / rank**exponent for rank in range(1, count + 1)]


def _authors_get_or_create(rng: random.Random, *, count: int) -> list[int]:
    people: dict[str, tuple[str, str]] = {}
    while len(people) < count:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        pattern = rng.choice(("{f}.{l}", "{f}{l}", "{i}{l}", "{f}_{l}"))
        username = pattern.format(f=first, l=last, i=first[0]).lower()
        if username in people:
            username = f"{username}{rng.randint(2, 999)}"
        people.setdefault(username, (first, last))

    user_model = get_user_model()
    usernames = list(people)
    ids = _ids_by_key(user_model, "username", usernames)
    missing = [name for name in usernames if name not in ids]
    user_model.objects.bulk_create(
        user_model(
            username=name,
            first_name=people[name][0],
            last_name=people[name][1],
            email=f"{name}@{SEED_EMAIL_DOMAIN}",
            password="!",  # unusable: demo authors cannot log in
        )
        for name in missing
    )
    ids.update(_ids_by_key(user_model, "username", missing))
    return [ids[name] for name in usernames]


def _countries_get_or_create(*, count: int) -> list[int]:
    wanted = dict(COUNTRIES[:count])
    for index in range(count - len(COUNTRIES)):
        code = _synthetic_country_code(index)
        wanted[code] = f"Synthetic region {code}"
    codes = list(wanted)
    ids = _ids_by_key(Country, "code", codes)
    Country.objects.bulk_create(Country(code=code, name=wanted[code]) for code in codes if code not in ids)
    ids.update(_ids_by_key(Country, "code", [code for code in codes if code not in ids]))
    return [ids[code] for code in codes]


def _synthetic_country_code(index: int) -> str:
    """``QAA``, ``QAB``, … then ``QAAA``…: ISO reserves Q-codes for private use, so none clash with a real one."""
    letters, width = index, 2
    while letters >= 26**width:
        letters -= 26**width
        width += 1
    suffix = ""
    for _ in range(width):
        letters, digit = divmod(letters, 26)
        suffix = chr(ord("A") + digit) + suffix
    return f"Q{suffix}"


def _ids_by_key(model: type[Model], key: str, values: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for offset in range(0, len(values), 500):  # stay under SQLite's bound-parameter limit
        rows = model._default_manager.filter(**{f"{key}__in": values[offset : offset + 500]}).values_list(key, "id")
        ids.update(rows)
    return ids


def _blogs_create(rng: random.Random, *, count: int, author_ids: list[int], calendar: _Calendar) -> _SeededBlogs:
    popularity = _zipf(count, 1.05)
    rng.shuffle(popularity)
    # Every author writes at least one blog (while blogs last); the rest go mostly to a few prolific ones.
    owners = rng.sample(author_ids, min(len(author_ids), count))
    owners += rng.choices(author_ids, weights=_zipf(len(author_ids), 0.8), k=count - len(owners))
    new_blog_days, new_blog_cumulative = range(1, calendar.days), list(accumulate(calendar.weights[1:]))

    drafts: list[tuple[int, int, Blog, float]] = []  # (created, first day it can be read, blog, popularity)
    for index in range(count):
        title = rng.choice(TITLE_TEMPLATES).format(topic=rng.choice(TOPICS), n=rng.choice((3, 5, 7, 10, 12, 40)))
        content = " ".join(rng.sample(SENTENCES, 3))
        if calendar.days == 1 or rng.random() < OLDER_BLOG_SHARE:
            first_day = 0
            created = calendar.starts[0] - rng.randint(3_600, 730 * 86_400)
        else:
            # New blogs appear as the platform grows; a blog is written the day before it can be read.
            first_day = rng.choices(new_blog_days, cum_weights=new_blog_cumulative)[0]
            day_start, day_end = calendar.starts[first_day - 1], calendar.starts[first_day]
            created = day_start + int(rng.random() * (day_end - day_start))
        blog = Blog(title=title, author_id=owners[index], content=content, created_at=_instant(created))
        drafts.append((created, first_day, blog, popularity[index]))

    # Ids follow creation time, as on a live site; then the blogs readable on a day are a prefix of the list.
    drafts.sort(key=lambda draft: draft[0])
    created_blogs = Blog.objects.bulk_create([draft[2] for draft in drafts])  # PostgreSQL, SQLite >= 3.35: pks set
    first_days = [draft[1] for draft in drafts]
    return _SeededBlogs(
        ids=[blog.pk for blog in created_blogs],
        cumulative=list(accumulate(draft[3] for draft in drafts)),
        readable=[bisect(first_days, day) for day in range(calendar.days)],
    )


def _views_create(
    rng: random.Random,
    *,
    count: int,
    blogs: _SeededBlogs,
    author_ids: list[int],
    country_ids: list[int],
    calendar: _Calendar,
    progress: ProgressCallback | None,
) -> None:
    """Views day by day, oldest first (ids follow time, as on a live site), flushed in chunks."""
    country_weights = [weight * rng.uniform(0.8, 1.25) for weight in _zipf(len(country_ids), 1.2)]
    country_weights.append(sum(country_weights) * NO_COUNTRY_SHARE / (1 - NO_COUNTRY_SHARE))
    country_pool: list[int | None] = [*country_ids, None]
    country_cumulative = list(accumulate(country_weights))
    # Uniform draws from pools with the right share of blanks: much cheaper than weighted draws per view.
    anonymous = round(len(author_ids) * (1 - SIGNED_IN_SHARE) / SIGNED_IN_SHARE)
    viewer_pool: list[int | None] = [*author_ids, *([None] * anonymous)]
    ip_pool = _ip_pool(rng, size=min(max(count // 8, 100), 200_000))
    hour_cumulative = list(accumulate(HOUR_WEIGHTS))

    draw, ids, blog_cumulative, starts = rng.random, blogs.ids, blogs.cumulative, calendar.starts
    blog_ids: list[int] = []
    timestamps: list[int] = []
    written = 0
    for day, views_that_day in enumerate(_views_per_day(rng, count=count, blogs=blogs, calendar=calendar)):
        if views_that_day:
            # A blog's chance on a day follows its popularity among the blogs readable that day.
            readable = blogs.readable[day]
            top = blog_cumulative[readable - 1]
            blog_ids += [ids[bisect(blog_cumulative, draw() * top, 0, readable - 1)] for _ in range(views_that_day)]
            start, hour_length = starts[day], (starts[day + 1] - starts[day]) / 24  # 23 or 25 h on DST days
            hours = rng.choices(range(24), cum_weights=hour_cumulative, k=views_that_day)
            timestamps += sorted([start + int((hour + draw()) * hour_length) for hour in hours])
        if len(blog_ids) >= VIEW_CHUNK_ROWS or (blog_ids and day == calendar.days - 1):
            size = len(blog_ids)
            seeded_views_insert(
                columns=ViewColumns(
                    blog_ids=blog_ids,
                    country_ids=rng.choices(country_pool, cum_weights=country_cumulative, k=size),
                    viewer_ids=rng.choices(viewer_pool, k=size),
                    ip_addresses=rng.choices(ip_pool, k=size),
                    timestamps=timestamps,
                )
            )
            blog_ids, timestamps = [], []
            written += size
            if progress is not None:
                progress(written, count)


def _views_per_day(rng: random.Random, *, count: int, blogs: _SeededBlogs, calendar: _Calendar) -> list[int]:
    """How many of ``count`` views fall on each day: the day's weight times the popularity readable then."""
    weights = [
        weight * blogs.cumulative[readable - 1] if readable else 0.0
        for weight, readable in zip(calendar.weights, blogs.readable, strict=True)
    ]
    cumulative = list(accumulate(weights))
    per_day = Counter[int]()
    for offset in range(0, count, VIEW_CHUNK_ROWS * 4):
        per_day.update(
            rng.choices(range(calendar.days), cum_weights=cumulative, k=min(VIEW_CHUNK_ROWS * 4, count - offset))
        )
    return [per_day[day] for day in range(calendar.days)]


def _ip_pool(rng: random.Random, *, size: int) -> list[str | None]:
    """Returning visitors: a pool of public-looking IPv4 addresses, with a share of blanks."""
    pool: list[str | None] = [
        f"{rng.choice(IP_FIRST_OCTETS)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(size)
    ]
    pool.extend([None] * round(size * NO_IP_SHARE / (1 - NO_IP_SHARE)))
    return pool


def _instant(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


@cache
def _clock_texts() -> tuple[str, ...]:
    """``HH:MM:SS+00`` for every second of a UTC day: formatting a timestamp becomes two lookups."""
    return tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86_400))


def _copy_text(columns: ViewColumns) -> str:
    null = "\\N"
    clock = _clock_texts()
    first, last = min(columns.timestamps) // 86_400, max(columns.timestamps) // 86_400
    dates = {day: (date(1970, 1, 1) + timedelta(days=day)).isoformat() for day in range(first, last + 1)}
    return "".join(
        f"{blog}\t{null if country is None else country}\t{null if viewer is None else viewer}\t{ip or null}\t"
        f"{dates[ts // 86_400]} {clock[ts % 86_400]}\n"
        for blog, country, viewer, ip, ts in columns.rows()
    )


def _copy_views(columns: ViewColumns) -> None:
    # No id column: the identity sequence numbers the rows, as for any other insert.
    quote = connection.ops.quote_name
    columns_by_field = {field.name: field.column for field in BlogView._meta.concrete_fields if field.column}
    fields = ", ".join(quote(columns_by_field[name]) for name in _COPY_FIELDS)
    statement = f"COPY {quote(BlogView._meta.db_table)} ({fields}) FROM STDIN"
    text = _copy_text(columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if hasattr(raw, "copy_expert"):  # psycopg2
            raw.copy_expert(statement, io.StringIO(text), size=1 << 20)
        else:  # psycopg 3
            with raw.copy(statement) as copy:
                copy.write(text)


def _analyze() -> None:
    """Fresh planner statistics, so the first queries after a large seed do not plan for empty tables; and, outside
    a transaction, VACUUM's visibility map too, so a few blogs' views are read by index-only scans at once (what
    autovacuum would do some minutes later)."""
    tables = [model._meta.db_table for model in (BlogView, Blog, Country, get_user_model())]
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        cursor.execute(f"{command} {', '.join(connection.ops.quote_name(table) for table in tables)}")
