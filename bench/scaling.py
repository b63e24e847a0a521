"""``python -m bench.scaling docs/scaling/*.json``: how each body's cost grows with the data, one column per data set.

Each file is a ``python -m bench.inprocess --out`` run against one folded database (one method for every column:
in-process, uncached, so the columns compare). Columns are ordered by views, then blogs; the last columns are the
growth from the smallest set to the others that differ from it in one dimension only (more views, more blogs).
The table replaces the ``scaling`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from bench.report import markdown_table, section_write

# Labels that name the data set's own picks (a blog id, an author, a title word, last year) become their kind, so
# the same body lines up across data sets.
_KINDS = (
    (re.compile(r"blog_id \d+"), "blog_id (most viewed)"),
    (re.compile(r"author \S+"), "author (most viewed)"),
    (re.compile(r"title~\w+"), "title~word"),
    (re.compile(r"year=\d{4}"), "year=last year"),
    (re.compile(r"\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}"), "the last 365 days as dates"),
    (re.compile(r"country_codes \w+,\w+"), "country_codes (two most viewed)"),
    (re.compile(r"exclude \w+"), "exclude (most viewed)"),
    (re.compile(r"country \w+,"), "country (third),"),
)


def body_kind(label: str) -> str:
    for pattern, kind in _KINDS:
        label = pattern.sub(kind, label)
    return label


def _size(number: int) -> str:
    """Rounded, for a column header: 1,002,739 → 1M (the sets differ by orders of magnitude)."""
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if number >= scale:
            return f"{round(number / scale, 1):g}{unit}"
    return f"{number:,}"


def _column(run: dict[str, Any]) -> str:
    data = run["dataset"]
    return f"{_size(data['views'])} views, {_size(data['blogs'])} blogs"


def _steps(runs: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """(from, to, header) for each pair of runs that differ in one dimension only, the next size up in it."""
    steps = []
    for dimension, other in (("views", "blogs"), ("blogs", "views")):
        for low, run in enumerate(runs):
            larger = [
                (candidate["dataset"][dimension], high)
                for high, candidate in enumerate(runs)
                if _size(candidate["dataset"][other]) == _size(run["dataset"][other])
                and candidate["dataset"][dimension] > run["dataset"][dimension]
            ]
            if larger:
                high = min(larger)[1]
                size = _size(run["dataset"][other])
                header = f"{dimension} {_size(run['dataset'][dimension])}→{_size(runs[high]['dataset'][dimension])}"
                steps.append((low, high, f"{header} ({size} {other})"))
    return steps


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def scaling_markdown(runs: list[dict[str, Any]], sources: list[str]) -> str:
    runs = sorted(runs, key=lambda run: (run["dataset"]["views"], run["dataset"]["blogs"]))
    steps = _steps(runs)
    p50s = [{(body["endpoint"], body_kind(body["label"])): body["p50_ms"] for body in run["bodies"]} for run in runs]
    keys = list(dict.fromkeys(key for table in p50s for key in table))
    header = ["endpoint", "body", *(_column(run) for run in runs), *(f"grows: {title}" for _, _, title in steps)]
    rows = []
    for endpoint, kind in keys:
        values = [table.get((endpoint, kind)) for table in p50s]
        growth = []
        for low, high, _ in steps:
            before, after = values[low], values[high]
            growth.append(f"{after / before:.1f}×" if before and after is not None else "–")
        rows.append([f"`{endpoint}`", kind, *(_ms(value) for value in values), *growth])
    commits = sorted({run["commit"] for run in runs})
    lines = [
        "How each body's uncached cost grows with the data: p50 ms per data set, "
        f"{runs[0]['method']}, add ≈ 2 ms for HTTP. Commit{'s' if len(commits) > 1 else ''} "
        + ", ".join(f"`{commit}`" for commit in commits)
        + f"; recorded {', '.join(sorted({run['recorded'][:10] for run in runs}))}. A growth column divides a set's "
        "p50 by that of the set one size down in one dimension, the other equal. Each set was seeded with `seed_data "
        "--views V --blogs B --authors A --countries 50 --days 365 --seed 42` (authors: "
        + "; ".join(f"{_column(run)}: {run['dataset']['authors']:,}" for run in runs)
        + "), folded with `precalculate_stats --full`, given V / 365 views today (`bench.fresh_day`) and folded "
        "again, and measured with the default catalogue cache"
        + "".join(
            f", {_column(run)} with `IDEEZA_CATALOGUE_CACHE_MB={run['catalogue_cache_mb']}`"
            for run in runs
            if run.get("catalogue_cache_mb", 64) != 64
        )
        + "".join(
            f", in the reporting timezone `IDEEZA_TIMEZONE={zone}` (the fold's too)"
            for zone in sorted({run.get("timezone", "UTC") for run in runs} - {"UTC"})
        )
        + ":",
        "",
        "```",
        *(f"DATABASE_URL=… {run['command']}" for run in runs),
        f"python -m bench.scaling {' '.join(sources)}",
        "```",
        "",
        *markdown_table(header, rows, "ll" + "r" * (len(header) - 2)),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="JSON files written by bench.inprocess --out.")
    parser.add_argument("--markdown", type=Path, default=Path("docs/benchmarks.md"))
    options = parser.parse_args(argv)
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in options.runs]
    section = scaling_markdown(runs, [str(path) for path in options.runs])
    section_write(options.markdown, "scaling", "Scaling: more views, more blogs", section)
    print(f"Rendered the scaling section of {options.markdown} from {len(runs)} runs.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
