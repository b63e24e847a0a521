"""Log format (ideeza/logs.py and the LOGGING setting): JSON lines by default in production, text with DEBUG."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from ideeza.logs import JsonFormatter


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "json"),
        ({"DEBUG": "true"}, "text"),
        ({"DEBUG": "true", "LOG_FORMAT": "json"}, "json"),
        ({"LOG_FORMAT": " TEXT "}, "text"),
    ],
)
def test_log_format_is_json_unless_debug_or_asked(settings_with, env, expected):
    values = settings_with(**env)

    assert values["LOG_FORMAT"] == expected
    assert values["LOGGING"]["handlers"]["console"]["formatter"] == expected
    assert expected in values["LOGGING"]["formatters"]


def test_an_unknown_log_format_stops_the_start(settings_with):
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be 'json' or 'text', not 'xml'"):
        settings_with(LOG_FORMAT="xml")


def test_the_configured_json_formatter_writes_one_object_per_line():
    record = logging.LogRecord("ideeza.test", logging.WARNING, __file__, 1, "a %s\nb", ("multi-line",), None)
    record.fields = {"status": 503, "when": object()}

    text = JsonFormatter().format(record)

    assert "\n" not in text
    line = json.loads(text)
    assert (line["level"], line["logger"], line["message"], line["status"]) == (
        "WARNING",
        "ideeza.test",
        "a multi-line\nb",
        503,
    )
    assert line["time"].endswith("+00:00") and isinstance(line["when"], str)


def test_exceptions_travel_inside_the_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("ideeza.test", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())

    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == "failed"
    assert line["exc_info"].startswith("Traceback") and "ValueError: boom" in line["exc_info"]
