"""What a change costs the next answer (issue #9): a new blog, author or country, and an hour of views not yet folded.

Both run against the harness's own servers after the query mix, and undo what they wrote. The rows they add are
marked so a later run (``--skip-seed``) can remove them first: blogs titled ``bench: new post …``, users named
``bench-new-author-…``, countries named ``bench country``, views from TEST-NET-1 (today's, ``bench.fresh_day``) and
TEST-NET-2 (the unfolded hour's) addresses.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import psycopg2

from bench import report
from bench.processes import Reply, Server
from bench.workload import ENDPOINTS, Picks

NEW_POST_TITLE = "bench: new post"
NEW_AUTHOR_PREFIX = "bench-new-author-"
NEW_COUNTRY_NAME = "bench country"
UNFOLDED_VIEWS = 20_000  # "an hour of views (20,000) not yet folded" (issue #9)
API_BATCH = 1_000  # analytics.api.ingest.MAX_EVENTS_PER_REQUEST
TRIES = 3


def _execute(database_url: str, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(database_url, connect_timeout=10)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statement, params or [])
            return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


# The harness's views carry addresses the seeder never draws (RFC 5737): today's, folded in step 4, TEST-NET-1
# (bench.fresh_day); the unfolded hour's, TEST-NET-2.
HARNESS_ADDRESS_PREFIX = "192.0.2."
HOUR_ADDRESS_PREFIX = "198.51.100."


def harness_rows_delete(database_url: str) -> None:
    """Remove the blogs, authors, countries and views an earlier run of the harness wrote, and VACUUM the views:
    with autovacuum off (as on the machines this was measured on) the dead rows of every earlier run would stay in
    today's partition and its indexes, and a raw read of today's hours would step over them."""
    _execute(
        database_url,
        f"""
        DELETE FROM analytics_blogview WHERE host(ip_address) LIKE '{HARNESS_ADDRESS_PREFIX}%%'
                                          OR host(ip_address) LIKE '{HOUR_ADDRESS_PREFIX}%%';
        """,
    )
    _catalogue_rows_delete(database_url)
    connection = psycopg2.connect(database_url, connect_timeout=10)
    connection.autocommit = True  # VACUUM cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM analytics_blogview")
    finally:
        connection.close()


def _catalogue_rows_delete(database_url: str) -> None:
    """Remove the blogs, authors and countries these measurements add (not today's views: they stay folded)."""
    _execute(
        database_url,
        f"""
        DELETE FROM analytics_blog WHERE title LIKE '{NEW_POST_TITLE}%%';
        DELETE FROM auth_user WHERE username LIKE '{NEW_AUTHOR_PREFIX}%%';
        DELETE FROM analytics_country WHERE name = '{NEW_COUNTRY_NAME}';
        """,
    )


def _unfolded_views_delete(database_url: str) -> None:
    _execute(database_url, f"DELETE FROM analytics_blogview WHERE host(ip_address) LIKE '{HOUR_ADDRESS_PREFIX}%%'")


# --- a new blog, author or country ---------------------------------------------------------------------------
def _new_blog(cursor: Any, author: str, serial: int) -> None:
    cursor.execute(
        """INSERT INTO analytics_blog (title, author_id, content, created_at)
           SELECT %s, id, '', now() FROM auth_user WHERE username = %s""",
        [f"{NEW_POST_TITLE} {serial}", author],
    )


def _new_author(cursor: Any, author: str, serial: int) -> None:
    cursor.execute(
        """WITH added AS (
               INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                      is_active, date_joined)
               VALUES ('!', false, %s, '', '', '', false, true, now()) RETURNING id
           )
           INSERT INTO analytics_blog (title, author_id, content, created_at) SELECT %s, id, '', now() FROM added""",
        [f"{NEW_AUTHOR_PREFIX}{serial}", f"{NEW_POST_TITLE} by a new author {serial}"],
    )


def _new_country(cursor: Any, author: str, serial: int) -> None:
    cursor.execute(
        "INSERT INTO analytics_country (code, name) VALUES (%s, %s)",
        [f"Q{serial}", NEW_COUNTRY_NAME],
    )


# Each change is one autocommitted statement on a connection the writer holds, as a platform's application server
# would: a connection opened per change put PostgreSQL's backend start and exit on the machine's two CPUs while the
# first request after it was being timed.
CHANGES: dict[str, Callable[[Any, str, int], None]] = {
    "new blog": _new_blog,
    "new author": _new_author,
    "new country": _new_country,
}


def change_bodies(picks: Picks) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("top/blog", "range=year", {"range": "year"}),
        ("blog-views/country", "range=year", {"range": "year"}),
        ("blog-views/user", "range=year", {"range": "year"}),
        ("performance", "range=year", {"range": "year"}),
        ("top/blog", f"year + author {picks.author}", {"range": "year", "author_username": picks.author}),
    ]


def _ms(reply: Reply) -> float:
    return reply.seconds * 1000


