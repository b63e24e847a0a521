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
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if number >= scale and number % (scale // 10) == 0:
            return f"{number / scale:g}{unit}"
    return f"{number:,}"


def _column(run: dict[str, Any]) -> str:
    data = run["dataset"]
    return f"{_size(data['views'])} views, {_size(data['blogs'])} blogs"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def scaling_markdown(runs: list[dict[str, Any]], sources: list[str]) -> str:
    runs = sorted(runs, key=lambda run: (run["dataset"]["views"], run["dataset"]["blogs"]))
    base = runs[0]["dataset"]
    growths = [
        (index, run)
        for index, run in enumerate(runs[1:], 1)
        if (run["dataset"]["views"] == base["views"]) != (run["dataset"]["blogs"] == base["blogs"])
    ]
    p50s = [{(body["endpoint"], body_kind(body["label"])): body["p50_ms"] for body in run["bodies"]} for run in runs]
    keys = list(dict.fromkeys(key for table in p50s for key in table))
    header = ["endpoint", "body", *(_column(run) for run in runs)]
    header += [f"grows ×{_column(run).replace(_column(runs[0]), '')}" for _, run in growths]
    header = [*header[: 2 + len(runs)], *(f"→ {_column(run)}" for _, run in growths)]
    rows = []
    for endpoint, kind in keys:
        values = [table.get((endpoint, kind)) for table in p50s]
        growth = [
            f"{values[index] / values[0]:.1f}×" if values[index] is not None and values[0] else "–"
            for index, _ in growths
        ]
        rows.append([f"`{endpoint}`", kind, *(_ms(value) for value in values), *growth])
    commits = sorted({run["commit"] for run in runs})
    lines = [
        "How each body's uncached cost grows with the data: p50 ms per data set, "
        f"{runs[0]['method']}, add ≈ 2 ms for HTTP. Commit{'s' if len(commits) > 1 else ''} "
        + ", ".join(f"`{commit}`" for commit in commits)
        + f"; recorded {', '.join(sorted({run['recorded'][:10] for run in runs}))}. Growth columns divide by the "
        f"smallest set ({_column(runs[0])}). Each set was seeded with `seed_data --views V --blogs B --authors A "
        "--countries 50 --days 365 --seed 42` and folded with `precalculate_stats --full`; then:",
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
