"""Fault: ingestion and ``precalculate_stats`` running at the same time for a while (SPEC §4, §7; docs/ingestion.md).

A real gunicorn takes batches from a few client threads for a bounded time (some batches resent whole, some events
repeated inside a batch, some without an event_id, some invalid), while a child process runs
``precalculate_stats`` again and again. Afterwards, one more fold, and then nothing is lost and nothing counted
twice: the rows in the table, the sum of the ``accepted`` counts the API returned, and the views in every answer
(the live service's fast path and the reference scan) all agree with what the clients know they stored.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from analytics.filters import Endpoint, parse_query
from analytics.models import BlogView
from analytics.selectors import reference as reference_scan
from analytics.selectors import summaries
from analytics.services.folding import summaries_fold
from analytics.tests.factories import BlogFactory, CountryFactory, UserFactory
from analytics.tests.faults.support import API, Gunicorn, child_env, gunicorn, is_postgresql, manage, postgres_url
from analytics.tests.faults.support import reference_answer as reference
from analytics.transactions import repeatable_read

INGEST_SECONDS = 10.0
CLIENTS = 3
SEED = 515

# precalculate_stats in a loop for as long as the clients send: mostly incremental runs, every third one a forced
# refold of the last week (the days the clients are writing to).
FOLD_LOOP = """
import io, os, time, traceback
from django.core.management import call_command
deadline = time.monotonic() + float(os.environ["FAULT_SECONDS"])
runs = failures = 0
while time.monotonic() < deadline:
    args = ["--days", "7", "--force"] if runs % 3 == 2 else []
    try:
        call_command("precalculate_stats", *args, stdout=io.StringIO(), stderr=io.StringIO())
    except BaseException:
        failures += 1
        traceback.print_exc()
    runs += 1
print("FOLDS", runs, failures)
"""


@dataclass
class Ledger:
    """What the clients know they stored: every event a 200 reply accepted, once per event_id."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    stored_ids: dict[str, datetime | None] = field(default_factory=dict)  # event_id -> timestamp (None = "now")
    stored_anonymous: list[tuple[datetime | None, str | None]] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    requests: int = 0
    resent: int = 0
    failures: list[str] = field(default_factory=list)
    countries: dict[str, str | None] = field(default_factory=dict)  # event_id -> country code


def _event(rng: random.Random, blog_ids: list[int], today: datetime) -> dict[str, Any]:
    event: dict[str, Any] = {"blog_id": rng.choice(blog_ids)}
    if rng.random() < 0.9:
        event["country_code"] = rng.choice(["us", "DE", "fr", "JP"])
    if rng.random() < 0.8:  # the rest arrive "now", stamped by the server
        moment = today - timedelta(days=rng.choice([0, 1, rng.randrange(60)]), minutes=rng.randrange(1, 1400))
        event["timestamp"] = moment.isoformat()
    if rng.random() < 0.85:
        event["event_id"] = str(uuid.uuid4())
    if rng.random() < 0.03:
        event["country_code"] = "XX"  # rejected: no such country
    return event


def _client(
    index: int, server: Gunicorn, token: str, blog_ids: list[int], ledger: Ledger, sent: list[list[dict[str, Any]]]
) -> None:
    rng = random.Random(SEED + index)
    today = timezone.now()
    deadline = time.monotonic() + INGEST_SECONDS
    while time.monotonic() < deadline:
        with ledger.lock:
            resend = bool(sent) and rng.random() < 0.2
            events = rng.choice(sent) if resend else []
        if not resend:
            events = [_event(rng, blog_ids, today) for _ in range(rng.randrange(10, 60))]
            if rng.random() < 0.3:
                events.append(dict(rng.choice(events)))  # the same event twice in one batch
            with ledger.lock:
                sent.append(events)  # other clients may resend it, even while this request is in flight
        reply = server.post(f"{API}/views/", {"events": events}, token=token)
        with ledger.lock:
            ledger.requests += 1
            ledger.resent += resend
            if reply.status != 200:
                ledger.failures.append(f"{reply.status} {reply.body[:300]!r}")
                continue
            outcome = reply.json()
            ledger.accepted += outcome["accepted"]
            ledger.duplicates += outcome["duplicates"]
            ledger.rejected += len(outcome["rejected"])
            bad = {item["index"] for item in outcome["rejected"]}
            for position, event in enumerate(events):
                if position in bad:
                    continue
                moment = datetime.fromisoformat(event["timestamp"]) if "timestamp" in event else None
                country = event.get("country_code", None)
                if "event_id" in event:
                    ledger.stored_ids.setdefault(event["event_id"], moment)
                    ledger.countries[event["event_id"]] = country
                else:
                    ledger.stored_anonymous.append((moment, country))


def _snapshot_checks(stop: threading.Event, mismatches: list[str]) -> int:
    """While the writers and the fold run: in one snapshot, the fast path must equal the raw scan (SPEC §4 holds
    at every moment, not only once everything has settled). Runs in its own thread, on its own connection."""
    from django.db import connection

    checks = 0
    try:
        while not stop.is_set():
            with repeatable_read(read_only=True):
                now = timezone.now()
                for name, body in [("blog_views_by_country", {}), ("top_blogs", {"range": "month", "limit": 100})]:
                    query = parse_query(body, endpoint=Endpoint.TOP, now=now)
                    fast, slow = getattr(summaries, name)(query), getattr(reference_scan, name)(query)
                    if fast != slow:
                        mismatches.append(f"{name} {body}: fast {fast[:3]} != reference {slow[:3]}")
                body = {"start_date": str(now.date() - timedelta(days=60))}
                query = parse_query(body, endpoint=Endpoint.PERFORMANCE, now=now)
                if summaries.performance(query, now=now, x_metric="viewed") != reference_scan.performance(
                    query, now=now, x_metric="viewed"
                ):
                    mismatches.append("performance differs")
            checks += 1
    finally:
        connection.close()
    return checks


