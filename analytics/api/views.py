"""The analytics endpoints of SPEC §5 and §8: one APIView per operation, each a thin shell around a selector.

Every query view takes the same road (``AnalyticsQueryView.respond``): parse the body, name the answer (the
normalised request, today, the engine and the data version: the cache key and the ETag), answer 304 when the
client already holds it, else serve it from the response cache or compute it (``analytics.api.answers``) and
render it as JSON or, for ``Accept: text/csv``, as CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework.exceptions import NotFound, UnsupportedMediaType
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from analytics.api import answers, schemas
from analytics.api.answers import Answer, RowsSelector
from analytics.api.cache import answer_key, cached, data_version, etag
from analytics.api.parsers import declared_length
from analytics.api.renderers import CSVRenderer, render_csv
from analytics.api.serializers import (
    ComparedCountRowSerializer,
    ComparedPerformanceRowSerializer,
    ErrorSerializer,
    TotalsSerializer,
)
from analytics.filters import AnalyticsQuery, Endpoint, TreeField, parse_query
from analytics.periods import local_date
from analytics.replicas import fenced
from analytics.scopes import caller_scope, scope_query
from analytics.selectors import Engine, engine
from ideeza.exceptions import MSG_UNAVAILABLE

MSG_UNKNOWN_OBJECT_TYPE = "Unknown object type {value!r}; use one of: {choices}."
MSG_UNKNOWN_TOP_TYPE = "Unknown top type {value!r}; use one of: {choices}."
MSG_CONTENT_TYPE = "Send the body as JSON with the header Content-Type: application/json."

# Path type → the engine's selector for it.
BLOG_VIEWS_SELECTORS: dict[str, Callable[[Engine], RowsSelector]] = {
    "country": lambda engine: engine.blog_views_by_country,
    "user": lambda engine: engine.blog_views_by_author,
}
TOP_SELECTORS: dict[str, Callable[[Engine], RowsSelector]] = {
    "blog": lambda engine: engine.top_blogs,
    "user": lambda engine: engine.top_authors,
    "country": lambda engine: engine.top_countries,
}
# Path type → what a row's key names (compare_to looks the shown groups up in the shifted window).
GROUPS = {"country": TreeField.COUNTRY, "user": TreeField.AUTHOR, "blog": TreeField.BLOG}

_ERRORS = {
    400: openapi.Response("Invalid request; `fields` names each offending path.", ErrorSerializer),
    401: openapi.Response(
        "No valid token or API key (IDEEZA_API_OPEN=false), or an invalid, expired or revoked one was sent.",
        ErrorSerializer,
    ),
    405: openapi.Response("Method not allowed.", ErrorSerializer),
    406: openapi.Response("The Accept header names neither application/json nor text/csv.", ErrorSerializer),
    415: openapi.Response("The body is not sent as application/json.", ErrorSerializer),
    429: openapi.Response("Throttled; see Retry-After.", ErrorSerializer),
    503: openapi.Response(MSG_UNAVAILABLE, ErrorSerializer),
}
_NOT_MODIFIED = {304: openapi.Response("If-None-Match names the current ETag: nothing changed, no body.")}
_ANSWER_HEADERS = {
    "ETag": {"type": openapi.TYPE_STRING, "description": "Names the data this answer was computed from."},
    "X-Cache": {"type": openapi.TYPE_STRING, "description": "HIT, MISS or OFF: whether the response cache answered."},
    "X-Read-From": {
        "type": openapi.TYPE_STRING,
        "description": "When computed (not a cache hit): `primary`, or the read replica that had applied every write "
        "committed before the request (`replica1`, …).",
    },
}
_PAGED_HEADERS = {
    **_ANSWER_HEADERS,
    "X-Total-Count": {"type": openapi.TYPE_INTEGER, "description": "Rows of the answer before offset and limit."},
}
_CSV_NOTE = (
    " With `Accept: text/csv` the same numbers come as CSV (header `x,y,z`, `previous_x,previous_y,previous_z` "
    "appended under compare_to). Send `If-None-Match` with the last ETag to get a 304 while nothing changed."
)

_JSON = JSONRenderer()


def _responses(ok: openapi.Response, *, typed: bool = False) -> dict[int, openapi.Response]:
    """A query operation's documented answers: ``ok``, 304, the errors, and 404 where the path names a type."""
    not_found = {404: openapi.Response("Unknown type.", ErrorSerializer)} if typed else {}
    return {200: ok, **_NOT_MODIFIED, **not_found, **_ERRORS}


