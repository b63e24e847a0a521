"""The one error shape (SPEC §6): ``{"message": str, "code": str, "fields": {path: [str, ...]}}``.

Every non-2xx response of the service is built here: DRF exceptions go through ``api_exception_handler``,
Django's own 400/403/404/500 pages through the ``handler*`` views wired in ``ideeza.urls``.

A database that cannot be reached (``OperationalError``/``InterfaceError``: refused, dropped or restarting) is a
503 ``service_unavailable`` on both paths, logged, never a 500: the request can be retried as it is, and the
next request opens a fresh connection (Django discards a connection that failed, and health-checks a persistent
one before reusing it: ``CONN_HEALTH_CHECKS``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

MSG_INVALID_REQUEST = "The request is invalid; see 'fields' for what to fix."
MSG_NOT_FOUND = "Nothing is served at this address."
MSG_SERVER_ERROR = "The server failed to answer this request; it has been logged."
MSG_BAD_REQUEST = "The request could not be read."
MSG_FORBIDDEN = "You do not have permission to perform this action."
MSG_UNAVAILABLE = "A backing service is unavailable; try again shortly."
RETRY_AFTER_SECONDS = 1

# The database is down, restarting or dropped the connection: not a bug in the request or in the code.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


class RequestValidationError(exceptions.APIException):
    """A 400 that names every offending path of the request body, e.g. ``filters.and[1].eq.field``."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, fields: dict[str, list[str]], message: str = MSG_INVALID_REQUEST) -> None:
        super().__init__(detail=message, code=self.default_code)
        self.fields = fields


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = MSG_UNAVAILABLE
    default_code = "service_unavailable"

    def __init__(self, detail: str | None = None, code: str | None = None) -> None:
        super().__init__(detail, code)
        self.wait = RETRY_AFTER_SECONDS  # sent as Retry-After


def _log_database_unavailable(exc: BaseException, where: str) -> None:
    logger.error("database unavailable (%s): answering 503 %s", type(exc).__name__, where, exc_info=exc)


def error_body(message: str, code: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"message": message, "code": code, "fields": fields or {}}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested ``ValidationError.detail`` as ``{dotted.path: [messages]}``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                path = prefix
            for sub_path, messages in _flatten(value, path).items():
                out.setdefault(sub_path, []).extend(messages)
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix: [str(item) for item in detail]}
        out = {}
        for index, item in enumerate(detail):
            for sub_path, messages in _flatten(item, f"{prefix}[{index}]").items():
                out.setdefault(sub_path, []).extend(messages)
        return out
    return {prefix: [str(detail)]}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(MSG_NOT_FOUND)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DATABASE_UNAVAILABLE):
        request = context.get("request")
        _log_database_unavailable(exc, f"to {getattr(request, 'method', '?')} {getattr(request, 'path', '?')}")
        exc = ServiceUnavailable()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: Django's handler500 answers in the same shape and logs it

    headers: dict[str, str] = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(wait))

    if isinstance(exc, RequestValidationError):
        body = error_body(str(exc.detail), exc.default_code, exc.fields)
    elif isinstance(exc, exceptions.ValidationError):
        body = error_body(MSG_INVALID_REQUEST, "invalid", _flatten(exc.detail))
    else:
        detail = exc.detail
        if isinstance(detail, dict):
            message = str(detail.get("detail", detail))
            code = str(getattr(detail.get("detail"), "code", None) or exc.default_code)
        else:
            message = str(detail)
            code = str(getattr(detail, "code", None) or exc.default_code)
        body = error_body(message, code)

    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


def _json_error(status_code: int, message: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(message, code), status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, RequestDataTooBig):  # Django's own body limit, met before the JSON parser's
        from analytics.api.parsers import MSG_BODY_TOO_LARGE  # here: DRF imports the parser while this module loads

        return _json_error(400, MSG_BODY_TOO_LARGE.format(limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE), "body_too_large")
    return _json_error(400, MSG_BAD_REQUEST, "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(403, MSG_FORBIDDEN, "permission_denied")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(404, MSG_NOT_FOUND, "not_found")


def server_error(request: HttpRequest) -> JsonResponse:
    """Django's handler500, called while the uncaught exception is being handled (so ``sys.exc_info`` holds it):
    outside DRF (middleware, plain views) a database outage is a 503 too. Django has already logged it."""
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return service_unavailable()
    return _json_error(500, MSG_SERVER_ERROR, "server_error")


def error_response(status_code: int) -> JsonResponse:
    """The one shape for a status no handler names more precisely (a 500 is ``server_error``)."""
    if status_code >= 500:
        return _json_error(status_code, MSG_SERVER_ERROR, "server_error")
    return _json_error(status_code, MSG_BAD_REQUEST, "bad_request")


def service_unavailable(message: str = MSG_UNAVAILABLE, fields: dict[str, list[str]] | None = None) -> JsonResponse:
    """A 503 ``service_unavailable`` in the one shape, with ``Retry-After``, outside DRF's exception handling."""
    response = JsonResponse(error_body(message, ServiceUnavailable.default_code, fields), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
