"""Statistics and rendering. The JSON document the run builds is the single source; the Markdown is drawn from it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

QUERIES_START, QUERIES_END = "<!-- queries:start -->", "<!-- queries:end -->"
INGEST_START, INGEST_END = "<!-- ingest:start -->", "<!-- ingest:end -->"
SERVERS = ("fast", "reference", "cached")
RATIO_TARGET = 20.0
# The fold's targets per profile: the default set's from the first issue, the platform set's from issue #9.
FOLD_TARGETS: dict[str, dict[str, float]] = {
    "default": {"full_seconds": 60.0, "full_peak_rss_mb": 400.0, "incremental_seconds": 3.0},
    "platform": {"full_seconds": 120.0, "full_peak_rss_mb": 400.0, "incremental_seconds": 2.0},
}

DOCUMENT_INTRO = f"""# Benchmarks

Numbers recorded by the harness in `bench/`, on the machine and commit named in each section. They are medians
(p50) and 95th percentiles (p95) of several repetitions, and every ratio compares numbers measured in the same run,
so a busy shared machine moves both sides together. Reproduce with `make bench` (or `python -m bench.run`; see
`python -m bench.run --help`). The raw latencies, environment and full request bodies are in `benchmarks.json`.

## Queries

{QUERIES_START}
_Not measured yet: run `make bench`._
{QUERIES_END}

## Ingestion

{INGEST_START}
{INGEST_END}
"""


# --- statistics ----------------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default): p50 is the median."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_stats(latencies_ms: list[float]) -> dict[str, Any]:
    if not latencies_ms:
        return {"n": 0, "p50_ms": None, "p95_ms": None}
    return {
        "n": len(latencies_ms),
        "p50_ms": round(percentile(latencies_ms, 0.5), 3),
        "p95_ms": round(percentile(latencies_ms, 0.95), 3),
    }


def ratio(slow_ms: float | None, fast_ms: float | None) -> float | None:
    if not slow_ms or not fast_ms:
        return None
    return round(slow_ms / fast_ms, 1)


def pooled(queries: list[dict[str, Any]], server: str) -> dict[str, Any]:
    """Stats over every timed latency of ``queries`` on ``server``, pooled."""
    return latency_stats([ms for query in queries for ms in query[server]["latencies_ms"]])


def group_rows(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per endpoint and body group: pooled stats for each server and the ratio of the uncached p50s."""
    rows = []
    keys = list(dict.fromkeys((query["endpoint"], query["group"]) for query in queries))
    for endpoint, group in keys:
        members = [query for query in queries if (query["endpoint"], query["group"]) == (endpoint, group)]
        stats = {server: pooled(members, server) for server in SERVERS}
        rows.append(
            {
                "endpoint": endpoint,
                "group": group,
                "bodies": len(members),
                **stats,
                "ratio": ratio(stats["reference"]["p50_ms"], stats["fast"]["p50_ms"]),
            }
        )
    return rows


