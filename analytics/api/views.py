"""The analytics endpoints of SPEC §5: one APIView per operation, each a thin shell around a selector."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework.exceptions import NotFound, ParseError, UnsupportedMediaType
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from analytics.api import schemas
from analytics.api.cache import cached
from analytics.api.serializers import CountRowSerializer, ErrorSerializer, PerformanceRowSerializer
from analytics.filters import AnalyticsQuery, Endpoint, parse_query
from analytics.periods import local_date
from analytics.selectors import engine
from analytics.selectors.rows import Row
from ideeza.exceptions import MSG_UNAVAILABLE

MSG_UNKNOWN_OBJECT_TYPE = "Unknown object type {value!r}; use one of: {choices}."
MSG_BAD_CONTENT_LENGTH = "The Content-Length header is not a whole number."
MSG_CONTENT_TYPE = "Send the body as JSON with the header Content-Type: application/json."

# Path type → selector name, looked up on the engine that IDEEZA_QUERY_ENGINE picks.
BLOG_VIEWS_SELECTORS: dict[str, str] = {"country": "blog_views_by_country", "user": "blog_views_by_author"}
TOP_SELECTORS: dict[str, str] = {"blog": "top_blogs", "user": "top_authors", "country": "top_countries"}

_ERRORS = {
    400: openapi.Response("Invalid request; `fields` names each offending path.", ErrorSerializer),
    401: openapi.Response("No valid token (IDEEZA_API_OPEN=false), or an invalid one was sent.", ErrorSerializer),
    405: openapi.Response("Method not allowed.", ErrorSerializer),
    415: openapi.Response("The body is not sent as application/json.", ErrorSerializer),
    429: openapi.Response("Throttled; see Retry-After.", ErrorSerializer),
    503: openapi.Response(MSG_UNAVAILABLE, ErrorSerializer),
}


_JSON = JSONRenderer()


def _type_parameter(name: str, choices: dict[str, Any]) -> openapi.Parameter:
    return openapi.Parameter(name, openapi.IN_PATH, type=openapi.TYPE_STRING, enum=list(choices), required=True)


def _declared_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ParseError(MSG_BAD_CONTENT_LENGTH) from None


class AnalyticsQueryView(APIView):
    """Shared shell: auth per IDEEZA_API_OPEN, JSON body → AnalyticsQuery → rows → {x, y, z} list."""

    endpoint: ClassVar[Endpoint]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "analytics-query"

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny() if settings.IDEEZA_API_OPEN else IsAuthenticated()]

    def query(self, request: Request, now: datetime) -> AnalyticsQuery:
        # Without a Content-Type DRF would silently read the body as empty, dropping every filter.
        if not request.content_type and _declared_length(request) > 0:
            raise UnsupportedMediaType(request.content_type, detail=MSG_CONTENT_TYPE)
        return parse_query(request.data, endpoint=self.endpoint, now=now)

    @staticmethod
    def answer(parts: tuple[Any, ...], compute: Callable[[], Any]) -> HttpResponse:
        """Serve from the response cache when it holds this request's answer; say which in X-Cache."""
        # The cache holds the rendered body, so a hit costs no unpickling of rows and no JSON rendering; the bytes
        # are exactly what DRF's JSONRenderer writes for the rows.
        body, status = cached(
            (settings.IDEEZA_QUERY_ENGINE, settings.TIME_ZONE, *parts), lambda: _JSON.render(compute())
        )
        return HttpResponse(body, content_type=_JSON.media_type, headers={"X-Cache": status})

    @staticmethod
    def pick(selectors: dict[str, str], value: str) -> Callable[[AnalyticsQuery], list[Row]]:
        if value not in selectors:
            raise NotFound(MSG_UNKNOWN_OBJECT_TYPE.format(value=value, choices=", ".join(selectors)))
        return getattr(engine(), selectors[value])


class BlogViewsView(AnalyticsQueryView):
    endpoint = Endpoint.BLOG_VIEWS

    @swagger_auto_schema(
        auto_schema=schemas.QueryAutoSchema,
        operation_id="blog_views",
        operation_summary="Views grouped by country or by author",
        operation_description=(
            "One row per country (`country`) or author (`user`) with a matching view: x = code or username, "
            "y = distinct blogs, z = views; ordered by z desc, then x."
        ),
        manual_parameters=[_type_parameter("object_type", BLOG_VIEWS_SELECTORS)],
        request_body=schemas.BLOG_VIEWS_BODY,
        responses={
            200: CountRowSerializer(many=True),
            404: openapi.Response("Unknown type.", ErrorSerializer),
            **_ERRORS,
        },
    )
    def post(self, request: Request, object_type: str) -> HttpResponse:
        selector = self.pick(BLOG_VIEWS_SELECTORS, object_type)
        query = self.query(request, timezone.now())
        return self.answer(
            ("blog-views", object_type, query), lambda: CountRowSerializer(selector(query), many=True).data
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
        ),
        manual_parameters=[_type_parameter("top_type", TOP_SELECTORS)],
        request_body=schemas.TOP_BODY,
        responses={
            200: CountRowSerializer(many=True),
            404: openapi.Response("Unknown type.", ErrorSerializer),
            **_ERRORS,
        },
    )
    def post(self, request: Request, top_type: str) -> HttpResponse:
        selector = self.pick(TOP_SELECTORS, top_type)
        query = self.query(request, timezone.now())
        return self.answer(("top", top_type, query), lambda: CountRowSerializer(selector(query), many=True).data)


class PerformanceView(AnalyticsQueryView):
    endpoint = Endpoint.PERFORMANCE

    @swagger_auto_schema(
        auto_schema=schemas.QueryAutoSchema,
        operation_id="performance",
        operation_summary="Views per day, week, month or year with growth",
        operation_description=(
            "One row per calendar period overlapping the window, zero-filled, chronological: "
            'x = "YYYY-MM-DD (N blogs)", y = views in the period, z = growth % vs the previous period '
            "(null when that had no views)."
        ),
        request_body=schemas.PERFORMANCE_BODY,
        responses={200: PerformanceRowSerializer(many=True), **_ERRORS},
    )
    def post(self, request: Request) -> HttpResponse:
        now = timezone.now()
        query = self.query(request, now)
        metric = settings.IDEEZA_PERFORMANCE_X_METRIC

        def compute() -> Any:
            return PerformanceRowSerializer(engine().performance(query, now=now, x_metric=metric), many=True).data

        # An open upper end closes at the end of today: today is part of the key.
        return self.answer(("performance", query, metric, local_date(now)), compute)