def catalogue_changes_measure(
    fast: Server, reference: Server, database_url: str, picks: Picks, repeat: int
) -> list[dict[str, Any]]:
    """For each body: the steady p50 of ``repeat`` requests, then per change kind ``TRIES`` times: the change, the
    first request after it (timed), its answer against the reference server's in the same state, and one more
    request with nothing changed (timed: what the reference scan alone costs the next request; ``after_reference``)."""
    _catalogue_rows_delete(database_url)
    results = []
    serial = 0
    writer = psycopg2.connect(database_url, connect_timeout=10)
    writer.autocommit = True
    try:
        for endpoint, label, body in change_bodies(picks):
            path = ENDPOINTS[endpoint]
            fast.post(path, body)
            steady = [_ms(fast.post(path, body)) for _ in range(repeat)]
            entry: dict[str, Any] = {
                "endpoint": endpoint,
                "label": label,
                "body": body,
                "steady": report.latency_stats(steady),
                "changes": {},
                "identical": True,
            }
            controls = []
            for kind, change in CHANGES.items():
                firsts = []
                for _ in range(TRIES):
                    serial += 1
                    with writer.cursor() as cursor:
                        change(cursor, picks.author, serial)
                    reply = fast.post(path, body)
                    firsts.append(_ms(reply))
                    entry["identical"] &= reply.status == 200 and reply.json() == reference.post(path, body).json()
                    # The reference scan just run (seconds of both CPUs) left the fast server's caches cold: a
                    # request now, with nothing changed since, is the control, and warms the server again before
                    # the next change, so each first request is timed after a warm one, as the steady ones are.
                    controls.append(_ms(fast.post(path, body)))
                first_p50 = statistics.median(firsts)
                entry["changes"][kind] = {
                    "first_ms": [round(ms, 3) for ms in firsts],
                    "first_p50_ms": round(first_p50, 3),
                    "ratio": report.ratio(first_p50, entry["steady"]["p50_ms"]),
                }
            entry["after_reference"] = report.latency_stats(controls)
            results.append(entry)
            print(
                f"    {endpoint:<19} {label:<28} steady {entry['steady']['p50_ms']:6.1f} ms; first after: "
                + ", ".join(f"{kind} {value['first_p50_ms']:.1f} ms" for kind, value in entry["changes"].items())
                + ("" if entry["identical"] else "  MISMATCH"),
                flush=True,
            )
    finally:
        writer.close()
        _catalogue_rows_delete(database_url)
    return results


# --- an hour of views not yet folded ---------------------------------------------------------------------------
def unfolded_hour_measure(
    fast: Server, reference: Server, database_url: str, repeat: int, views: int = UNFOLDED_VIEWS
) -> dict[str, Any]:
    """Insert ``views`` views over the last hour (the blog and country mix of the last 30 days), fold nothing, and
    time ``range=day`` and ``range=month`` of every endpoint on the fast and the reference server; then delete
    them (the hour stays marked changed until the next fold). Today's earlier views, folded in step 4, stay: the
    fast path reads the hours they fill from hour blocks, and the views inserted since from the insertion log.

    The views go in as they would arrive through the API, in statements of at most ``API_BATCH`` rows (one
    statement of all 20,000 would be a backfill, which the insert trigger does not log: analytics/triggers.py)."""
    _unfolded_views_delete(database_url)
    batches = "; ".join(
        f"""INSERT INTO analytics_blogview (blog_id, country_id, ip_address, timestamp)
            SELECT blog_id, country_id, ('{HOUR_ADDRESS_PREFIX}' || (1 + floor(random() * 254))::int)::inet,
                   now() - random() * interval '1 hour'
            FROM bench_sample WHERE n > {offset} AND n <= {offset + API_BATCH}"""
        for offset in range(0, views, API_BATCH)
    )
    _execute(
        database_url,
        f"""CREATE TEMPORARY TABLE bench_sample AS
               SELECT row_number() OVER () AS n, blog_id, country_id FROM (
                   SELECT blog_id, country_id FROM analytics_blogview
                   WHERE timestamp >= now() - interval '30 days' ORDER BY random() LIMIT %s
               ) AS sample;
            {batches}""",
        [views],
    )
    bodies = []
    try:
        for endpoint, path in ENDPOINTS.items():
            for label, body in (("range=day", {"range": "day"}), ("range=month", {"range": "month"})):
                replies: dict[str, list[Reply]] = {"fast": [], "reference": []}
                for _ in range(1 + repeat):
                    replies["fast"].append(fast.post(path, body))
                    replies["reference"].append(reference.post(path, body))
                entry: dict[str, Any] = {"endpoint": endpoint, "label": label, "body": body}
                for name, server_replies in replies.items():
                    entry[name] = report.latency_stats([_ms(reply) for reply in server_replies[1:]])
                entry["ratio"] = report.ratio(entry["reference"]["p50_ms"], entry["fast"]["p50_ms"])
                answers = [reply.json() if reply.status == 200 else reply.status for reply in replies["fast"]]
                expected = replies["reference"][0].json() if replies["reference"][0].status == 200 else None
                entry["identical"] = expected is not None and all(answer == expected for answer in answers)
                bodies.append(entry)
                print(
                    f"    {endpoint:<19} {label:<12} fast {entry['fast']['p50_ms']:7.1f}  "
                    f"ref {entry['reference']['p50_ms']:8.1f}  {report.times(entry['ratio']):>8}"
                    + ("" if entry["identical"] else "  MISMATCH"),
                    flush=True,
                )
    finally:
        _unfolded_views_delete(database_url)
    return {"views": views, "bodies": bodies}
