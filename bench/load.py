"""Load test: ``python -m bench.load`` (``make load``): gunicorn + PostgreSQL + Redis on 127.0.0.1, driven by wrk.

Steps: (1) create + migrate the load database, seed it (``seed_data --reset``, 100,000 views by default) and fold
it, create an ingest user; (2) start gunicorn with the project's ``gunicorn.conf.py`` (JSON request log on, as in
production) and Redis as the response cache; (3) warm the cache with a fixed set of bodies across all six query
endpoints; (4) the **cached** phase, the target: wrk sends only those bodies, ``--runs`` times; (5) the **mix**
phase, ``--runs`` times: three wrk processes at once, cached bodies, uncached bodies (every request a window no
earlier request asked for) and paced ingestion batches; (6) stop gunicorn, write ``docs/load.json`` and the load
section of ``docs/benchmarks.md``. Talks to 127.0.0.1 only, bounded in time, and stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2

from bench import machine, report
from bench.processes import (
    HARNESS_DECIDES,
    HOST,
    REPO_ROOT,
    HarnessError,
    Server,
    cached_answers_clear,
    manage,
    run_child,
)
from bench.workload import ENDPOINTS, database_create_if_missing

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ideeza_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
LUA_SCRIPT = REPO_ROOT / "bench" / "load.lua"
INGEST_USERNAME = "load-ingest"
INGEST_PATH = "/api/analytics/views/"
TARGET_RPS = 500.0
TARGET_P99_MS = 100.0
UNCACHED_BODIES = 12_000  # distinct windows per run; more than the uncached class can send in --seconds
INGEST_BATCHES = 2_000
INGEST_BATCH_SIZE = 50
# Settings the script decides for gunicorn (the harness's, and the request log's); inherited values would silently
# change what is measured.
INHERITED_OUT = HARNESS_DECIDES | {"LOG_FORMAT", "LOG_LEVEL", "LOG_REQUESTS"}


def default_workers() -> int:
    """CPUs + 1, not gunicorn.conf.py's 2 × CPUs + 1: that default assumes the database on other machines, so a
    worker waiting on it leaves its CPU to another; here PostgreSQL, Redis and wrk need the same CPUs, and the extra
    workers only add context switches (measured: 3 workers served more cached requests per second than 5 on 2 CPUs)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cpus + 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of every wrk run (default 20).")
    parser.add_argument("--runs", type=int, default=3, help="Runs of each phase; medians are reported (default 3).")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections of the cached class (8).")
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="gunicorn workers (default: usable CPUs + 1; wrk, PostgreSQL and Redis share the same CPUs).",
    )
    parser.add_argument(
        "--ingest-interval-ms", type=int, default=1000, help="Pause between ingest batches of the mix (1000)."
    )
    parser.add_argument("--no-mix", action="store_true", help="Run the cached phase only (for tuning).")
    parser.add_argument("--views", type=int, default=100_000, help="Views to seed (default 100,000).")
    parser.add_argument("--skip-seed", action="store_true", help="Reuse the seeded, folded load database.")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help=f"default {DEFAULT_DATABASE_URL}")
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help=f"its cached answers are cleared (default {DEFAULT_REDIS_URL})"
    )
    parser.add_argument(
        "--replica-urls", default="", help="DATABASE_REPLICA_URLS for gunicorn (streaming replicas; bench.replicas)."
    )
    parser.add_argument("--out", type=Path, default=Path("docs/load.json"), help="JSON results path.")
    parser.add_argument("--markdown", type=Path, default=Path("docs/benchmarks.md"), help="File with load markers.")
    parser.add_argument("--no-docs", action="store_true", help="Write the JSON under bench/out only.")
    options = parser.parse_args(argv)
    if options.seconds <= 0 or options.runs < 1 or options.connections < 1:
        parser.error("--seconds must be positive, --runs and --connections at least 1.")
    if options.workers < 1:
        parser.error("--workers must be at least 1.")
    if not options.database_url.startswith("postgres") or "127.0.0.1" not in options.database_url:
        parser.error("--database-url must name a PostgreSQL database on 127.0.0.1.")
    return options


