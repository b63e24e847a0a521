"""Ingestion benchmark: ``python -m bench.ingest`` from the repository root.

Builds a fresh PostgreSQL database (``ideeza_bench_ingest``), a small catalogue and an ingest user, starts gunicorn
(2 sync workers, the project's gunicorn.conf.py) on 127.0.0.1, and from separate client processes POSTs batches of
random valid events, each with its own event_id, for a bounded time. A share of requests resend an earlier batch,
as a client retrying after a timeout would; those must come back as all duplicates. It reports accepted events/s
and request latency, then checks that the table holds exactly the events the server said it accepted. Results go
to ``bench/out/ingest.json`` and between the ingest markers of ``docs/benchmarks.md``. Nothing but 127.0.0.1 is
ever contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import queue
import random
import secrets
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

from bench import report as bench_report
from bench.processes import HOST, REPO_ROOT, Server

OUT_DIR = REPO_ROOT / "bench" / "out"
RESULT_JSON = OUT_DIR / "ingest.json"
BENCHMARKS_MD = REPO_ROOT / "docs" / "benchmarks.md"
VIEWS_PATH = "/api/analytics/views/"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ideeza_bench_ingest"
INGEST_USERNAME = "bench-ingest"
TARGET_EVENTS_PER_SECOND = 5_000
REQUEST_TIMEOUT = 30.0


# --- set-up --------------------------------------------------------------------------------------------------
def database_recreate(database_url: str) -> None:
    """Drop and create the bench database, so the row count afterwards is this run's alone."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not parts.scheme.startswith("postgres") or not name:
        raise SystemExit(f"--database-url must name a PostgreSQL database, not {database_url!r}.")
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")), connect_timeout=10)
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()


def manage(args: list[str], *, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as sink:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} exited {done.returncode}; see {log}.")


@dataclass(frozen=True)
class Catalogue:
    blog_ids: list[int]
    country_codes: list[str]
    user_ids: list[int]


def catalogue_read(database_url: str) -> Catalogue:
    with contextlib.closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id FROM analytics_blog")
        blogs = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT code FROM analytics_country")
        codes = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT id FROM auth_user")
        users = [row[0] for row in cursor.fetchall()]
    return Catalogue(blogs, codes, users)


def stored_counts(database_url: str) -> tuple[int, int]:
    """Rows in analytics_blogview, and distinct event ids among them."""
    with contextlib.closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM analytics_blogview")
        rows, distinct = cursor.fetchone()
    return int(rows), int(distinct)


def postgres_version(database_url: str) -> str:
    with contextlib.closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return str(cursor.fetchone()[0])


def access_token(server: Server, password: str) -> str:
    reply = server.post("/api/token/", {"username": INGEST_USERNAME, "password": password})
    if reply.status != 200:
        raise SystemExit(f"POST /api/token/ answered {reply.status}: {reply.body[:200]!r}")
    return str(reply.json()["access"])


# --- the client processes ------------------------------------------------------------------------------------
@dataclass
class ClientReport:
    requests: int = 0
    resent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: int = 0
    new_events_sent: int = 0
    resent_accepted: int = 0  # must stay 0: a resent batch is all duplicates
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)


def event_batch(rng: random.Random, catalogue: Catalogue, size: int, now: datetime) -> list[dict[str, Any]]:
    """Random valid events: mostly with a country, some signed-in readers, a spread of late timestamps."""
    events = []
    for _ in range(size):
        event: dict[str, Any] = {"blog_id": rng.choice(catalogue.blog_ids), "event_id": str(uuid.uuid4())}
        if rng.random() < 0.97:
            event["country_code"] = rng.choice(catalogue.country_codes)
        if rng.random() < 0.1:
            event["viewer_id"] = rng.choice(catalogue.user_ids)
        if rng.random() < 0.9:
            event["ip_address"] = (
                f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            )
        if rng.random() < 0.5:  # the rest take the server's "now"
            event["timestamp"] = (now - timedelta(seconds=rng.randrange(30 * 86_400))).isoformat()
        events.append(event)
    return events


