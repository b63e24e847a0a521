"""Replicas: ``python -m bench.replicas``: the load mix of ``bench.load`` on one primary, then on primary + replica.

Starts ``scripts/cluster`` on ports of its own (a PostgreSQL primary with a streaming replica, Redis), seeds and folds
the primary once, then runs ``bench.load``'s phases twice against the same data: gunicorn with ``DATABASE_URL`` only,
and with ``DATABASE_REPLICA_URLS`` too. Each time the **cached** phase (answers from Redis) and the **mix** (cached,
uncached and paced ingestion at once). In the mix, every uncached answer says where it was computed
(``X-Read-From``), so the share the fence sent back to the primary under steady ingestion is counted, not guessed.
``--render docs/replicas.json`` renders the section again from a recorded run.
Writes ``docs/replicas.json`` and the "Replicas" section of ``docs/benchmarks.md``; stops the cluster. Talks to
127.0.0.1 only, bounded in time.

On one machine the replica shares the CPUs with the primary, gunicorn, Redis and wrk: the numbers show what the
fence and the routing cost and how often the fence falls back, not the capacity a replica on its own hardware adds.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load, report
from bench.processes import REPO_ROOT, HarnessError, cluster_script

PG_PORT, REDIS_PORT = 15632, 16579
PRIMARY = f"postgres://postgres@127.0.0.1:{PG_PORT}/ideeza"
REPLICA = f"postgres://postgres@127.0.0.1:{PG_PORT + 1}/ideeza"
REDIS = f"redis://127.0.0.1:{REDIS_PORT}/12"
CONFIGURATIONS = (("primary", ""), ("primary + replica", REPLICA))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="Length of every wrk run (default 15).")
    parser.add_argument("--runs", type=int, default=3, help="Runs of each phase and configuration (default 3).")
    parser.add_argument("--views", type=int, default=100_000, help="Views to seed (default 100,000).")
    parser.add_argument(
        "--ingest-interval-ms", type=int, default=200, help="Pause between ingest batches of 50 events (200)."
    )
    parser.add_argument("--out", type=Path, default=Path("docs/replicas.json"))
    parser.add_argument("--render", type=Path, help="Only render the section again from a recorded JSON file.")
    parser.add_argument("--markdown", type=Path, default=Path("docs/benchmarks.md"))
    return parser.parse_args(argv)


def cluster(*args: str, directory: Path) -> str:
    done = cluster_script(*args, directory=directory, pg_port=PG_PORT, redis_port=REDIS_PORT)
    if done.returncode != 0:
        raise HarnessError(f"scripts/cluster {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def load_options(options: argparse.Namespace, replica_urls: str, *, skip_seed: bool) -> argparse.Namespace:
    argv = [
        f"--seconds={options.seconds:g}",
        f"--runs={options.runs}",
        f"--views={options.views}",
        f"--ingest-interval-ms={options.ingest_interval_ms}",
        f"--database-url={PRIMARY}",
        f"--redis-url={REDIS}",
        f"--replica-urls={replica_urls}",
        "--no-docs",
        *(["--skip-seed"] if skip_seed else []),
    ]
    return load.parse_args(argv)


def measured(options: argparse.Namespace, replica_urls: str, *, skip_seed: bool) -> dict[str, Any]:
    """One bench.load run (prepare, gunicorn, cached and mix phases); its document."""
    run = load.LoadRun(load_options(options, replica_urls, skip_seed=skip_seed))
    run.document["environment"] = load.environment(REDIS)
    try:
        run.prepare()
        run.server_start()
        run.measure()
        run.document["complete"] = True
    finally:
        if run.server is not None:
            run.server.stop()
    run.finish()
    return run.document


def fence_share(document: dict[str, Any]) -> dict[str, Any]:
    """Where the mix's computed answers were read, over every run and class (cache hits and ingestion read none):
    the uncached class, and the cached class's misses after each ingested batch moved the data version."""
    counts: dict[str, int] = {}
    for run in document["mix"]["runs"]:
        for found in run["classes"].values():
            for source, count in found["read_from"].items():
                counts[source] = counts.get(source, 0) + count
    computed = sum(count for source, count in counts.items() if source != "none")
    primary = counts.get("primary", 0)
    return {"counts": counts, "computed": computed, "primary_share": round(primary / computed, 4) if computed else None}


