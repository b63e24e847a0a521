"""Log formatting: one JSON object per line (``LOG_FORMAT=json``, the production default).

Standard library only, so gunicorn's own logger can use it too (``gunicorn.conf.py``) without Django set up.
A record's ``fields`` attribute (``logger.info(..., extra={"fields": {...}})``) is merged into the object; that is
how the request log (``ideeza.middleware``) emits its keys without reparsing its message.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FIELDS_ATTRIBUTE = "fields"
# The request being served (set by ideeza.middleware.RequestLogMiddleware), so every line logged while serving it
# carries its id, not only the request line.
current_request_id: ContextVar[str | None] = ContextVar("ideeza_request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", **fields}``, the current ``"request_id"`` while a request is served,
    and ``"exc_info"`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS_ATTRIBUTE, None)
        if isinstance(fields, dict):
            document.update(fields)
        if "request_id" not in document:
            request_id = current_request_id.get()
            if request_id is not None:
                document["request_id"] = request_id
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack_info"] = self.formatStack(record.stack_info)
        # default=str: a stray non-JSON value (a UUID, a Decimal) must not turn a log call into an exception.
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)