def client_run(
    index: int,
    port: int,
    token: str,
    catalogue: Catalogue,
    batch_size: int,
    resend_share: float,
    stop_at: float,
    progress: Any,
    results: Any,
) -> None:
    """POST batches until ``stop_at`` (a time.time()), reporting each response to ``progress``."""
    rng = random.Random(index)
    report = ClientReport()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    sent: list[bytes] = []
    connection: http.client.HTTPConnection | None = None
    while time.time() < stop_at:
        resend = bool(sent) and rng.random() < resend_share
        if resend:
            body = rng.choice(sent)
        else:
            body = json.dumps({"events": event_batch(rng, catalogue, batch_size, datetime.now(UTC))}).encode()
            sent = [*sent[-9:], body]
        started = time.perf_counter()
        try:
            if connection is None:
                connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
            connection.request("POST", VIEWS_PATH, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            status = response.status
            if response.will_close:  # gunicorn's sync worker closes after every response
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException) as error:
            status, payload = 0, repr(error).encode()
            if connection is not None:
                connection.close()
                connection = None
        elapsed_ms = (time.perf_counter() - started) * 1000
        report.requests += 1
        report.latencies_ms.append(elapsed_ms)
        accepted = 0
        if status == 200:
            outcome = json.loads(payload)
            accepted = outcome["accepted"]
            report.accepted += accepted
            report.duplicates += outcome["duplicates"]
            report.rejected += len(outcome["rejected"])
            if resend:
                report.resent += 1
                report.resent_accepted += accepted
            else:
                report.new_events_sent += batch_size
        else:
            report.errors += 1
            if len(report.error_samples) < 5:
                report.error_samples.append(f"{status}: {payload[:200]!r}")
        progress.put((time.time(), accepted, status != 200))
    if connection is not None:
        connection.close()
    results.put(asdict(report))


# --- the run -------------------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def measure(args: argparse.Namespace, port: int, token: str, catalogue: Catalogue) -> tuple[dict[str, Any], float]:
    context = multiprocessing.get_context("spawn")  # clean client processes: no Django, no inherited sockets
    progress, results = context.Queue(), context.Queue()
    started = time.time()
    stop_at = started + args.seconds
    clients = [
        context.Process(
            target=client_run,
            args=(index, port, token, catalogue, args.batch, args.resend_share, stop_at, progress, results),
        )
        for index in range(args.clients)
    ]
    for client in clients:
        client.start()
    finished: list[dict[str, Any]] = []
    second, accepted_this_second, errors_total, accepted_total = 1, 0, 0, 0
    while len(finished) < len(clients):
        with contextlib.suppress(queue.Empty):
            finished.append(results.get_nowait())
        try:
            at, accepted, failed = progress.get(timeout=0.05)
        except queue.Empty:
            at, accepted, failed = time.time(), 0, False
        while at >= started + second:
            rate = f"{accepted_this_second:>8,} events/s"
            print(f"  {second:4d}s  {rate}  total {accepted_total:>10,}  errors {errors_total}")
            second, accepted_this_second = second + 1, 0
        accepted_this_second += accepted
        accepted_total += accepted
        errors_total += int(failed)
    elapsed = time.time() - started
    for client in clients:
        client.join(timeout=REQUEST_TIMEOUT + 5)
    while True:  # progress messages that arrived after the last report
        try:
            progress.get_nowait()
        except queue.Empty:
            break
    merged: dict[str, Any] = {key: 0 for key in ClientReport().__dict__ if key not in ("latencies_ms", "error_samples")}
    latencies: list[float] = []
    samples: list[str] = []
    for report in finished:
        for key in merged:
            merged[key] += report[key]
        latencies += report["latencies_ms"]
        samples += report["error_samples"]
    merged["latencies_ms"] = latencies
    merged["error_samples"] = samples[:10]
    return merged, elapsed


def git_commit() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, check=True)
        return done.stdout.decode().strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")
    return "unknown"


def markdown(result: dict[str, Any]) -> str:
    verdict = "met" if result["target_met"] else "NOT met"
    lost = "none lost" if result["rows_match"] else "MISMATCH"
    return "\n".join(
        [
            f"Measured {result['date']} on {result['machine']} (commit {result['commit']}), PostgreSQL "
            f"{result['postgres']}, gunicorn with {result['workers']} sync workers on 127.0.0.1; "
            f"{result['clients']} client processes sending batches of {result['batch']} for {result['seconds']} s "
            f"({result['resend_share']:.0%} of requests resend an earlier batch, as after a timeout). Latency is "
            "client-side, send to reply, so it includes waiting for a free worker. Load average "
            f"{_load(result['load_average_before'])} before, {_load(result['load_average_after'])} after.",
            "",
            "| accepted events/s | requests | p50 latency | p95 latency | errors | rows stored = accepted |",
            "|---:|---:|---:|---:|---:|:---|",
            f"| **{result['events_per_second']:,.0f}** | {result['requests']:,} | {result['latency_p50_ms']:.1f} ms | "
            f"{result['latency_p95_ms']:.1f} ms | {result['errors']} | {result['rows_stored']:,} = "
            f"{result['accepted']:,}: {lost} |",
            "",
            f"Target ≥ {TARGET_EVENTS_PER_SECOND:,} events/s with none lost: **{verdict}**. Resent batches: "
            f"{result['resent']:,}, of which events accepted again: {result['resent_accepted']} (must be 0); "
            f"duplicates reported: {result['duplicates']:,}; rejected: {result['rejected']}.",
            "",
            f"Command: `{result['command']}`",
        ]
    )


