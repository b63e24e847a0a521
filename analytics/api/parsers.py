"""A JSON parser that turns what json.loads cannot safely hand on into 400s: bodies over the size limit, JSON nested
too deeply to read, integers too long to convert, and lone surrogate escapes."""

from __future__ import annotations

import codecs
import io
import json
import re
import sys
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json as drf_json

MSG_BODY_TOO_LARGE = "The request body is larger than {limit:,} bytes."
MSG_BAD_CONTENT_LENGTH = "The Content-Length header is not a whole number."
MSG_TOO_DEEP = "The JSON is nested too deeply to read."
MSG_NUMBER_TOO_LONG = "A number in the body has more than {digits:,} digits."
MSG_LONE_SURROGATE = "The JSON holds a lone UTF-16 surrogate escape (such as \\ud800), which is no Unicode text."

# A \uD800-\uDFFF escape in a UTF-8 body: only these can decode to a string that has no UTF-8 form.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def declared_length(request: Any) -> int:
    """The body length a request's Content-Length header declares (0 without one); a 400 when it is no number."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ParseError(MSG_BAD_CONTENT_LENGTH) from None


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.IDEEZA_MAX_BODY_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise ParseError(MSG_BODY_TOO_LARGE.format(limit=limit), code="body_too_large")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            # As DRF's JSONParser.parse (strict: NaN and Infinity refused), with integers read by _json_int.
            text = codecs.getreader(encoding)(io.BytesIO(raw)).read()
            data = drf_json.loads(text, parse_constant=drf_json.strict_constant, parse_int=_json_int)
        except RecursionError:
            # A few hundred kilobytes of "[[[[…" exhaust Python's recursion limit inside json.loads.
            raise ParseError(MSG_TOO_DEEP, code="parse_error") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        escaped = _SURROGATE_ESCAPE.search(raw) if codecs.lookup(encoding).name == "utf-8" else True
        if escaped and _has_lone_surrogate(data):
            # json.loads accepts "\ud800" alone; the database driver, and the response encoder when it echoes a key
            # back, cannot encode it: it would be a 500 far from here.
            raise ParseError(MSG_LONE_SURROGATE, code="parse_error")
        return data


def _has_lone_surrogate(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_int(text: str) -> int:
    """An integer of the body; Python refuses to convert more than ``sys.get_int_max_str_digits()`` digits, with a
    message about its own settings: say it in the API's words."""
    try:
        return int(text)
    except ValueError:
        raise ValueError(MSG_NUMBER_TOO_LONG.format(digits=sys.get_int_max_str_digits())) from None