def summary_rows(queries: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    """Per endpoint, over the bodies of ``group``: pooled fast and reference p50, their ratio, and each body's."""
    rows = []
    for endpoint in dict.fromkeys(query["endpoint"] for query in queries):
        members = [query for query in queries if query["endpoint"] == endpoint and query["group"] == group]
        if not members:
            continue
        fast, reference = pooled(members, "fast"), pooled(members, "reference")
        overall = ratio(reference["p50_ms"], fast["p50_ms"])
        rows.append(
            {
                "endpoint": endpoint,
                "fast_p50_ms": fast["p50_ms"],
                "reference_p50_ms": reference["p50_ms"],
                "ratio": overall,
                "passes": overall is not None and overall >= RATIO_TARGET,
                "body_ratios": {query["label"]: query["ratio"] for query in members},
            }
        )
    return rows


def compare_to_rows(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each compare_to body beside the same body without it, on the fast server (bench.workload.COMPARED_TO)."""
    from bench.workload import COMPARED_TO

    by_key = {(query["endpoint"], query["label"]): query for query in queries}
    rows = []
    for query in queries:
        plain = by_key.get((query["endpoint"], COMPARED_TO.get(query["label"], "")))
        if plain is not None:
            without, with_ = plain["fast"]["p50_ms"], query["fast"]["p50_ms"]
            rows.append(
                {"endpoint": query["endpoint"], "label": query["label"], "without": without, "with": with_}
                | {"ratio": ratio(with_, without)}
            )
    return rows


def below_target(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bodies over the last 365 days (with or without filters) whose own p50 ratio is under the target."""
    return [
        query
        for query in queries
        if query["group"].startswith("full-year") and (query["ratio"] is None or query["ratio"] < RATIO_TARGET)
    ]


# --- Markdown ------------------------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}×"


def _mark(passed: bool) -> str:
    return "**PASS**" if passed else "**FAIL**"


def _pair(stats: dict[str, Any]) -> str:
    return f"{_ms(stats['p50_ms'])} / {_ms(stats['p95_ms'])}"


def _table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(":--" if a == "l" else "--:" for a in align) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def preaggregation_lines(pre: dict[str, Any], profile: str = "default") -> list[str]:
    seed, full, incremental = pre.get("seed"), pre.get("full"), pre.get("incremental")
    hour = pre.get("incremental_hour")
    targets = FOLD_TARGETS.get(profile, FOLD_TARGETS["default"])

    def checked(step: str, measured: float, shown: str, unit: str, target: str) -> list[str]:
        return [step, f"{shown} {unit}", f"≤ {targets[target]:.0f} {unit}", _mark(measured <= targets[target])]

    rows = []
    if seed:
        rows.append(["`seed_data --reset` (wall)", f"{seed['seconds']:.1f} s", "–", ""])
    else:
        rows.append(["`seed_data --reset`", "skipped (`--skip-seed`)", "–", ""])
    if full:
        seconds, peak = full["seconds"], full["peak_rss_mb"]
        rows.append(checked("`precalculate_stats --full` (wall)", seconds, f"{seconds:.1f}", "s", "full_seconds"))
        rows.append(checked("`precalculate_stats --full` (peak RSS)", peak, f"{peak:.0f}", "MB", "full_peak_rss_mb"))
    for step, when in ((incremental, "today"), (hour, "in the last hour")):
        if step:
            label = f"`precalculate_stats` after {step['inserted_views']:,} new views {when} (wall)"
            rows.append(checked(label, step["seconds"], f"{step['seconds']:.2f}", "s", "incremental_seconds"))
    if incremental:
        rows.append(["`precalculate_stats` incremental (peak RSS)", f"{incremental['peak_rss_mb']:.0f} MB", "–", ""])
    lines = _table(["step", "measured", "target", ""], rows, "lrrl")
    steps = (("seed", seed), ("full", full), ("incremental", incremental), ("incremental, an hour", hour))
    notes = [(name, step) for name, step in steps if step]
    lines.append("")
    for name, step in notes:
        lines.append(f"- {name}: `{step['line']}`")
    return lines


def queries_markdown(document: dict[str, Any]) -> str:
    env, options, dataset = document["environment"], document["options"], document["dataset"]
    queries = document["queries"]
    lines = [
        f"Recorded {env['date']} on {env['cpus']} CPUs ({env['platform']}), Python {env['python']}, "
        f"PostgreSQL {dataset['postgres_version']}, Redis {env['redis']}, commit `{env['git_commit'][:12]}`"
        + (f" with uncommitted changes in {len(env['git_dirty'])} files" if env["git_dirty"] else "")
        + f"; load average {env['load_before']} before, {env['load_after']} after.",
        "",
        "```",
        document["command"],
        "```",
        "",
        f"Data set: {dataset['views']:,} views of {dataset['blogs']:,} blogs by {dataset['authors']:,} authors in "
        f"{dataset['countries']:,} countries, {dataset['first_view']} to {dataset['last_view']} (UTC). "
        f"Each body: one warm-up, then {options['repeat']} timed requests per server, interleaved "
        f"(fast, reference, cached); latency is client-side, request sent to body read, over HTTP to "
        f"127.0.0.1. Servers: gunicorn, {document['servers']['workers']} sync worker each, DEBUG off"
        + (
            f"; reporting timezone (`IDEEZA_TIMEZONE`, the fold's too) {options['timezone']}."
            if options.get("timezone", "UTC") != "UTC"
            else "."
        ),
        "",
        "- **fast**: `IDEEZA_QUERY_ENGINE=summaries`, `IDEEZA_CACHE_TIMEOUT=0` (the pre-aggregated path, uncached)",
        "- **reference**: `IDEEZA_QUERY_ENGINE=reference`, `IDEEZA_CACHE_TIMEOUT=0` (the raw scan, uncached)",
        "- **cached**: `IDEEZA_QUERY_ENGINE=summaries` with Redis and the default cache timeout; "
        + (
            '`X-Cache` was seen. Its timed requests are HITs; "cached 1st" is the warm-up, a MISS unless an '
            "earlier body resolved to the same normalised query (the 365-day date pair is `range=year`'s window)."
            if document["x_cache_seen"]
            else "**no `X-Cache` header was seen**: this server answered without a response cache."
        ),
        "",
        f"### Full-year windows: the {RATIO_TARGET:.0f}× target",
        "",
        f"p50 in ms over the full-year bodies ({', '.join(_labels(queries, 'full-year'))}), pooled; "
        f"ratio = reference p50 / fast p50; the last columns are each body's own ratio.{_calendar_year_note(document)}",
        "",
    ]
    summary = document["summary"]
    body_labels = list(summary[0]["body_ratios"]) if summary else []
    lines += _table(
        ["endpoint", "fast p50", "reference p50", "ratio", f"≥ {RATIO_TARGET:.0f}×", *[f"`{b}`" for b in body_labels]],
        [
            [
                f"`{row['endpoint']}`",
                _ms(row["fast_p50_ms"]),
                _ms(row["reference_p50_ms"]),
                times(row["ratio"]),
                _mark(row["passes"]),
                *[times(row["body_ratios"].get(label)) for label in body_labels],
            ]
            for row in summary
        ],
        "lrrrl" + "r" * len(body_labels),
    )
    filtered = document.get("summary_filtered") or []
    if filtered:
        lines += [
            "",
            "The same window with filters (not the target; pooled over "
            f"{', '.join(_labels(queries, 'full-year + filters'))}):",
            "",
        ]
        lines += _table(
            ["endpoint", "fast p50", "reference p50", "ratio"],
            [
                [f"`{row['endpoint']}`", _ms(row["fast_p50_ms"]), _ms(row["reference_p50_ms"]), times(row["ratio"])]
                for row in filtered
            ],
            "lrrr",
        )
    slow = below_target(queries)
    lines += ["", f"Bodies over a whole-year window whose p50 ratio is under {RATIO_TARGET:.0f}× ({len(slow)}):", ""]
    lines += [
        f"- `{query['endpoint']}` {query['label']}: fast {_ms(query['fast']['p50_ms'])} ms, reference "
        f"{_ms(query['reference']['p50_ms'])} ms, {times(query['ratio'])}"
        for query in slow
    ] or ["- none"]
    lines += latency_target_lines(queries)
    lines += freshness_lines(document)
    lines += ["", "### Pre-aggregation", ""]
    lines += preaggregation_lines(document["preaggregation"], _profile(document))
    lines += [
        "",
        "Wall time is spawn to exit of the command (Python and Django start-up included); peak RSS is the "
        "command's own high-water mark (`ru_maxrss` from `wait4`), not PostgreSQL's.",
        "",
        "### By endpoint and body group (ms, p50 / p95)",
        "",
    ]
    lines += _table(
        ["endpoint", "bodies", "fast", "reference", "ratio", "cached"],
        [
            [
                f"`{row['endpoint']}`",
                f"{row['group']} ({row['bodies']})",
                _pair(row["fast"]),
                _pair(row["reference"]),
                times(row["ratio"]),
                _pair(row["cached"]),
            ]
            for row in document["groups"]
        ],
        "llrrrr",
    )
    lines += ["", "### The cost of compare_to (uncached fast path, p50 ms)", ""]
    lines += _table(
        ["endpoint", "body", "without", "with compare_to", "cost"],
        [
            [f"`{row['endpoint']}`", row["label"], _ms(row["without"]), _ms(row["with"]), times(row["ratio"])]
            for row in compare_to_rows(queries)
        ],
        "llrrr",
    )
    lines += [
        "",
        "`cost` is the with/without ratio in the same run: two answers (the window and the shifted one) in one "
        "snapshot should cost about two requests, never more.",
    ]
    lines += ["", "### Every body (ms, p50 / p95)", ""]
    lines += _table(
        ["endpoint", "body", "rows", "fast", "reference", "ratio", "cached", "cached 1st", "X-Cache"],
        [
            [
                f"`{query['endpoint']}`",
                query["label"],
                str(query["answer_rows"]),
                _pair(query["fast"]),
                _pair(query["reference"]),
                times(query["ratio"]),
                _pair(query["cached"]),
                _ms(query["cached"]["warmup_ms"]),
                _x_cache(query["cached"]["x_cache"]),
            ]
            for query in queries
        ],
        "llrrrrrrl",
    )
    lines += ["", "### HTTP floor: `GET /healthz` (database `SELECT 1` and a cache round trip)", ""]
    lines += _table(
        ["server", "requests", "p50 / p95 ms"],
        [[name, str(stats["n"]), _pair(stats)] for name, stats in document["healthz"].items()],
        "lrr",
    )
    lines += ["", "### Answers", ""]
    mismatches = document["mismatches"]
    if mismatches:
        lines.append(f"**{len(mismatches)} mismatches** between servers (details in the JSON):")
        lines += [f"- `{item['endpoint']}` {item['label']}: {item['kind']}" for item in mismatches]
    else:
        lines.append(
            f"The fast and reference answers were identical JSON for all {len(queries)} bodies, "
            "and the cached answers equal to them."
        )
    lines += ["", "Bodies (filled in from the bench database):", ""]
    lines += [f"- {label}: `{json.dumps(body)}`" for label, body in _bodies(queries)]
    return "\n".join(lines)


# Issue #9's latency targets for the uncached fast path over HTTP (p50).
LATENCY_TARGET_MS = 50.0
LATENCY_TARGET_MS_BY_AUTHOR = 80.0  # blog-views/user lists every author
LATENCY_TARGET_MS_NARROW = 10.0  # an answer that touches one day or one blog
NARROW_GROUPS = ("one day", "one blog")
RATIO_GROUPS = ("full-year", "30-day")


def latency_target(query: dict[str, Any]) -> float:
    if query["group"] in NARROW_GROUPS:
        return LATENCY_TARGET_MS_NARROW
    return LATENCY_TARGET_MS_BY_AUTHOR if query["endpoint"] == "blog-views/user" else LATENCY_TARGET_MS


def latency_target_lines(queries: list[dict[str, Any]]) -> list[str]:
    """Which bodies miss issue #9's per-body targets: a latency bound, never slower than the scan, and 20× the scan
    for every full-year and 30-day body."""
    over = [query for query in queries if (query["fast"]["p50_ms"] or 0) > latency_target(query)]
    slower = [query for query in queries if query["ratio"] is not None and query["ratio"] < 1]
    under = [
        query
        for query in queries
        if query["group"] in RATIO_GROUPS and (query["ratio"] is None or query["ratio"] < RATIO_TARGET)
    ]
    lines = [
        "",
        "### Per-body targets (issue #9)",
        "",
        f"Uncached fast p50 at most {LATENCY_TARGET_MS:.0f} ms ({LATENCY_TARGET_MS_BY_AUTHOR:.0f} ms for "
        f"`blog-views/user`, {LATENCY_TARGET_MS_NARROW:.0f} ms for a body that touches one day or one blog), never "
        f"slower than the scan, and at least {RATIO_TARGET:.0f}× the scan for every full-year and 30-day body.",
        "",
    ]
    checks = [
        (f"over its latency target ({len(over)} of {len(queries)})", over),
        (f"slower than the scan ({len(slower)})", slower),
        (f"full-year or 30-day under {RATIO_TARGET:.0f}× the scan ({len(under)})", under),
    ]
    for title, found in checks:
        lines.append(f"- {title}: " + ("none" if not found else ""))
        lines += [
            f"  - `{query['endpoint']}` {query['label']}: fast {_ms(query['fast']['p50_ms'])} ms "
            f"(target {latency_target(query):.0f}), reference {_ms(query['reference']['p50_ms'])} ms, "
            f"{times(query['ratio'])}"
            for query in found
        ]
    return lines


def freshness_lines(document: dict[str, Any]) -> list[str]:
    """``bench.freshness``: the first answer after a catalogue change, and answers over an unfolded hour."""
    changes, unfolded = document.get("catalogue_changes"), document.get("unfolded_hour")
    lines: list[str] = []
    again = document.get("freshness_remeasured")
    if again:
        lines += [
            "",
            f"The next two tables were measured again on {again['date']} at commit `{again['git_commit'][:12]}` with "
            f"`{again['command']}` (the rest of this section is the run above).",
        ]
    if changes:
        kinds = list(changes[0]["changes"])
        lines += [
            "",
            "### The first answer after a new blog, author or country (target ≤ 1.5× a steady one)",
            "",
            "Fast server, uncached: the steady p50 of the body, then per kind of change three times: the change "
            "(committed on a connection the writer holds), the first request after it (timed), the same body on the "
            "reference server (its answer must be equal), and one more fast request with nothing changed (timed: "
            "the last column, what the seconds-long reference scan alone costs the next request; it also warms the "
            "server again, so each first request follows a warm one, as the steady ones do).",
            "",
        ]
        controlled = all("after_reference" in entry for entry in changes)
        lines += _table(
            [
                "endpoint",
                "body",
                "steady p50",
                *[f"after a {kind}" for kind in kinds],
                *(["after the reference scan, no change"] if controlled else []),
            ],
            [
                [
                    f"`{entry['endpoint']}`",
                    entry["label"],
                    _ms(entry["steady"]["p50_ms"]),
                    *[
                        f"{_ms(entry['changes'][kind]['first_p50_ms'])} ({times(entry['changes'][kind]['ratio'])})"
                        for kind in kinds
                    ],
                    *(
                        [
                            f"{_ms(entry['after_reference']['p50_ms'])} "
                            f"({times(ratio(entry['after_reference']['p50_ms'], entry['steady']['p50_ms']))})"
                        ]
                        if controlled
                        else []
                    ),
                ]
                for entry in changes
            ],
            "llr" + "r" * (len(kinds) + controlled),
        )
    if unfolded:
        bodies = unfolded["bodies"]
        lines += [
            "",
            f"### {unfolded['views']:,} views over the last hour, not folded (p50 / p95 ms)",
            "",
            "The views are written, nothing is folded, and today is then a changed day: what the fast path reads raw."
            + (
                f" Measured at {unfolded['local_time']} local time ({unfolded['timezone']}): `range=day` reads "
                "today's earlier hours from hour blocks, so its cost depends on the hour."
                if "local_time" in unfolded
                else ""
            ),
            "",
        ]
        lines += _table(
            ["endpoint", "body", "fast", "reference", "ratio", "same answers"],
            [
                [
                    f"`{entry['endpoint']}`",
                    entry["label"],
                    _pair(entry["fast"]),
                    _pair(entry["reference"]),
                    times(entry["ratio"]),
                    "yes" if entry["identical"] else "**no**",
                ]
                for entry in bodies
            ],
            "llrrrl",
        )
    return lines


def _calendar_year_note(document: dict[str, Any]) -> str:
    days = document["dataset"].get("last_calendar_year_days_with_data")
    label = next((query["label"] for query in document["queries"] if query["label"].startswith("year=")), None)
    if days is None or label is None:
        return ""
    seeded = document["options"]["days"]
    return (
        f" `{label}` (the previous calendar year, in its own group below) is not pooled: the seeded data ({seeded} "
        f"days before today) fills only {days} of its days."
    )


def _labels(queries: list[dict[str, Any]], group: str) -> list[str]:
    return list(dict.fromkeys(f"`{query['label']}`" for query in queries if query["group"] == group))


def _bodies(queries: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return list({query["label"]: query["body"] for query in queries}.items())


def _x_cache(values: list[str | None]) -> str:
    seen = [value for value in values if value]
    if not seen:
        return "none"
    first, rest = seen[0], seen[1:]
    hits = sum(1 for value in rest if value.upper() == "HIT")
    return f"{first} → {hits}/{len(rest)} HIT"


def stdout_summary(document: dict[str, Any]) -> str:
    lines = [f"Full-year windows, p50 ms (target ≥ {RATIO_TARGET:.0f}×):"]
    for row in document["summary"]:
        lines.append(
            f"  {row['endpoint']:<20} fast {_ms(row['fast_p50_ms']):>8}  reference {_ms(row['reference_p50_ms']):>8}"
            f"  {times(row['ratio']):>9}  {'PASS' if row['passes'] else 'FAIL'}  ("
            + ", ".join(f"{label} {times(value)}" for label, value in row["body_ratios"].items())
            + ")"
        )
    lines.append("Pre-aggregation:")
    pre = preaggregation_lines(document["preaggregation"], _profile(document))
    lines += ["  " + line for line in pre if line.startswith("| `")]
    floor = document["healthz"].get("fast")
    if floor:
        lines.append(f"HTTP floor (/healthz on fast): p50 {_ms(floor['p50_ms'])} ms, p95 {_ms(floor['p95_ms'])} ms")
    slow = below_target(document["queries"])
    lines.append(f"Whole-year bodies under {RATIO_TARGET:.0f}×: {len(slow)}")
    lines += [f"  {query['endpoint']:<20} {query['label']:<42} {times(query['ratio']):>8}" for query in slow]
    lines.append(f"X-Cache seen on the cached server: {'yes' if document['x_cache_seen'] else 'no'}")
    lines += [f"WARNING: {warning}" for warning in document["warnings"]]
    lines.append(f"Mismatches between fast, reference and cached answers: {len(document['mismatches'])}")
    return "\n".join(lines)


def _profile(document: dict[str, Any]) -> str:
    return str(document.get("options", {}).get("profile", "default"))


# --- files ---------------------------------------------------------------------------------------------------
def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def json_write(path: Path, document: dict[str, Any]) -> None:
    _atomic_write(path, json.dumps(document, indent=2, sort_keys=False) + "\n")


def markdown_table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A Markdown table, ``align`` one ``l`` or ``r`` per column."""
    return _table(header, rows, align)


def section_write(path: Path, name: str, heading: str, section: str) -> None:
    """Replace what lies between ``<!-- name:start -->`` and ``<!-- name:end -->`` only; when the markers are
    missing, append them under ``## heading`` (create the file from the intro when it is missing)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else DOCUMENT_INTRO
    if start not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    _atomic_write(path, f"{head}{start}\n{section}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.report docs/benchmarks-platform.json``: render a recorded run's section of the Markdown
    again from its JSON (after a change to the rendering; the numbers are the run's own)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.report", description=main.__doc__)
    parser.add_argument("json", type=Path, help="A benchmarks JSON file written by bench.run.")
    parser.add_argument("--markdown", type=Path, default=Path("docs/benchmarks.md"))
    options = parser.parse_args(argv)
    document = json.loads(options.json.read_text(encoding="utf-8"))
    section = document["options"]["section"]
    profile = _profile(document)
    heading = "Queries" if section == "queries" else f"Queries: the {profile} profile"
    section_write(options.markdown, section, heading, queries_markdown(document))
    print(f"Rendered the {section} section of {options.markdown} from {options.json}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
