"""The request log: one line per request on the ``ideeza.request`` logger, and the request id.

Keys of each line (JSON with ``LOG_FORMAT=json``): ``method``, ``path`` (no query string), ``status``,
``duration_ms`` (from this middleware, the outermost, to the response), ``cache`` (the ``X-Cache`` header: HIT,
MISS or OFF; null for responses without one), ``user_id`` (null when anonymous), ``request_id``, ``remote_addr``.
It replaces gunicorn's access log (off in ``gunicorn.conf.py``), which knows neither the cache nor the user.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponseBase

from ideeza.logs import current_request_id

logger = logging.getLogger("ideeza.request")

REQUEST_ID_HEADER = "X-Request-ID"
# An id from the client or a proxy is kept (so one request can be followed across services) only when it is short
# and plain: anything else could forge log content, and is replaced by a fresh id.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id_for(request: HttpRequest) -> str:
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    if incoming and _ACCEPTABLE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestLogMiddleware:
    """Outermost middleware: times the request, sets ``X-Request-ID`` on the response, logs the request line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.enabled = settings.LOG_REQUESTS

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        request_id = request_id_for(request)
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            if self.enabled and logger.isEnabledFor(logging.INFO):
                self.log(request, response, request_id, (time.perf_counter() - started) * 1000)
            return response
        finally:
            current_request_id.reset(token)

    @staticmethod
    def log(request: HttpRequest, response: HttpResponseBase, request_id: str, duration_ms: float) -> None:
        # DRF puts the user it authenticated (JWT) on the Django request too; without auth it is Django's lazy
        # session user, which costs no query when the request carries no session cookie.
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        status = response.status_code
        cache = response.get("X-Cache")
        duration = round(duration_ms, 2)
        logger.info(
            "%s %s %s %.2fms cache=%s",
            request.method,
            request.path,
            status,
            duration,
            cache,
            extra={
                "fields": {
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "duration_ms": duration,
                    "cache": cache,
                    "user_id": user_id,
                    "request_id": request_id,
                    "remote_addr": request.META.get("REMOTE_ADDR"),
                }
            },
        )


API_PREFIX = "/api/"


class ApiErrorShapeMiddleware:
    """Under ``/api/``, every error is the one shape (SPEC §6), also with ``DEBUG=true``.

    With DEBUG on, Django answers an unknown URL, an oversized body or a crash with its HTML debug pages instead
    of the ``handler*`` views. Here, just inside the request log, such a page under ``/api/`` is replaced by the
    response the handler would have given with DEBUG off. Without DEBUG it never fires: the handlers already answer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not settings.DEBUG or not request.path.startswith(API_PREFIX) or response.status_code < 400:
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return _shaped_error(request, response.status_code, getattr(request, "_api_exception", None))

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        # Only noted here: Django still logs it and renders its page, which __call__ then replaces.
        request._api_exception = exception  # type: ignore[attr-defined]


def _shaped_error(request: HttpRequest, status: int, exception: Exception | None) -> HttpResponseBase:
    from ideeza import exceptions

    if status == 404:
        return exceptions.page_not_found(request)
    if status == 403:
        return exceptions.permission_denied(request)
    if status == 400:
        too_big = exception if isinstance(exception, RequestDataTooBig) else None
        if too_big is None and _declared_length_or_zero(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            too_big = RequestDataTooBig()
        return exceptions.bad_request(request, too_big)
    if isinstance(exception, exceptions.DATABASE_UNAVAILABLE):
        return exceptions.service_unavailable()
    return exceptions.error_response(status)


def _declared_length_or_zero(request: HttpRequest) -> int:
    from rest_framework.exceptions import ParseError

    from analytics.api.parsers import declared_length  # here: the API's modules load after the settings

    try:
        return declared_length(request)
    except ParseError:
        return 0
