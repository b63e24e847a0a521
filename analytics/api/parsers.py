"""A JSON parser that refuses bodies over a size limit before it reads them whole."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MSG_BODY_TOO_LARGE = "The request body is larger than {limit:,} bytes."
MSG_TOO_DEEP = "The JSON is nested too deeply to read."


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.IDEEZA_MAX_BODY_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise ParseError(MSG_BODY_TOO_LARGE.format(limit=limit), code="body_too_large")
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            # A few hundred kilobytes of "[[[[…" exhaust Python's recursion limit inside json.loads.
            raise ParseError(MSG_TOO_DEEP, code="parse_error") from None
