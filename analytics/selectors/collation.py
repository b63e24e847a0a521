"""Code-point ordering of text, the same on every database and in Python.

SPEC §5 breaks ties by "x asc". A database's default collation (en_US on a stock PostgreSQL image, BINARY
on SQLite) would make that order depend on where the service runs; ``BinaryCollate`` pins it to code-point
order, which is also how Python compares ``str``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Expression, F
from django.db.models.functions import Collate


class BinaryCollate(Collate):
    def __init__(self, expression: Expression | F | str) -> None:
        super().__init__(F(expression) if isinstance(expression, str) else expression, "C")

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        self.collation = "BINARY"
        return super().as_sql(compiler, connection, **extra_context)