def _load(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def docs_update(section: str) -> None:
    """Replace what lies between the ingest markers of docs/benchmarks.md only."""
    bench_report.section_write(BENCHMARKS_MD, "ingest", "Ingestion", section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="How long the clients send (default 20).")
    parser.add_argument("--batch", type=int, default=500, help="Events per request (default 500, at most 1,000).")
    parser.add_argument("--clients", type=int, default=4, help="Concurrent client processes (default 4).")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2).")
    parser.add_argument("--resend-share", type=float, default=0.05, help="Share of requests that resend a batch.")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_INGEST_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default="", help="Cache for the throttle (default: local memory).")
    parser.add_argument("--no-docs", action="store_true", help="Do not touch docs/benchmarks.md.")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= 1_000 or args.seconds <= 0 or args.clients < 1 or args.workers < 1:
        parser.error("--batch must be 1-1000, --seconds positive, --clients and --workers at least 1.")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    log = OUT_DIR / "ingest.log"
    log.write_text("")
    password = secrets.token_urlsafe(18)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "IDEEZA_", "DJANGO_")) and key not in ("DEBUG", "SECRET_KEY")
    }
    env |= {
        "DATABASE_URL": args.database_url,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "LOG_LEVEL": "WARNING",
        # Far above what the run can send: the throttle still runs on every request, but never refuses one.
        "IDEEZA_INGEST_THROTTLE_RATE": "100000/second",
        "BENCH_INGEST_PASSWORD": password,
    }
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url

    print(f"database {args.database_url}: recreate, migrate, catalogue, ingest user")
    database_recreate(args.database_url)
    manage(["migrate", "--noinput"], env=env, log=log)
    manage(["seed_data", "--views", "0", "--blogs", "500", "--authors", "50", "--countries", "40"], env=env, log=log)
    manage(["create_ingest_user", INGEST_USERNAME, "--password-from-env", "BENCH_INGEST_PASSWORD"], env=env, log=log)
    catalogue = catalogue_read(args.database_url)

    load_before = os.getloadavg()
    server = Server(
        "ingest",
        env={**env, "WEB_CONCURRENCY": str(args.workers)},
        log=OUT_DIR / "gunicorn.log",
        request_timeout=REQUEST_TIMEOUT,
    )
    print(f"gunicorn: {args.workers} workers on {HOST}:{server.port}")
    server.start()
    try:
        server.wait_ready(timeout=60.0)
        token = access_token(server, password)
        print(f"sending batches of {args.batch} from {args.clients} client processes for {args.seconds:g} s")
        totals, elapsed = measure(args, server.port, token, catalogue)
    finally:
        server.stop()

    load_after = os.getloadavg()
    rows, distinct_ids = stored_counts(args.database_url)
    latencies = totals.pop("latencies_ms")
    events_per_second = totals["accepted"] / elapsed
    rows_match = rows == totals["accepted"] == distinct_ids and totals["resent_accepted"] == 0
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "machine": f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        "postgres": postgres_version(args.database_url),
        # The machine may be shared: other work running at the same time lowers the numbers.
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in load_after],
        "command": shlex.join(["python", "-m", "bench.ingest", *(argv if argv is not None else sys.argv[1:])]),
        "seconds": args.seconds,
        "elapsed_seconds": round(elapsed, 3),
        "batch": args.batch,
        "clients": args.clients,
        "workers": args.workers,
        "resend_share": args.resend_share,
        "events_per_second": round(events_per_second, 1),
        "requests_per_second": round(totals["requests"] / elapsed, 2),
        "latency_p50_ms": round(percentile(latencies, 0.5), 2),
        "latency_p95_ms": round(percentile(latencies, 0.95), 2),
        "latency_max_ms": round(max(latencies, default=0.0), 2),
        "rows_stored": rows,
        "distinct_event_ids_stored": distinct_ids,
        "rows_match": rows_match,
        "target_events_per_second": TARGET_EVENTS_PER_SECOND,
        "target_met": rows_match and totals["errors"] == 0 and events_per_second >= TARGET_EVENTS_PER_SECOND,
        **totals,
    }
    RESULT_JSON.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"\n{result['events_per_second']:,.0f} accepted events/s over {elapsed:.1f} s; "
        f"{totals['requests']:,} requests, "
        f"p50 {result['latency_p50_ms']} ms, p95 {result['latency_p95_ms']} ms, errors {totals['errors']}; "
        f"rows stored {rows:,} vs accepted {totals['accepted']:,}: {'OK' if rows_match else 'MISMATCH'}; "
        f"resent batches {totals['resent']} re-accepted {totals['resent_accepted']}."
    )
    for sample in totals["error_samples"]:
        print(f"  error: {sample}")
    if not args.no_docs:
        docs_update(markdown(result))
        print(f"wrote {RESULT_JSON.relative_to(REPO_ROOT)} and the ingest section of docs/benchmarks.md")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
