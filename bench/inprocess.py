"""``python -m bench.inprocess``: the harness's request mix timed in-process against an already-folded database.

No servers and no reference scans: each body goes through Django's test client (parsing, the fast path,
rendering), uncached, one warm-up then the p50 of ``--repeat``. It is how docs/benchmarks.md's 1,000,000-blog
table was measured (a reference scan per body there would take hours); add about 2 ms for HTTP.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ideeza_1m python -m bench.inprocess --repeat 3

With ``--out``, the p50s and the data set's size go to a JSON file that ``python -m bench.scaling`` tabulates.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime


def django_uncached(parser: argparse.ArgumentParser) -> str:
    """Set Django up in this process against ``DATABASE_URL`` (a folded PostgreSQL database, else the parser's
    error), with the response cache and request logs off; the database URL."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        parser.error("DATABASE_URL must name the folded PostgreSQL database to measure.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ideeza.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ["IDEEZA_CACHE_TIMEOUT"] = "0"
    os.environ["LOG_REQUESTS"] = "false"
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    import django

    django.setup()
    return database_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="Timed requests per body (default 3).")
    parser.add_argument("--only", help="Only the bodies whose 'endpoint label' contains this text.")
    parser.add_argument("--out", help="Write the p50s and the data set's size to this JSON file (bench.scaling).")
    options = parser.parse_args(argv)
    database_url = django_uncached(parser)
    from django.test import Client

    from analytics.periods import reporting_tz
    from bench.machine import git
    from bench.workload import ENDPOINTS, dataset_facts, picks_from_database, probes

    picks = picks_from_database(database_url)
    bodies: list[dict[str, object]] = []
    client = Client(HTTP_HOST="127.0.0.1")

    def timed(path: str, body: dict[str, object]) -> float:
        started = time.perf_counter()
        reply = client.post(path, json.dumps(body), content_type="application/json")
        if reply.status_code != 200:
            raise SystemExit(f"{path} {json.dumps(body)} answered {reply.status_code}: {reply.content[:300]!r}")
        return (time.perf_counter() - started) * 1000

    # Today in the reporting timezone, as the server's ``range`` takes it: the 365 days as dates must be range=year's.
    for probe in probes(picks, today=datetime.now(reporting_tz()).date()):
        if options.only and options.only not in f"{probe.endpoint} {probe.label}":
            continue
        timed(ENDPOINTS[probe.endpoint], probe.body)
        p50 = statistics.median(timed(ENDPOINTS[probe.endpoint], probe.body) for _ in range(options.repeat))
        print(f"{probe.endpoint:<19} {probe.label:<45} {p50:8.1f} ms", flush=True)
        bodies.append({"endpoint": probe.endpoint, "label": probe.label, "p50_ms": round(p50, 3)})
    if options.out:
        facts = dataset_facts(database_url)
        document = {
            "command": "python -m bench.inprocess " + " ".join(argv if argv is not None else sys.argv[1:]),
            "commit": git("rev-parse", "--short=12", "HEAD").strip(),
            "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
            "method": f"in-process (Django test client), uncached, p50 of {options.repeat}",
            "dataset": {"views": facts.views, "blogs": facts.blogs, "authors": facts.authors},
            "catalogue_cache_mb": int(os.environ.get("IDEEZA_CATALOGUE_CACHE_MB", "64")),
            "timezone": os.environ.get("IDEEZA_TIMEZONE", "UTC"),
            "bodies": bodies,
        }
        with open(options.out, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1)
        print(f"wrote {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