def _type_parameter(name: str, choices: dict[str, Any]) -> openapi.Parameter:
    return openapi.Parameter(name, openapi.IN_PATH, type=openapi.TYPE_STRING, enum=list(choices), required=True)


def _pick(selectors: dict[str, Callable[[Engine], RowsSelector]], value: str, message: str) -> RowsSelector:
    if value not in selectors:
        raise NotFound(message.format(value=value, choices=", ".join(selectors)))
    return selectors[value](engine())


def _matches(if_none_match: str, tag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match list (or ``*``) with the current tag."""
    candidates = [part.strip().removeprefix("W/") for part in if_none_match.split(",")]
    return "*" in candidates or tag in candidates


class AnalyticsQueryView(APIView):
    """Shared shell: auth per IDEEZA_API_OPEN, JSON body → AnalyticsQuery → an ``Answer`` → JSON or CSV."""

    endpoint: ClassVar[Endpoint]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "analytics-query"
    renderer_classes = [JSONRenderer, CSVRenderer]

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny() if settings.IDEEZA_API_OPEN else IsAuthenticated()]

    def query(self, request: Request, now: datetime) -> AnalyticsQuery:
        # Without a Content-Type DRF would silently read the body as empty, dropping every filter.
        if not request.content_type and declared_length(request) > 0:
            raise UnsupportedMediaType(request.content_type, detail=MSG_CONTENT_TYPE)
        # SPEC §9: the caller's scope is part of the query, so every answer, cache key and ETag is per scope.
        return scope_query(
            parse_query(request.data, endpoint=self.endpoint, now=now), caller_scope(request.user, request.auth)
        )

    def respond(self, request: Request, parts: tuple[Any, ...], compute: Callable[[], Answer]) -> HttpResponse:
        """The answer these request parts name: 304 when the client holds it, else cached or computed."""
        as_csv = isinstance(request.accepted_renderer, CSVRenderer)
        version = data_version()
        key = answer_key(version, settings.IDEEZA_QUERY_ENGINE, settings.TIME_ZONE, *parts, "csv" if as_csv else "json")
        tag = etag(key)
        if _matches(request.META.get("HTTP_IF_NONE_MATCH", ""), tag):
            response = HttpResponse(status=304, headers={"ETag": tag})
        else:
            read_from: list[str] = []

            def computed() -> tuple[bytes, int | None]:
                # On a replica only when it has applied this version (SPEC §10), else on the primary.
                served = fenced(version, compute)
                read_from.append(served.source)
                return self.render(served.value, as_csv=as_csv)

            # The cache holds the rendered body, so a hit costs no rendering at all.
            (body, total), status = cached(key, computed)
            media_type = f"{CSVRenderer.media_type}; charset=utf-8" if as_csv else _JSON.media_type
            response = HttpResponse(body, content_type=media_type, headers={"X-Cache": status, "ETag": tag})
            if read_from:
                response["X-Read-From"] = read_from[0]
            if total is not None:
                response["X-Total-Count"] = str(total)
            if as_csv:
                response["Content-Disposition"] = 'attachment; filename="answer.csv"'
        # The answer differs by format and, through the caller's scope, by credentials.
        patch_vary_headers(response, ("Accept", "Authorization"))
        return response

    @staticmethod
    def render(answer: Answer, *, as_csv: bool) -> tuple[bytes, int | None]:
        body = render_csv(answer.data, compare=answer.compared) if as_csv else _JSON.render(answer.data)
        return body, answer.total_count

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        # Errors are JSON in the one shape (SPEC §6) whatever the Accept header asked for.
        if getattr(response, "status_code", 200) >= 400:
            request.accepted_renderer, request.accepted_media_type = _JSON, _JSON.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class BlogViewsView(AnalyticsQueryView):
    endpoint = Endpoint.BLOG_VIEWS

    @swagger_auto_schema(
        auto_schema=schemas.QueryAutoSchema,
        operation_id="blog_views",
        operation_summary="Views grouped by country or by author",
        operation_description=(
            "One row per country (`country`) or author (`user`) with a matching view: x = code or username, "
            "y = distinct blogs, z = views; ordered by z desc, then x." + _CSV_NOTE
        ),
        manual_parameters=[_type_parameter("object_type", BLOG_VIEWS_SELECTORS)],
        request_body=schemas.BLOG_VIEWS_BODY,
        responses=_responses(
            openapi.Response("The rows.", ComparedCountRowSerializer(many=True), headers=_PAGED_HEADERS), typed=True
        ),
    )
    def post(self, request: Request, object_type: str) -> HttpResponse:
        select = _pick(BLOG_VIEWS_SELECTORS, object_type, MSG_UNKNOWN_OBJECT_TYPE)
        now = timezone.now()
        query = self.query(request, now)
        return self.respond(
            request,
            ("blog-views", object_type, query, local_date(now)),
            lambda: answers.grouped(select, query, now=now, group=GROUPS[object_type]),
        )


class TopView(AnalyticsQueryView):
    endpoint = Endpoint.TOP

    @swagger_auto_schema(
        auto_schema=schemas.QueryAutoSchema,
        operation_id="top",
        operation_summary="Top blogs, authors or countries by views",
        operation_description=(
            "The top `limit` (default 10) groups by views. blog: x = title, y = views, z = distinct countries "
            "(ties by blog id); user / country: x = username / code, y = views, z = distinct blogs (ties by x)."
            + _CSV_NOTE
        ),
        manual_parameters=[_type_parameter("top_type", TOP_SELECTORS)],
        request_body=schemas.TOP_BODY,
        responses=_responses(
            openapi.Response("The rows.", ComparedCountRowSerializer(many=True), headers=_PAGED_HEADERS), typed=True
        ),
    )
    def post(self, request: Request, top_type: str) -> HttpResponse:
        select = _pick(TOP_SELECTORS, top_type, MSG_UNKNOWN_TOP_TYPE)
        now = timezone.now()
        query = self.query(request, now)
        return self.respond(
            request,
            ("top", top_type, query, local_date(now)),
            lambda: answers.grouped(select, query, now=now, group=GROUPS[top_type]),
        )


class PerformanceView(AnalyticsQueryView):
    endpoint = Endpoint.PERFORMANCE

    @swagger_auto_schema(
        auto_schema=schemas.QueryAutoSchema,
        operation_id="performance",
        operation_summary="Views per day, week, month or year with growth",
        operation_description=(
            "One row per calendar period overlapping the window, zero-filled, chronological: "
            'x = "YYYY-MM-DD (N blogs)", y = views in the period, z = growth % vs the previous period '
            "(null when that had no views)." + _CSV_NOTE
        ),
        request_body=schemas.PERFORMANCE_BODY,
        responses=_responses(
            openapi.Response("The periods.", ComparedPerformanceRowSerializer(many=True), headers=_ANSWER_HEADERS)
        ),
    )
    def post(self, request: Request) -> HttpResponse:
        now = timezone.now()
        query = self.query(request, now)
        metric = settings.IDEEZA_PERFORMANCE_X_METRIC
        select = engine().performance
        # An open upper end closes at the end of today: today is part of the key.
        return self.respond(
            request,
            ("performance", query, metric, local_date(now)),
            lambda: answers.performance(select, query, now=now, x_metric=metric),
        )


class TotalsView(AnalyticsQueryView):
    endpoint = Endpoint.TOTALS

    @swagger_auto_schema(
        auto_schema=schemas.QueryAutoSchema,
        operation_id="totals",
        operation_summary="Views, distinct blogs, authors and countries",
        operation_description=(
            "One object: matching views and the distinct blogs, authors and countries among them (views with no "
            "country are left out of `countries`); under compare_to also `previous`, the same four over the shifted "
            "window. With `Accept: text/csv`: a header of the keys (and `previous_*`) and one row."
        ),
        request_body=schemas.TOTALS_BODY,
        responses=_responses(openapi.Response("The totals.", TotalsSerializer, headers=_ANSWER_HEADERS)),
    )
    def post(self, request: Request) -> HttpResponse:
        now = timezone.now()
        query = self.query(request, now)
        select = engine().totals
        return self.respond(request, ("totals", query, local_date(now)), lambda: answers.totals(select, query, now=now))
