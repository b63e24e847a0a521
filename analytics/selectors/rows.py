"""What every analytics endpoint returns: a list of ``Row(x, y, z)`` (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    x: str
    y: int
    z: int | float | None
