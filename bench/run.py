"""``python -m bench.run``: seed PostgreSQL, fold, and time every endpoint over HTTP (fast, reference, cached).

Steps: (1) create + migrate the bench database, (2) ``seed_data --reset``, (3) ``precalculate_stats --full``,
(4) one new day of views + an incremental ``precalculate_stats``, then an hour of views (20,000) + another,
(5) three gunicorn servers on 127.0.0.1,
(6) the fixed request mix, (7) ``/healthz`` as the floor, (8) what a change costs the next answer (a new blog,
author or country; an hour of views not yet folded: ``bench.freshness``), (9) stop the servers and write
docs/benchmarks.{json,md}.
Talks to 127.0.0.1 only, stops every process it started, and ends within ``--budget`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import signal
import sys
import traceback
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bench import freshness, report
from bench.machine import environment, git, load_average
from bench.processes import (
    HARNESS_DECIDES,
    REPO_ROOT,
    ChildRun,
    Deadline,
    HarnessError,
    Reply,
    Server,
    cached_answers_clear,
    manage,
    run_child,
)
from bench.workload import (
    FILTERED,
    FULL_YEAR,
    Probe,
    database_create_if_missing,
    dataset_facts,
    picks_from_database,
    probes,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ideeza_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
STEPS = 9
SEED = 42
# The data sets: today's benchmark set, and a real platform's (issue #9): many posts, few views each.
PROFILES: dict[str, dict[str, int]] = {
    "default": {"views": 1_000_000, "blogs": 2_000, "authors": 200, "countries": 50, "days": 365},
    "platform": {"views": 10_000_000, "blogs": 100_000, "authors": 10_000, "countries": 50, "days": 365},
}
# One sync worker per server: requests are strictly sequential, so a second worker would never serve in
# parallel, and the warm-up request would warm only one of them (the timed ones could land on a cold one).
WORKERS = 1
HEALTHZ_REQUESTS = 21


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=(
            "Build the benchmark data set on PostgreSQL, fold it, and time every endpoint over HTTP: "
            "the uncached fast path, the uncached reference scan, and the cached path."
        ),
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="default",
        help="The data set: default (1M views, 2,000 blogs, 200 authors) or platform (10M views, 100,000 blogs, "
        "10,000 authors); each has its own database, JSON file and section of docs/benchmarks.md. The flags below "
        "override its sizes.",
    )
    parser.add_argument("--views", type=int, help="Views to seed (profile: 1,000,000 or 10,000,000).")
    parser.add_argument("--blogs", type=int, help="Blogs to seed (profile: 2,000 or 100,000).")
    parser.add_argument("--authors", type=int, help="Authors to seed (profile: 200 or 10,000).")
    parser.add_argument("--countries", type=int, help="Countries to seed (50).")
    parser.add_argument("--days", type=int, help="Days before today to spread views over (365).")
    parser.add_argument("--repeat", type=int, default=7, help="Timed requests per body and server (default 7).")
    parser.add_argument("--database-url", help=f"default {DEFAULT_DATABASE_URL} (platform: ..._platform)")
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help=f"Redis for the cached server and the fold lock; its cached answers are cleared ({DEFAULT_REDIS_URL}).",
    )
    parser.add_argument("--skip-seed", action="store_true", help="Reuse the already-seeded bench database.")
    parser.add_argument(
        "--freshness-only",
        action="store_true",
        help="Only step 8 (bench.freshness) against the already-folded bench database; its results replace those of "
        "the recorded run in --out, whose other measurements stay as they were (the report says so).",
    )
    parser.add_argument("--out", type=Path, help="JSON results path (docs/benchmarks.json; platform: -platform).")
    parser.add_argument(
        "--markdown", type=Path, default=Path("docs/benchmarks.md"), help="Markdown file whose queries section to fill."
    )
    parser.add_argument(
        "--timezone",
        default="UTC",
        help="The servers' and the fold's IDEEZA_TIMEZONE (UTC). What range=day reads depends on the local time of "
        "day (how many of today's hours are folded blocks), so a run that must be compared with one at another hour "
        "can pick a zone where the clock reads the same.",
    )
    parser.add_argument("--request-timeout", type=float, default=60.0, help="Seconds per HTTP request (60).")
    parser.add_argument("--budget", type=float, default=3_600.0, help="Seconds for the whole run (3,600).")
    options = parser.parse_args(argv)
    profile = PROFILES[options.profile]
    for size, value in profile.items():
        if getattr(options, size) is None:
            setattr(options, size, value)
    platform = options.profile != "default"
    if options.database_url is None:
        options.database_url = DEFAULT_DATABASE_URL + (f"_{options.profile}" if platform else "")
    if options.out is None:
        options.out = Path(f"docs/benchmarks{f'-{options.profile}' if platform else ''}.json")
    options.section = f"queries-{options.profile}" if platform else "queries"
    if options.repeat < 2:
        parser.error("--repeat must be at least 2 (a p95 of one sample means nothing).")
    if options.views < 1_000:
        parser.error("--views must be at least 1,000.")
    try:
        ZoneInfo(options.timezone)
    except (ValueError, ZoneInfoNotFoundError):
        parser.error(f"--timezone: no such zone {options.timezone!r}.")
    return options


class Run:
    """One harness run: the options, the progress clock, the JSON document it fills, the servers it owns."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.deadline = Deadline(options.budget)
        self.started_at = datetime.now(UTC)
        self.log_dir = REPO_ROOT / "bench" / "out" / self.started_at.strftime("%Y%m%dT%H%M%SZ")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.secret_key = secrets.token_urlsafe(32)
        self.servers: dict[str, Server] = {}
        self.document: dict[str, Any] = {
            "complete": False,
            "error": None,
            "command": shlex.join(["python", "-m", "bench.run", *sys.argv[1:]]),
            "options": {key: str(value) if isinstance(value, Path) else value for key, value in vars(options).items()},
            "environment": {},
            "dataset": {},
            "preaggregation": {},
            "servers": {},
            "x_cache_seen": False,
            "queries": [],
            "groups": [],
            "summary": [],
            "healthz": {},
            "mismatches": [],
            "warnings": [],
            "logs": str(self.log_dir),
        }

    # --- plumbing --------------------------------------------------------------------------------------------
    def progress(self, step: int, text: str) -> None:
        print(f"[{self.deadline.elapsed():7.1f}s] ({step}/{STEPS}) {text}", flush=True)

    def warn(self, text: str) -> None:
        self.document["warnings"].append(text)
        print(f"WARNING: {text}", flush=True)

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("IDEEZA_") and key not in HARNESS_DECIDES
        }
        env.update(
            DATABASE_URL=self.options.database_url,
            DEBUG="false",
            SECRET_KEY=self.secret_key,
            ALLOWED_HOSTS="127.0.0.1",
            IDEEZA_TIMEZONE=self.options.timezone,
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def command(self, name: str, argv: list[str], **extra_env: str) -> ChildRun:
        return run_child(
            argv,
            env=self.env(REDIS_URL=self.options.redis_url, **extra_env),
            log=self.log_dir / f"{name}.log",
            timeout=self.deadline.remaining(),
        )

    # --- steps -----------------------------------------------------------------------------------------------
    def database_prepare(self) -> None:
        created = database_create_if_missing(self.options.database_url)
        self.progress(1, f"{'created' if created else 'found'} the bench database; migrating")
        self.command("migrate", manage("migrate", "--noinput"))

    def seed(self) -> None:
        if self.options.skip_seed:
            self.progress(2, "--skip-seed: reusing the seeded data; removing views an earlier run added for today")
            freshness.harness_rows_delete(self.options.database_url)
            self.document["preaggregation"]["seed"] = None
            return
        o = self.options
        self.progress(2, f"seed_data --reset: {o.views:,} views, {o.blogs:,} blogs, {o.authors:,} authors, ...")
        run = self.command(
            "seed_data",
            manage(
                "seed_data",
                "--reset",
                f"--seed={SEED}",
                f"--views={o.views}",
                f"--blogs={o.blogs}",
                f"--authors={o.authors}",
                f"--countries={o.countries}",
                f"--days={o.days}",
            ),
        )
        self.document["preaggregation"]["seed"] = _step_record(run, "Seeded")
        self.progress(2, f"seeded in {run.seconds:.1f} s")

    def fold_full(self) -> None:
        self.progress(3, "precalculate_stats --full")
        run = self.command("fold_full", manage("precalculate_stats", "--full"))
        self.document["preaggregation"]["full"] = _step_record(run, "precalculate_stats:")
        self.progress(3, f"full fold: {run.seconds:.1f} s wall, peak RSS {run.peak_rss_mb:.0f} MB")

    def fold_incremental(self) -> None:
        count = max(1, round(self.options.views / self.options.days))
        self.progress(4, f"inserting {count:,} views for today (bulk_create), then precalculate_stats")
        code = f"from bench.fresh_day import todays_views_insert; todays_views_insert(count={count})"
        self.command("insert_today", manage("shell", "-c", code))
        run = self.command("fold_incremental", manage("precalculate_stats"))
        self.document["preaggregation"]["incremental"] = {"inserted_views": count, **_step_record(run, "precalc")}
        self.progress(4, f"incremental fold: {run.seconds:.2f} s wall, peak RSS {run.peak_rss_mb:.0f} MB")
        # The issue's own measure: an hour of views (as many as bench.freshness leaves unfolded), then a fold.
        hour = freshness.UNFOLDED_VIEWS
        self.progress(4, f"inserting {hour:,} views over the last hour, then precalculate_stats")
        code = (
            "from bench.fresh_day import todays_views_insert; "
            f"todays_views_insert(count={hour}, seed=8, last_seconds=3600)"
        )
        self.command("insert_hour", manage("shell", "-c", code))
        run = self.command("fold_hour", manage("precalculate_stats"))
        self.document["preaggregation"]["incremental_hour"] = {"inserted_views": hour, **_step_record(run, "precalc")}
        self.progress(4, f"fold after an hour of views: {run.seconds:.2f} s wall, peak RSS {run.peak_rss_mb:.0f} MB")
        self.document["preaggregation"]["targets"] = report.FOLD_TARGETS[self.options.profile]

    def dataset_describe(self) -> None:
        facts = dataset_facts(self.options.database_url)
        self.document["dataset"].update(vars(facts))
        # The calendar-year body asks for a whole year, but the seeded days reach into it only so far.
        if facts.first_view:
            first_day = date.fromisoformat(facts.first_view[:10])
            today = self.today()
            last_year_end = date(today.year - 1, 12, 31)
            covered = (last_year_end - max(first_day, date(today.year - 1, 1, 1))).days + 1
            self.document["dataset"]["last_calendar_year_days_with_data"] = max(covered, 0)

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.options.timezone)).date()

    def servers_start(self) -> None:
        cleared = cached_answers_clear(self.options.redis_url)
        self.progress(5, f"starting 3 gunicorn servers ({WORKERS} worker each); cleared {cleared} cached keys")
        configs = {
            "fast": {"IDEEZA_QUERY_ENGINE": "summaries", "IDEEZA_CACHE_TIMEOUT": "0"},
            "reference": {"IDEEZA_QUERY_ENGINE": "reference", "IDEEZA_CACHE_TIMEOUT": "0"},
            "cached": {"IDEEZA_QUERY_ENGINE": "summaries", "REDIS_URL": self.options.redis_url},
        }
        for name, extra in configs.items():
            server = Server(
                name,
                env=self.env(WEB_CONCURRENCY=str(WORKERS), **extra),
                log=self.log_dir / f"gunicorn-{name}.log",
                request_timeout=self.options.request_timeout,
            )
            self.servers[name] = server
            server.start()
        for server in self.servers.values():
            server.wait_ready(timeout=min(60.0, max(self.deadline.remaining(), 1.0)))
        self.document["servers"] = {
            "workers": WORKERS,
            **{name: {"port": self.servers[name].port, **extra} for name, extra in configs.items()},
        }
        self.progress(5, "servers ready: " + ", ".join(f"{n} :{s.port}" for n, s in self.servers.items()))

    def queries_measure(self) -> None:
        url = self.options.database_url
        picks = picks_from_database(url)
        today = self.today()
        mix = probes(picks, today=today)
        self.document["dataset"]["picks"] = vars(picks)
        self.progress(6, f"{len(mix)} bodies × {len(self.servers)} servers × (1 warm-up + {self.options.repeat})")
        for index, probe in enumerate(mix, 1):
            self.deadline.check(f"measuring {probe.endpoint} {probe.label}")
            entry = self.probe_measure(probe)
            self.document["queries"].append(entry)
            print(
                f"    {index:>2}/{len(mix)} {probe.endpoint:<19} {probe.label:<42} "
                f"fast {entry['fast']['p50_ms']:>8.1f}  ref {entry['reference']['p50_ms']:>8.1f}  "
                f"{report.times(entry['ratio']):>8}  cached {entry['cached']['p50_ms']:>7.1f} ms"
                f"{'' if entry['identical'] else '  MISMATCH'}",
                flush=True,
            )
        if self.today() != today:
            self.warn(
                f"The {self.options.timezone} date changed during the measurements; 'range' answers moved with it."
            )

    def probe_measure(self, probe: Probe) -> dict[str, Any]:
        """Warm up every server once, then ``--repeat`` rounds of one request each, interleaved."""
        replies: dict[str, list[Reply]] = {name: [] for name in self.servers}
        for _ in range(1 + self.options.repeat):
            for name, server in self.servers.items():
                replies[name].append(server.post(probe.path, probe.body))
        entry: dict[str, Any] = {
            "endpoint": probe.endpoint,
            "path": probe.path,
            "label": probe.label,
            "group": probe.group,
            "body": probe.body,
        }
        for name, server_replies in replies.items():
            latencies = [reply.seconds * 1000 for reply in server_replies[1:]]
            entry[name] = {
                "warmup_ms": round(server_replies[0].seconds * 1000, 3),
                "latencies_ms": [round(ms, 3) for ms in latencies],
                **report.latency_stats(latencies),
                "x_cache": [reply.x_cache for reply in server_replies],
            }
        entry["ratio"] = report.ratio(entry["reference"]["p50_ms"], entry["fast"]["p50_ms"])
        answers = {name: [_answer(reply) for reply in server_replies] for name, server_replies in replies.items()}
        expected = answers["reference"][0]
        entry["answer_rows"] = len(expected) if isinstance(expected, list) else None
        if any(reply.status != 200 for server_replies in replies.values() for reply in server_replies):
            self.warn(f"{probe.endpoint} {probe.label}: not every answer was a 200 (the JSON records which).")
        entry["identical"] = self.answers_compare(probe, answers, entry)
        return entry

    def answers_compare(self, probe: Probe, answers: dict[str, list[Any]], entry: dict[str, Any]) -> bool:
        """Every answer of every server must equal the reference's first one; anything else is loud."""
        expected = answers["reference"][0]
        found = []
        for name, server_answers in answers.items():
            for attempt, answer in enumerate(server_answers):
                if answer != expected:
                    found.append((name, attempt, answer))
        for name, attempt, answer in found[:3]:
            mismatch = {
                "endpoint": probe.endpoint,
                "label": probe.label,
                "body": probe.body,
                "kind": f"{name} answer #{attempt} differs from the reference answer",
                "reference_answer": expected,
                "answer": answer,
            }
            self.document["mismatches"].append(mismatch)
            print(f"!!! MISMATCH {probe.endpoint} {json.dumps(probe.body)}: {mismatch['kind']}", flush=True)
            print(f"!!!   reference: {json.dumps(expected)[:2000]}", flush=True)
            print(f"!!!   {name:>9}: {json.dumps(answer)[:2000]}", flush=True)
        uncached_hits = [n for n in ("fast", "reference") if any(v and v.upper() == "HIT" for v in entry[n]["x_cache"])]
        if uncached_hits:
            self.warn(f"{', '.join(uncached_hits)} served an X-Cache HIT for {probe.endpoint} {probe.label}.")
        cache_states = [(value or "").upper() for value in entry["cached"]["x_cache"]]
        if any(state in ("HIT", "MISS") for state in cache_states):
            self.document["x_cache_seen"] = True
            # The first request may already hit: the cache keys on the normalised query, and an earlier body
            # can resolve to the same one (the 365-day date pair is range=year's window).
            if any(state != "HIT" for state in cache_states[1:]):
                self.warn(f"cached {probe.endpoint} {probe.label}: X-Cache was {cache_states}, not HITs after one.")
        return not found

    def healthz_measure(self) -> None:
        self.progress(7, f"GET /healthz × {HEALTHZ_REQUESTS} per server (the floor of the HTTP stack)")
        for name, server in self.servers.items():
            server.get("/healthz")
            latencies = []
            for _ in range(HEALTHZ_REQUESTS):
                reply = server.get("/healthz")
                if reply.status != 200:
                    self.warn(f"/healthz on {name} answered {reply.status}: {reply.body[:200]!r}")
                latencies.append(reply.seconds * 1000)
            self.document["healthz"][name] = {
                "latencies_ms": [round(ms, 3) for ms in latencies],
                **report.latency_stats(latencies),
            }

    def freshness_measure(self) -> None:
        url, repeat = self.options.database_url, self.options.repeat
        fast, reference = self.servers["fast"], self.servers["reference"]
        self.progress(8, "the first answer after a new blog, author or country (fast server; answers vs reference)")
        picks = picks_from_database(url)
        changes = freshness.catalogue_changes_measure(fast, reference, url, picks, max(repeat, 5))
        self.document["catalogue_changes"] = changes
        self.progress(8, f"{freshness.UNFOLDED_VIEWS:,} views over the last hour, not folded: range=day and month")
        local_time = datetime.now(ZoneInfo(self.options.timezone)).strftime("%H:%M")
        self.document["unfolded_hour"] = freshness.unfolded_hour_measure(fast, reference, url, repeat)
        self.document["unfolded_hour"].update(timezone=self.options.timezone, local_time=local_time)
        for entry in [*changes, *self.document["unfolded_hour"]["bodies"]]:
            if not entry["identical"]:
                self.document["mismatches"].append(
                    {
                        "endpoint": entry["endpoint"],
                        "label": entry["label"],
                        "body": entry["body"],
                        "kind": "bench.freshness: the fast answer differs from the reference answer",
                    }
                )

    def servers_stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def finish(self) -> None:
        queries = self.document["queries"]
        self.document["groups"] = report.group_rows(queries)
        self.document["summary"] = report.summary_rows(queries, FULL_YEAR)
        self.document["summary_filtered"] = report.summary_rows(queries, FILTERED)
        environment = self.document["environment"]
        environment["load_after"] = load_average()
        environment["git_commit_after"] = git("rev-parse", "HEAD").strip()
        if environment.get("git_commit") and environment["git_commit_after"] != environment["git_commit"]:
            self.warn(
                f"HEAD moved from {environment['git_commit'][:12]} to {environment['git_commit_after'][:12]} during "
                "the run; the servers ran the code on disk when they started."
            )