def _expected(ledger: Ledger, base: list[tuple[datetime, str | None]], first: date | None, last: date) -> Counter:
    """Views and views with a country, in [first, last] (whole UTC days; None = open), per the ledger."""
    received = timezone.now()
    stored = [(moment, ledger.countries[key]) for key, moment in ledger.stored_ids.items()]
    counts: Counter = Counter()
    for moment, country in [*base, *stored, *ledger.stored_anonymous]:
        day = (moment or received).astimezone(UTC).date()
        if (first is None or day >= first) and day <= last:
            counts["views"] += 1
            counts["with_country"] += country is not None
    return counts


@pytest.mark.slow
@pytest.mark.skipif(
    not is_postgresql(),
    reason="concurrent writers and a concurrent fold are PostgreSQL's REPEATABLE READ path; SQLite has one writer",
)
def test_ingestion_during_repeated_folds_loses_nothing_and_counts_nothing_twice(transactional_db, tmp_path: Path):
    assert settings.TIME_ZONE == "UTC"
    now = timezone.now()
    authors = [UserFactory.create(username=name) for name in ("ann", "ben", "cyd")]
    countries = {code: CountryFactory.create(code=code) for code in ("US", "DE", "FR", "JP")}
    blogs = [BlogFactory.create(author=authors[i % 3], created_at=now - timedelta(days=90)) for i in range(12)]
    base = [(now - timedelta(days=1 + i % 50, hours=i % 7), "US" if i % 4 else None) for i in range(300)]
    BlogView.objects.bulk_create(
        BlogView(blog=blogs[i % 12], country=countries[code] if code else None, timestamp=moment)
        for i, (moment, code) in enumerate(base)
    )
    summaries_fold(full=True)
    collector = UserFactory.create(username="collector")
    collector.user_permissions.add(Permission.objects.get(codename="add_blogview"))
    token = str(AccessToken.for_user(collector))

    env = child_env(DATABASE_URL=postgres_url(), WEB_CONCURRENCY=str(CLIENTS), REDIS_URL=settings.REDIS_URL)
    ledger, sent = Ledger(), []  # type: ignore[var-annotated]
    with gunicorn(env=env, log=tmp_path / "gunicorn.log", workers=CLIENTS) as server:
        folds = manage(
            "shell", "-c", FOLD_LOOP, env={**env, "FAULT_SECONDS": str(INGEST_SECONDS)}, stdout=subprocess.PIPE
        )
        threads = [
            threading.Thread(target=_client, args=(i, server, token, [b.id for b in blogs], ledger, sent))
            for i in range(CLIENTS)
        ]
        stop, mismatches, checks = threading.Event(), [], []  # type: ignore[var-annotated]
        checker = threading.Thread(target=lambda: checks.append(_snapshot_checks(stop, mismatches)))
        checker.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=INGEST_SECONDS + 60)
        stop.set()
        checker.join(timeout=60)
        assert checks and checks[0] >= 3, checks
        assert not mismatches, mismatches[:5]
        fold_output, _ = folds.communicate(timeout=120)
        assert not ledger.failures, ledger.failures[:5]
        assert folds.returncode == 0
        runs, failed = (int(part) for part in fold_output.split("FOLDS")[1].split())
        assert (runs >= 3, failed) == (True, 0), fold_output
        assert ledger.resent > 0 and ledger.duplicates > 0 and ledger.rejected > 0

        summaries_fold()  # the final fold, with nobody writing

        stored = len(ledger.stored_ids) + len(ledger.stored_anonymous)
        assert ledger.accepted == stored  # what the API said it stored is what the clients know: no double count
        assert BlogView.objects.count() == len(base) + stored  # and the table holds exactly that: nothing lost

        today = timezone.now().astimezone(UTC).date()
        windows = [
            ({}, None, today),
            ({"start_date": str(today - timedelta(days=9)), "end_date": str(today)}, today - timedelta(days=9), today),
            ({"start_date": str(today - timedelta(days=30))}, today - timedelta(days=30), today),
            ({"end_date": str(today - timedelta(days=3))}, None, today - timedelta(days=3)),
        ]
        checked = 0
        for body, first, last in windows:
            expected = _expected(ledger, base, first, last)
            assert expected["views"] > 0
            for path, extra, column, key in [
                ("blog-views/user/", {}, "z", "views"),
                ("blog-views/country/", {}, "z", "with_country"),
                ("top/blog/", {"limit": 100}, "y", "views"),
                ("top/user/", {"limit": 100}, "y", "views"),
                ("top/country/", {"limit": 100}, "y", "with_country"),
                ("performance/", {}, "y", "views"),
            ]:
                reply = server.post(f"{API}/{path}", {**body, **extra})
                assert reply.status == 200, reply.body
                live, oracle = reply.json(), reference(f"{API}/{path}", {**body, **extra})
                assert live == oracle, (path, body)
                assert sum(row[column] for row in live) == expected[key], (path, body, ledger.accepted)
                checked += 1
        assert checked == 24