def markdown(document: dict[str, Any]) -> str:
    first = document["configurations"][0]["load"]
    env, dataset = first["environment"], first["dataset"]
    dirty = f" with uncommitted changes in {len(env['git_dirty'])} files" if env["git_dirty"] else ""
    lines = [
        f"Recorded {env['date']} on {env['cpus']} CPUs, PostgreSQL {dataset['postgres_version']}, commit "
        f"`{env['git_commit'][:12]}`{dirty}. A primary and one streaming replica (`scripts/cluster`) on this machine; "
        f"{dataset['views']:,} views of {dataset['blogs']:,} blogs, folded. `bench.load`'s phases, {document['runs']} "
        f"runs of {document['seconds']:g} s each per configuration (medians); ingestion in the mix: 50 events every "
        f"{document['ingest_interval_ms']} ms.",
        "",
        "```",
        document["command"],
        "```",
        "",
        "| configuration | cached req/s | cached p99 ms | mix: cached req/s | mix: uncached req/s "
        "| mix: uncached p99 ms | mix: ingest p99 ms | errors | mix: answers computed on the primary |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for entry in document["configurations"]:
        doc = entry["load"]
        cached, mix = doc["cached"]["summary"], doc["mix"]["summary"]
        share = entry["fence"]
        where = (
            "all (no replica)"
            if not entry["replica_urls"]
            else f"{share['primary_share']:.1%} ({share['counts'].get('primary', 0):,} of {share['computed']:,})"
        )
        errors = cached["errors"] + mix["overall"]["errors"]
        lines.append(
            f"| {entry['name']} | {cached['rps']:,.0f} | {cached['p99_ms']} | {mix['cached']['rps']:,.0f} | "
            f"{mix['uncached']['rps']:,.1f} | {mix['uncached']['p99_ms']} | {mix['ingest']['p99_ms']} | {errors} | "
            f"{where} |"
        )
    lines += [
        "",
        "What this can and cannot show: the replica runs on the same 2 CPUs as the primary, gunicorn, Redis and wrk, "
        "so it adds no capacity here; the difference between the rows is the cost of the fence and the routing (one "
        "more connection per worker, a version read in the replica's snapshot) plus the replica's own replay work. "
        "On hardware of its own a replica takes the uncached answers' CPU off the primary, and the last column says "
        "how many it would take: every answer the mix computed (the uncached class, and the cached class's misses "
        "after each ingested batch moved the data version), of which the fence sent back to the primary only those "
        "asked before the replica had replayed the latest batch.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.render is not None:
        recorded = json.loads(options.render.read_text(encoding="utf-8"))
        for entry in recorded["configurations"]:
            entry["fence"] = fence_share(entry["load"])
        report.section_write(options.markdown, "replicas", "Replicas", markdown(recorded))
        return 0
    started = datetime.now(UTC)
    directory = REPO_ROOT / "bench" / "out" / ("cluster-" + started.strftime("%Y%m%dT%H%M%SZ"))
    document: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "bench.replicas", *(sys.argv[1:] if argv is None else argv)]),
        "seconds": options.seconds,
        "runs": options.runs,
        "ingest_interval_ms": options.ingest_interval_ms,
        "configurations": [],
    }
    print(f"starting the cluster in {directory}", flush=True)
    cluster("up", directory=directory)
    try:
        for index, (name, replica_urls) in enumerate(CONFIGURATIONS):
            print(f"\n== {name} ==", flush=True)
            loaded = measured(options, replica_urls, skip_seed=index > 0)
            document["configurations"].append(
                {"name": name, "replica_urls": replica_urls, "load": loaded, "fence": fence_share(loaded)}
            )
    finally:
        cluster("down", directory=directory)
    slim = {
        **document,
        "configurations": [
            {**entry, "load": load._without_histograms(entry["load"])} for entry in document["configurations"]
        ],
    }
    report.json_write(options.out, slim)
    report.section_write(options.markdown, "replicas", "Replicas", markdown(document))
    print(f"\nWrote {options.out} and the replicas section of {options.markdown}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
