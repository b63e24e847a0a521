"""The fixed request mix: every endpoint × a set of windows and filters, filled in with real values from the bench
database (the two most viewed countries, the most viewed author, a word from a popular blog's title)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

ENDPOINTS: dict[str, str] = {
    "blog-views/country": "/api/analytics/blog-views/country/",
    "blog-views/user": "/api/analytics/blog-views/user/",
    "top/blog": "/api/analytics/top/blog/",
    "top/user": "/api/analytics/top/user/",
    "top/country": "/api/analytics/top/country/",
    "performance": "/api/analytics/performance/",
    "totals": "/api/analytics/totals/",
}
# The group the 20x target is judged on: the last 365 days, unfiltered (as `range=year` and as the same
# dates spelled out). The same window with filters is its own group, reported beside it; a previous calendar year
# too (the seeded data covers only its last weeks).
FULL_YEAR = "full-year"
FILTERED = "full-year + filters"
# Answers that touch one day or one blog (issue #9: at most 10 ms at the platform profile).
ONE_DAY = "one day"
ONE_BLOG = "one blog"
# SPEC §8: the same windows with compare_to, so each one's cost reads against its body without (``COMPARED_TO``).
COMPARED = "compare_to"
GROUPS = (FULL_YEAR, FILTERED, "30-day", "calendar-year", ONE_DAY, ONE_BLOG, COMPARED)
COMPARED_TO = {
    "range=year, compare_to=previous_period": "range=year",
    "range=month, compare_to=previous_year": "range=month",
}


@dataclass(frozen=True)
class Probe:
    """One request: an endpoint and a body, labelled and grouped for the tables."""

    endpoint: str
    label: str
    group: str
    body: dict[str, Any]

    @property
    def path(self) -> str:
        return ENDPOINTS[self.endpoint]


@dataclass(frozen=True)
class Picks:
    """Real values from the bench database that the filtered bodies name."""

    countries: tuple[str, ...]  # most viewed first
    author: str
    title_word: str
    blog_id: int  # the most viewed blog


@dataclass(frozen=True)
class DatasetFacts:
    views: int
    blogs: int
    authors: int
    countries: int
    first_view: str | None
    last_view: str | None
    postgres_version: str


def maintenance_url(database_url: str) -> tuple[str, str]:
    """The same server's ``postgres`` database, and the bench database's name."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name:
        raise ValueError(f"--database-url {database_url!r} names no database.")
    return urlunsplit(parts._replace(path="/postgres")), name


def database_create_if_missing(database_url: str) -> bool:
    """Create the bench database unless it exists; True when it was created."""
    admin_url, name = maintenance_url(database_url)
    connection = psycopg2.connect(admin_url, connect_timeout=10)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone():
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        connection.close()


def _rows(database_url: str, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(database_url, connect_timeout=10)
    try:
        with connection.cursor() as cursor:
            cursor.execute(query, params or [])
            return list(cursor.fetchall())
    finally:
        connection.close()


def dataset_facts(database_url: str) -> DatasetFacts:
    ((views, first, last, blogs, authors, countries, version),) = _rows(
        database_url,
        """
        SELECT (SELECT count(*) FROM analytics_blogview),
               (SELECT min(timestamp)::text FROM analytics_blogview),
               (SELECT max(timestamp)::text FROM analytics_blogview),
               (SELECT count(*) FROM analytics_blog),
               (SELECT count(DISTINCT author_id) FROM analytics_blog),
               (SELECT count(*) FROM analytics_country),
               current_setting('server_version')
        """,
    )
    return DatasetFacts(views, blogs, authors, countries, first, last, version)


def picks_from_database(database_url: str) -> Picks:
    countries = _rows(
        database_url,
        """
        SELECT c.code FROM analytics_blogview v JOIN analytics_country c ON c.id = v.country_id
        GROUP BY c.code ORDER BY count(*) DESC, c.code LIMIT 3
        """,
    )
    authors = _rows(
        database_url,
        """
        SELECT u.username FROM analytics_blogview v
        JOIN analytics_blog b ON b.id = v.blog_id JOIN auth_user u ON u.id = b.author_id
        GROUP BY u.username ORDER BY count(*) DESC, u.username LIMIT 1
        """,
    )
    # The third most viewed blog's title: popular, but its word also appears in less popular titles.
    titles = _rows(
        database_url,
        """
        SELECT b.title, b.id FROM analytics_blogview v JOIN analytics_blog b ON b.id = v.blog_id
        GROUP BY b.id, b.title ORDER BY count(*) DESC, b.id LIMIT 3
        """,
    )
    if len(countries) < 3 or not authors or not titles:
        raise ValueError("The bench database holds too little data to pick filters from; seed it first.")
    words = re.findall(r"[A-Za-z]{4,}", titles[-1][0]) or [titles[-1][0]]
    return Picks(
        countries=tuple(code for (code,) in countries),
        author=authors[0][0],
        title_word=max(words, key=len).lower(),  # lower-case on purpose: contains is case-insensitive
        blog_id=int(titles[0][1]),
    )


def probes(picks: Picks, *, today: date) -> list[Probe]:
    """Every endpoint × the fixed body mix, in a fixed order."""
    first, second, third = picks.countries[:3]
    last_year = today.year - 1
    span_start = today - timedelta(days=364)
    tree = {
        "or": [
            {"eq": {"field": "country", "value": third.lower()}},
            {"contains": {"field": "blog_title", "value": picks.title_word}},
        ]
    }
    bodies: list[tuple[str, str, dict[str, Any]]] = [
        ("range=year", FULL_YEAR, {"range": "year"}),
        (f"year={last_year}", "calendar-year", {"year": last_year}),
        (
            f"{span_start.isoformat()}..{today.isoformat()}",
            FULL_YEAR,
            {"start_date": span_start.isoformat(), "end_date": today.isoformat()},
        ),
        ("range=month", "30-day", {"range": "month"}),
        ("range=day", ONE_DAY, {"range": "day"}),
        (f"year + blog_id {picks.blog_id}", ONE_BLOG, {"range": "year", "blog_id": picks.blog_id}),
        (f"year + country_codes {first},{second}", FILTERED, {"range": "year", "country_codes": [first, second]}),
        (f"year + exclude {first}", FILTERED, {"range": "year", "exclude_country_codes": [first]}),
        (f"year + author {picks.author}", FILTERED, {"range": "year", "author_username": picks.author}),
        (
            f"year + or(country {third.lower()}, title~{picks.title_word})",
            FILTERED,
            {"range": "year", "filters": tree},
        ),
    ]
    bodies += [
        ("range=year, compare_to=previous_period", COMPARED, {"range": "year", "compare_to": "previous_period"}),
        ("range=month, compare_to=previous_year", COMPARED, {"range": "month", "compare_to": "previous_year"}),
    ]
    compares = [
        (f"year, compare={compare}", FULL_YEAR, {"range": "year", "compare": compare})
        for compare in ("day", "week", "month")
    ]
    return [
        Probe(endpoint, label, group, body)
        for endpoint in ENDPOINTS
        for label, group, body in bodies + (compares if endpoint == "performance" else [])
    ]