def _answer(reply: Reply) -> Any:
    """The parsed JSON of a 200; anything else as its status and text, so it can only equal the same failure."""
    if reply.status == 200:
        return reply.json()
    return {"status": reply.status, "body": reply.body[:2000].decode(errors="replace")}


def _step_record(run: ChildRun, prefix: str) -> dict[str, Any]:
    line = next((line for line in reversed(run.output.splitlines()) if line.startswith(prefix)), "")
    reported = re.search(r"in ([\d.]+)s", line)
    return {
        "seconds": round(run.seconds, 3),
        "reported_seconds": float(reported.group(1)) if reported else None,
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "line": line.strip(),
        "log": str(run.log),
    }


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _queries_section_write(options: argparse.Namespace, document: dict[str, Any]) -> None:
    heading = "Queries" if options.section == "queries" else f"Queries: the {options.profile} profile"
    report.section_write(options.markdown, options.section, heading, report.queries_markdown(document))


def freshness_only(options: argparse.Namespace) -> int:
    """Step 8 again, into the recorded run's document: for a fix to what it measures, without the hour-long rest."""
    run = Run(options)
    document = json.loads(options.out.read_text())
    try:
        run.servers_start()
        run.freshness_measure()
    finally:
        run.servers_stop()
    env = environment(options.redis_url)
    for key in ("catalogue_changes", "unfolded_hour"):
        document[key] = run.document[key]
    document["mismatches"] = [
        item for item in document["mismatches"] if not item["kind"].startswith("bench.freshness")
    ] + run.document["mismatches"]
    document["freshness_remeasured"] = {
        "date": env["date"],
        "git_commit": env["git_commit"],
        "command": run.document["command"],
    }
    report.json_write(options.out, document)
    _queries_section_write(options, document)
    print(f"Wrote the freshness results into {options.out} and {options.markdown}.")
    return 1 if run.document["mismatches"] else 0


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.freshness_only:
        return freshness_only(options)
    run = Run(options)
    signal.signal(signal.SIGTERM, _terminate)
    document = run.document
    try:
        document["environment"] = environment(options.redis_url)
        run.database_prepare()
        run.seed()
        run.fold_full()
        run.fold_incremental()
        run.dataset_describe()
        run.servers_start()
        run.queries_measure()
        run.healthz_measure()
        run.freshness_measure()
        document["complete"] = True
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - any failure still stops the servers
        document["error"] = f"{type(error).__name__}: {error}"
        if not isinstance(error, HarnessError | KeyboardInterrupt):
            traceback.print_exc()
        print(f"\nFAILED: {document['error']}", file=sys.stderr, flush=True)
    finally:
        run.progress(9, "stopping the servers")
        run.servers_stop()
    run.finish()

    report.json_write(run.log_dir / "benchmarks.json", document)
    if not document["complete"]:
        print(f"Nothing written to {options.out}; the partial results are in {run.log_dir}/benchmarks.json.")
        return 1
    report.json_write(options.out, document)
    _queries_section_write(options, document)
    print(f"\nWrote {options.out} and the queries section of {options.markdown} (logs: {run.log_dir}).\n")
    print(report.stdout_summary(document))
    return 1 if document["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
