"""CSV answers (SPEC §8): RFC 4180, a header row, the JSON answer's numbers, and cells a spreadsheet never runs."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer

# A text cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and Google Sheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ROW_COLUMNS = ("x", "y", "z")


def safe_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would read as a formula gets a leading ``'``; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _row_cells(row: Mapping[str, Any], compare: bool) -> list[Any]:
    cells = [row[column] for column in ROW_COLUMNS]
    if compare:
        previous = row.get("previous")
        # A grouped row's previous is the same group (its x is the row's x); a period's names its own period.
        cells += [None] * 3 if previous is None else [previous.get("x", row["x"]), previous["y"], previous["z"]]
    return cells


def csv_table(data: list[dict[str, Any]] | dict[str, Any], *, compare: bool) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of an answer: ``x,y,z`` per row, or the totals' keys as one row."""
    if isinstance(data, dict):
        keys = [key for key in data if key != "previous"]
        header, cells = list(keys), [data[key] for key in keys]
        if compare:
            header += [f"previous_{key}" for key in keys]
            cells += [data["previous"][key] for key in keys]
        return header, [cells]
    header = list(ROW_COLUMNS) + ([f"previous_{column}" for column in ROW_COLUMNS] if compare else [])
    return header, [_row_cells(row, compare) for row in data]


def render_csv(data: list[dict[str, Any]] | dict[str, Any], *, compare: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180: CRLF, quotes doubled, fields quoted when needed
    header, rows = csv_table(data, compare=compare)
    writer.writerow(header)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8")


class CSVRenderer(BaseRenderer):
    """Lets content negotiation pick CSV for ``Accept: text/csv``; the views render the body themselves."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        compare = bool((renderer_context or {}).get("compare"))
        return render_csv(data, compare=compare)