# --- the request mix -----------------------------------------------------------------------------------------
def cached_requests() -> list[tuple[str, dict[str, Any]]]:
    """The fixed bodies the cached class repeats: every query endpoint × a few windows and filters."""
    bodies: list[dict[str, Any]] = [
        {"range": "year"},
        {"range": "month"},
        {"range": "week"},
        {"range": "month", "exclude_country_codes": ["US"]},
        {"range": "year", "filters": {"contains": {"field": "blog_title", "value": "data"}}},
    ]
    requests = [(path, body) for path in ENDPOINTS.values() for body in bodies]
    # `limit` is for the grouped endpoints only (performance and totals answer 400 to it).
    requests += [
        (path, {"range": "year", "limit": 5})
        for name, path in ENDPOINTS.items()
        if name not in {"performance", "totals"}
    ]
    requests += [(ENDPOINTS["performance"], {"range": "year", "compare": compare}) for compare in ("week", "month")]
    return requests


def uncached_requests(today: date, count: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` requests whose windows no other request asks for: start day and length vary, endpoints rotate."""
    paths = list(ENDPOINTS.values())
    requests = []
    for index in range(count):
        window = index // len(paths)
        start = today - timedelta(days=1 + window % 365)
        end = start + timedelta(days=(window // 365) % 90)
        body = {"start_date": start.isoformat(), "end_date": end.isoformat()}
        requests.append((paths[index % len(paths)], body))
    return requests


def ingest_requests(blog_ids: list[int], codes: list[str], count: int, size: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` batches of ``size`` events, every event_id new (timestamps default to the server's now)."""
    requests = []
    for batch in range(count):
        events = [
            {
                "blog_id": blog_ids[(batch * size + item) % len(blog_ids)],
                "country_code": codes[(batch + item) % len(codes)],
                "event_id": str(uuid.uuid4()),
            }
            for item in range(size)
        ]
        requests.append((INGEST_PATH, {"events": events}))
    return requests


def lua_data(requests: list[tuple[str, dict[str, Any]]], headers: dict[str, str]) -> str:
    def literal(text: str) -> str:
        if "]==]" in text:
            raise ValueError("a body contains the Lua long-bracket terminator")
        return f"[==[{text}]==]"

    lines = ["return {", "headers = {"]
    lines += [f"  [ {literal(name)} ] = {literal(value)}," for name, value in headers.items()]
    lines += ["},", "requests = {"]
    lines += [f"  {{{literal(path)}, {literal(json.dumps(body))}}}," for path, body in requests]
    lines += ["},", "}"]
    return "\n".join(lines) + "\n"


# --- statistics ----------------------------------------------------------------------------------------------
def histogram_percentile(histogram: list[tuple[int, int]], fraction: float) -> float:
    """Nearest-rank percentile of a (value, count) histogram."""
    total = sum(count for _, count in histogram)
    if total == 0:
        raise ValueError("percentile of no values")
    rank = max(1, round(fraction * total + 0.5 - 1e-9))
    seen = 0
    for value, count in sorted(histogram):
        seen += count
        if seen >= rank:
            return float(value)
    return float(max(value for value, _ in histogram))


@dataclass(frozen=True)
class ClassResult:
    """One wrk process's result, from load.lua's done()."""

    name: str
    raw: dict[str, Any]

    @property
    def seconds(self) -> float:
        return float(self.raw["duration_us"]) / 1e6

    @property
    def histogram(self) -> list[tuple[int, int]]:
        return [(int(value), int(count)) for value, count in self.raw["latency_us"]]

    @property
    def non_2xx(self) -> int:
        return sum(count for status, count in self.raw["statuses"].items() if not status.startswith("2"))

    @property
    def socket_errors(self) -> int:
        errors = self.raw["errors"]
        return int(errors["connect"] + errors["read"] + errors["write"] + errors["timeout"])


def stats(name: str, results: list[ClassResult]) -> dict[str, Any]:
    histogram = [pair for result in results for pair in result.histogram]
    requests = sum(int(result.raw["requests"]) for result in results)
    seconds = max((result.seconds for result in results), default=0.0)
    x_cache: dict[str, int] = {}
    statuses: dict[str, int] = {}
    read_from: dict[str, int] = {}
    for result in results:
        for counts, found in ((x_cache, "x_cache"), (statuses, "statuses"), (read_from, "read_from")):
            for key, count in result.raw.get(found, {}).items():
                counts[key] = counts.get(key, 0) + count
    ms = {
        f"p{int(fraction * 100)}_ms": round(histogram_percentile(histogram, fraction) / 1000, 2) if histogram else None
        for fraction in (0.5, 0.95, 0.99)
    }
    non_2xx = sum(result.non_2xx for result in results)
    socket_errors = sum(result.socket_errors for result in results)
    return {
        "class": name,
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        **ms,
        "max_ms": round(max((value for value, _ in histogram), default=0) / 1000, 2),
        "non_2xx": non_2xx,
        "socket_errors": socket_errors,
        "errors": non_2xx + socket_errors,
        "statuses": statuses,
        "x_cache": x_cache,
        # Where computed answers were read (X-Read-From: primary or a replica); "none" for hits and ingestion.
        "read_from": read_from,
    }


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return round(statistics.median(values), 2) if values else None


def summary_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over runs of rps and latency percentiles; errors are summed (one error anywhere counts)."""
    return {
        "runs": len(runs),
        "rps": median_of(runs, "rps"),
        "p50_ms": median_of(runs, "p50_ms"),
        "p95_ms": median_of(runs, "p95_ms"),
        "p99_ms": median_of(runs, "p99_ms"),
        "requests": sum(run["requests"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "non_2xx": sum(run["non_2xx"] for run in runs),
        "socket_errors": sum(run["socket_errors"] for run in runs),
        "hit_share": _hit_share(runs),
    }


def _hit_share(runs: list[dict[str, Any]]) -> float | None:
    hits = sum(run["x_cache"].get("HIT", 0) for run in runs)
    total = sum(sum(run["x_cache"].values()) for run in runs)
    return round(hits / total, 4) if total else None


# --- the run -------------------------------------------------------------------------------------------------
class LoadRun:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.started = datetime.now(UTC)
        self.out_dir = REPO_ROOT / "bench" / "out" / ("load-" + self.started.strftime("%Y%m%dT%H%M%SZ"))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.password = secrets.token_urlsafe(18)
        self.secret_key = secrets.token_urlsafe(50)
        self.server: Server | None = None
        self.token = ""
        self.document: dict[str, Any] = {
            "complete": False,
            "command": shlex.join(["python", "-m", "bench.load", *(sys.argv[1:])]),
            "options": {key: str(value) if isinstance(value, Path) else value for key, value in vars(options).items()},
            "environment": {},
            "dataset": {},
            "targets": {"cached_rps": TARGET_RPS, "cached_p99_ms": TARGET_P99_MS, "cached_errors": 0},
            "cached": {"runs": [], "summary": {}},
            "mix": {"runs": [], "summary": {}},
            "warnings": [],
            "logs": str(self.out_dir),
        }

    def say(self, text: str) -> None:
        print(f"[{(datetime.now(UTC) - self.started).total_seconds():6.1f}s] {text}", flush=True)

    def warn(self, text: str) -> None:
        self.document["warnings"].append(text)
        print(f"WARNING: {text}", flush=True)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDEEZA_") and k not in INHERITED_OUT}
        env.update(
            DATABASE_URL=self.options.database_url,
            REDIS_URL=self.options.redis_url,
            DEBUG="false",
            SECRET_KEY=self.secret_key,
            ALLOWED_HOSTS=HOST,
            IDEEZA_TIMEZONE="UTC",
            # The ingest class sends far below any sane rate, but the throttle must not be what is measured.
            IDEEZA_INGEST_THROTTLE_RATE="off",
            LOAD_INGEST_PASSWORD=self.password,
            PYTHONUNBUFFERED="1",
            DATABASE_REPLICA_URLS=self.options.replica_urls,
        )
        env.update(extra)
        return env

    def command(self, name: str, argv: list[str]) -> str:
        return run_child(argv, env=self.env(), log=self.out_dir / f"{name}.log", timeout=600).output

    def prepare(self) -> None:
        created = database_create_if_missing(self.options.database_url)
        self.say(f"{'created' if created else 'found'} the load database; migrating")
        self.command("migrate", manage("migrate", "--noinput"))
        if self.options.skip_seed:
            self.say("--skip-seed: reusing the data; folding what changed")
            self.command("fold", manage("precalculate_stats"))
        else:
            views = self.options.views
            self.say(f"seed_data --reset --views {views:,}, then precalculate_stats --full")
            seeded = self.command(
                "seed",
                manage(
                    "seed_data",
                    "--reset",
                    "--seed=42",
                    f"--views={views}",
                    "--blogs=500",
                    "--authors=100",
                    "--countries=30",
                ),
            )
            self.document["dataset"]["seed_line"] = seeded.strip().splitlines()[-1] if seeded.strip() else ""
            self.command("fold", manage("precalculate_stats", "--full"))
        self.command(
            "ingest_user", manage("create_ingest_user", INGEST_USERNAME, "--password-from-env", "LOAD_INGEST_PASSWORD")
        )
        self.document["dataset"].update(_dataset(self.options.database_url))

    def server_start(self) -> None:
        cleared = cached_answers_clear(self.options.redis_url)
        self.server = Server(
            "load",
            env=self.env(WEB_CONCURRENCY=str(self.options.workers)),
            log=self.out_dir / "gunicorn.log",
            request_timeout=30.0,
        )
        self.server.start()
        self.server.wait_ready(timeout=60.0)
        workers = _gunicorn_workers(self.server)
        self.document["server"] = {"workers": workers, "worker_class": "sync", "port": self.server.port}
        self.say(f"gunicorn on {HOST}:{self.server.port} ({workers} workers); cleared {cleared} cached keys")
        reply = self.server.post("/api/token/", {"username": INGEST_USERNAME, "password": self.password})
        if reply.status != 200:
            raise HarnessError(f"POST /api/token/ answered {reply.status}: {reply.body[:200]!r}")
        self.token = str(reply.json()["access"])

    def warm(self, requests: list[tuple[str, dict[str, Any]]]) -> None:
        """Each cached body until it is a HIT; every worker then shares the answer through Redis."""
        assert self.server is not None
        for path, body in requests:
            first = self.server.post(path, body)
            if first.status != 200:
                raise HarnessError(f"warm-up {path} {body} answered {first.status}: {first.body[:200]!r}")
            second = self.server.post(path, body)
            if second.x_cache != "HIT":
                raise HarnessError(f"warm-up {path} {body}: X-Cache {second.x_cache!r} after a first request.")

    def wrk(
        self, name: str, data: str, *, connections: int, threads: int, delay_ms: int = 0, seconds: float | None = None
    ) -> subprocess.Popen[bytes]:
        assert self.server is not None
        data_file = self.out_dir / f"{name}.data.lua"
        data_file.write_text(data, encoding="utf-8")
        script = self.out_dir / f"{name}.lua"
        result = self.out_dir / f"{name}.result.json"
        result.unlink(missing_ok=True)
        lines = [f"DATA_FILE = [==[{data_file}]==]", f"RESULT_FILE = [==[{result}]==]", f"dofile([==[{LUA_SCRIPT}]==])"]
        if delay_ms:
            lines.append(f"function delay() return {delay_ms} end")
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds or self.options.seconds:g}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            f"http://{HOST}:{self.server.port}/",
        ]
        log = (self.out_dir / f"{name}.wrk.log").open("wb")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.out_dir)

    def collect(self, name: str, process: subprocess.Popen[bytes]) -> ClassResult:
        try:
            code = process.wait(timeout=self.options.seconds + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise HarnessError(f"wrk {name} did not finish (log: {self.out_dir / (name + '.wrk.log')}).") from None
        result = self.out_dir / f"{name}.result.json"
        if code != 0 or not result.exists():
            raise HarnessError(
                f"wrk {name} exited {code} without a result (log: {self.out_dir / (name + '.wrk.log')})."
            )
        return ClassResult(name, json.loads(result.read_text(encoding="utf-8")))

    def cached_phase(self, cached: str, index: int) -> None:
        assert self.server is not None and self.server.process is not None
        started_load = os.getloadavg()[0]
        workers_before, machine_before = _workers_cpu_seconds(self.server.process.pid), _machine_cpu()
        process = self.wrk(f"cached-{index}", cached, connections=self.options.connections, threads=2)
        run = stats("cached", [self.collect(f"cached-{index}", process)])
        workers_after, machine_after = _workers_cpu_seconds(self.server.process.pid), _machine_cpu()
        run["load_1min_before"] = round(started_load, 2)
        # What a request costs the workers whatever else runs, and how busy the whole machine was meanwhile.
        run["worker_cpu_ms_per_request"] = round((workers_after - workers_before) * 1000 / max(1, run["requests"]), 3)
        busy, total = (after - before for after, before in zip(machine_after, machine_before, strict=True))
        run["machine_busy_share"] = round(busy / total, 3) if total else None
        self.document["cached"]["runs"].append(run)
        if run["x_cache"].get("HIT", 0) != run["requests"]:
            self.warn(f"cached run {index}: not every answer was a HIT: {run['x_cache']}")
        self.say(_line(f"cached run {index}", run))

    def mix_phase(self, cached: str, index: int) -> None:
        assert self.server is not None
        today = datetime.now(UTC).date()
        uncached = lua_data(uncached_requests(today, UNCACHED_BODIES), {"Content-Type": "application/json"})
        ingest = lua_data(
            ingest_requests(
                self.document["dataset"]["blog_ids"],
                self.document["dataset"]["country_codes"],
                INGEST_BATCHES,
                INGEST_BATCH_SIZE,
            ),
            {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        started_load = os.getloadavg()[0]
        processes = {
            "cached": self.wrk(
                f"mix-cached-{index}", cached, connections=max(1, self.options.connections - 2), threads=2
            ),
            "uncached": self.wrk(f"mix-uncached-{index}", uncached, connections=1, threads=1),
            "ingest": self.wrk(
                f"mix-ingest-{index}", ingest, connections=1, threads=1, delay_ms=self.options.ingest_interval_ms
            ),
        }
        results = {name: self.collect(f"mix-{name}-{index}", process) for name, process in processes.items()}
        classes = {name: stats(name, [result]) for name, result in results.items()}
        overall = stats("overall", list(results.values()))
        run = {"overall": overall, "classes": classes, "load_1min_before": round(started_load, 2)}
        self.document["mix"]["runs"].append(run)
        for name in ("overall", *classes):
            self.say(_line(f"mix run {index} {name}", overall if name == "overall" else classes[name]))
        uncached_hits = classes["uncached"]["x_cache"].get("HIT", 0)
        if uncached_hits:
            self.warn(f"mix run {index}: {uncached_hits} uncached requests were HITs (a repeated window).")

    def measure(self) -> None:
        requests = cached_requests()
        cached = lua_data(requests, {"Content-Type": "application/json"})
        self.document["cached_bodies"] = [{"path": path, "body": body} for path, body in requests]
        self.say(f"warming {len(requests)} cached bodies, then every worker (a 3 s wrk run, not recorded)")
        self.warm(requests)
        # A worker's first requests pay for lazy imports and its database and Redis connections.
        self.collect("warm-up", self.wrk("warm-up", cached, connections=self.options.connections, threads=2, seconds=3))
        for index in range(1, self.options.runs + 1):
            self.cached_phase(cached, index)
        for index in range(1, 0 if self.options.no_mix else self.options.runs + 1):
            self.say(f"mix run {index}: re-warming (ingestion moved the data version), then 3 wrk processes")
            self.warm(requests)
            self.mix_phase(cached, index)

    def finish(self) -> None:
        cached_runs = self.document["cached"]["runs"]
        summary = summary_of(cached_runs)
        summary["passes"] = bool(
            cached_runs
            and summary["rps"] is not None
            and summary["rps"] >= TARGET_RPS
            and summary["errors"] == 0
            and summary["p99_ms"] is not None
            and summary["p99_ms"] < TARGET_P99_MS
        )
        self.document["cached"]["summary"] = summary
        mix_runs = self.document["mix"]["runs"]
        if mix_runs:
            self.document["mix"]["summary"] = {
                "overall": summary_of([run["overall"] for run in mix_runs]),
                **{name: summary_of([run["classes"][name] for run in mix_runs]) for name in mix_runs[0]["classes"]},
            }
        self.document["environment"]["load_after"] = machine.load_average()


def _line(label: str, run: dict[str, Any]) -> str:
    return (
        f"{label:<22} {run['rps']:>8.1f} req/s  p50 {run['p50_ms']} ms  p95 {run['p95_ms']} ms  p99 {run['p99_ms']} ms"
        f"  errors {run['errors']}  X-Cache {run['x_cache']}"
    )


def _dataset(database_url: str) -> dict[str, Any]:
    connection = psycopg2.connect(database_url, connect_timeout=10)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), min(timestamp)::date::text, max(timestamp)::date::text FROM analytics_blogview"
            )
            views, first, last = cursor.fetchone()
            cursor.execute("SELECT id FROM analytics_blog ORDER BY id")
            blog_ids = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT code FROM analytics_country ORDER BY code")
            codes = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT current_setting('server_version')")
            (version,) = cursor.fetchone()
    finally:
        connection.close()
    if not blog_ids or not codes:
        raise HarnessError("The load database has no blogs or countries; run without --skip-seed.")
    return {
        "views": views,
        "blogs": len(blog_ids),
        "countries": len(codes),
        "first_day": first,
        "last_day": last,
        "postgres_version": version,
        "blog_ids": blog_ids,
        "country_codes": codes,
    }


def _gunicorn_workers(server: Server) -> int:
    """Worker processes under the master, counted from /proc (what actually runs, not what was asked)."""
    assert server.process is not None
    for _ in range(40):
        try:
            children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
        except OSError:
            return -1
        if children:
            time.sleep(0.5)  # let the last workers boot
            return len(Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split())
        time.sleep(0.25)
    return 0


def _workers_cpu_seconds(master_pid: int) -> float:
    """User + system CPU time of the master's children (the workers; none is recycled during a run)."""
    ticks = 0
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        for child in children:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    except OSError:
        return 0.0
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def environment(redis_url: str) -> dict[str, Any]:
    """``bench.machine.environment`` and the wrk version."""
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" [", 1)[0]
    return {**machine.environment(redis_url), "wrk": wrk_version.strip()}


# --- Markdown ------------------------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def markdown(document: dict[str, Any]) -> str:
    env, dataset, server = document["environment"], document["dataset"], document["server"]
    options, cached = document["options"], document["cached"]
    summary = cached["summary"]
    dirty = f" with uncommitted changes in {len(env['git_dirty'])} files" if env["git_dirty"] else ""
    verdict = "**PASS**" if summary["passes"] else "**FAIL**"
    lines = [
        f"Recorded {env['date']} on {env['cpus']} CPUs ({env['platform']}), Python {env['python']}, "
        f"PostgreSQL {dataset['postgres_version']}, Redis {env['redis']}, {env['wrk']}; commit "
        f"`{env['git_commit'][:12]}`{dirty}. The machine is shared: load average {env['load_before']} before, "
        f"{env['load_after']} after.",
        "",
        "```",
        document["command"],
        "```",
        "",
        f"gunicorn (`gunicorn.conf.py` with `WEB_CONCURRENCY={server['workers']}` sync workers: `--workers`, by "
        "default CPUs + 1, since wrk, PostgreSQL and Redis use the same CPUs; JSON request log on, DEBUG off) with "
        f"Redis as the response cache, on 127.0.0.1 beside wrk, PostgreSQL and Redis (all on the same "
        f"{env['cpus']} CPUs). Data: {dataset['views']:,} views of {dataset['blogs']:,} blogs in "
        f"{dataset['countries']} countries ({dataset['first_day']} to {dataset['last_day']}), folded. Each wrk run "
        f"lasts {options['seconds']:g} s; {options['runs']} runs per phase; rates and percentiles are the medians of "
        "the runs, errors their sum. Latency is wrk's, request sent to response read; errors are non-2xx "
        "responses plus socket errors (connect, read, write, timeout at 5 s).",
        "",
        f"### Cached mix: the target (≥ {TARGET_RPS:.0f} req/s, 0 errors, p99 < {TARGET_P99_MS:.0f} ms)",
        "",
        f"wrk, 2 threads, {options['connections']} connections, cycling through {len(document['cached_bodies'])} "
        "fixed bodies across all six query endpoints, warmed first (every answer must be an `X-Cache: HIT`).",
        "",
    ]
    header = [
        "run",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "X-Cache HIT",
        "worker CPU ms/request",
        "machine busy",
        "load (1 min) before",
    ]
    rows = [
        [
            str(index),
            f"{run['rps']:,.0f}",
            _ms(run["p50_ms"]),
            _ms(run["p95_ms"]),
            _ms(run["p99_ms"]),
            str(run["errors"]),
            _share(run["x_cache"].get("HIT", 0) / max(1, sum(run["x_cache"].values()))),
            f"{run['worker_cpu_ms_per_request']:.2f}",
            _share(run["machine_busy_share"]),
            f"{run['load_1min_before']:.2f}",
        ]
        for index, run in enumerate(cached["runs"], 1)
    ]
    rows.append(
        [
            "**median**",
            f"**{summary['rps']:,.0f}**",
            _ms(summary["p50_ms"]),
            _ms(summary["p95_ms"]),
            f"**{_ms(summary['p99_ms'])}**",
            f"**{summary['errors']}**",
            _share(summary["hit_share"]),
            f"{median_of(cached['runs'], 'worker_cpu_ms_per_request') or 0:.2f}",
            _share(median_of(cached["runs"], "machine_busy_share")),
            "",
        ]
    )
    lines += report.markdown_table(header, rows, "lrrrrrrrrr")
    lines += [
        "",
        f"Target: {verdict}. *worker CPU ms/request*: CPU time of the gunicorn workers over the run divided by its "
        "requests (what a cached answer costs, however busy the machine); *machine busy*: share of all CPUs busy "
        "during the run, everyone's processes included.",
        "",
    ]
    mix = document["mix"]
    if mix["summary"]:
        lines += [
            "### Realistic mix",
            "",
            f"Three wrk processes at once: **cached** (the bodies above, {max(1, options['connections'] - 2)} "
            "connections), **uncached** (1 connection; every request a window no earlier request asked for, "
            f"rotating over the six endpoints) and **ingest** (1 connection, a batch of {INGEST_BATCH_SIZE} new events "
            f"every {options['ingest_interval_ms']} ms after the previous answer). Every ingested batch bumps the data "
            "version (SPEC §7), so each cached body misses once after it: the HIT column shows what that costs.",
            "",
        ]
        header = ["class", "requests", "share", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "X-Cache HIT"]
        total = mix["summary"]["overall"]["requests"] or 1
        rows = [
            [
                f"**{name}**" if name == "overall" else name,
                f"{row['requests']:,}",
                _share(row["requests"] / total),
                f"{row['rps']:,.0f}",
                _ms(row["p50_ms"]),
                _ms(row["p95_ms"]),
                _ms(row["p99_ms"]),
                str(row["errors"]),
                _share(row["hit_share"]) if name != "ingest" else "–",
            ]
            for name, row in mix["summary"].items()
        ]
        lines += report.markdown_table(header, rows, "lrrrrrrrr")
        lines += ["", "Per run (overall): " + "; ".join(_run_text(run["overall"]) for run in mix["runs"]) + "."]
    if document["warnings"]:
        lines += ["", "Warnings:", ""] + [f"- {warning}" for warning in document["warnings"]]
    lines += ["", "Every run's numbers, status and X-Cache counts: `docs/load.json`."]
    return "\n".join(lines)


def _run_text(run: dict[str, Any]) -> str:
    return f"{run['rps']:,.0f} req/s, p99 {_ms(run['p99_ms'])} ms, {run['errors']} errors"


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu).", file=sys.stderr)
        return 2
    run = LoadRun(options)
    document = run.document
    try:
        document["environment"] = environment(options.redis_url)
        run.prepare()
        run.server_start()
        run.measure()
        document["complete"] = True
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - any failure still stops gunicorn
        document["error"] = f"{type(error).__name__}: {error}"
        print(f"\nFAILED: {document['error']}", file=sys.stderr, flush=True)
    finally:
        if run.server is not None:
            run.say("stopping gunicorn")
            run.server.stop()
    run.finish()
    report.json_write(run.out_dir / "load.json", document)
    if not document["complete"]:
        print(f"Nothing written to docs; partial results in {run.out_dir / 'load.json'}.")
        return 1
    summary = document["cached"]["summary"]
    print(
        f"\nCached mix (median of {summary['runs']}): {summary['rps']:,.0f} req/s, p50 {summary['p50_ms']} ms, "
        f"p99 {summary['p99_ms']} ms, errors {summary['errors']}: {'PASS' if summary['passes'] else 'FAIL'}"
    )
    if not options.no_docs:
        report.json_write(options.out, _without_histograms(document))
        report.section_write(options.markdown, "load", "Load", markdown(document))
        print(f"Wrote {options.out} and the load section of {options.markdown} (logs: {run.out_dir}).")
    return 0 if summary["passes"] else 1


def _without_histograms(document: dict[str, Any]) -> dict[str, Any]:
    """The committed copy: no id lists (the latency histograms stay in bench/out's per-run *.result.json)."""
    slim = json.loads(json.dumps(document))
    slim["dataset"].pop("blog_ids", None)
    slim["dataset"].pop("country_codes", None)
    return slim


if __name__ == "__main__":
    sys.exit(main())
