"""OpenAPI (Swagger 2.0) request schemas for drf-yasg: the bodies ``analytics.filters`` accepts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_yasg import openapi
from drf_yasg.inspectors import SwaggerAutoSchema

from analytics.filters import (
    BLOG_VIEWS_LIMIT_MAX,
    MAX_IN_VALUES,
    MAX_LIST_VALUES,
    MAX_STRING_LENGTH,
    MAX_TREE_DEPTH,
    MAX_TREE_NODES,
    OFFSET_MAX,
    RANGE_DAYS,
    TOP_LIMIT_DEFAULT,
    TOP_LIMIT_MAX,
    YEAR_MAX,
    YEAR_MIN,
    Comparison,
    TreeField,
)
from analytics.periods import Granularity

_string = openapi.Schema(type=openapi.TYPE_STRING, max_length=MAX_STRING_LENGTH)
_codes = openapi.Schema(type=openapi.TYPE_ARRAY, items=_string, min_items=1, max_items=MAX_LIST_VALUES)
_field = openapi.Schema(type=openapi.TYPE_STRING, enum=[member.value for member in TreeField])
_scalar_description = "A string; an integer blog id for the field 'blog'."
# Unknown keys are a 400 (SPEC §6), so every object says so; a node has exactly one key (SPEC §3).
_ONE_KEY: dict[str, Any] = {"min_properties": 1, "max_properties": 1, "additional_properties": False}
_any_node = openapi.Schema(type=openapi.TYPE_OBJECT, description="A nested filter node (same shape).", **_ONE_KEY)

FILTER_NODE = openapi.Schema(
    title="FilterNode",
    type=openapi.TYPE_OBJECT,
    **_ONE_KEY,
    description=(
        "A boolean filter tree. Each node has exactly one key: and, or, not, eq, in or contains. "
        f"Depth ≤ {MAX_TREE_DEPTH}, ≤ {MAX_TREE_NODES} nodes, ≤ {MAX_IN_VALUES:,} values in one `in`. "
        "Country codes match case-insensitively; contains matches blog titles case-insensitively."
    ),
    properties={
        "and": openapi.Schema(type=openapi.TYPE_ARRAY, items=_any_node, min_items=1),
        "or": openapi.Schema(type=openapi.TYPE_ARRAY, items=_any_node, min_items=1),
        "not": _any_node,
        "eq": openapi.Schema(
            type=openapi.TYPE_OBJECT,
            required=["field", "value"],
            additional_properties=False,
            properties={
                "field": _field,
                "value": openapi.Schema(type=openapi.TYPE_STRING, description=_scalar_description),
            },
        ),
        "in": openapi.Schema(
            type=openapi.TYPE_OBJECT,
            required=["field", "values"],
            additional_properties=False,
            properties={
                "field": _field,
                "values": openapi.Schema(
                    type=openapi.TYPE_ARRAY,
                    items=openapi.Schema(type=openapi.TYPE_STRING, description=_scalar_description),
                    min_items=1,
                    max_items=MAX_IN_VALUES,
                ),
            },
        ),
        "contains": openapi.Schema(
            type=openapi.TYPE_OBJECT,
            required=["field", "value"],
            additional_properties=False,
            properties={
                "field": openapi.Schema(type=openapi.TYPE_STRING, enum=[TreeField.BLOG_TITLE.value]),
                "value": _string,
            },
        ),
    },
    example={
        "and": [
            {"in": {"field": "country", "values": ["us", "DE"]}},
            {"not": {"contains": {"field": "blog_title", "value": "draft"}}},
        ]
    },
)

_COMMON = {
    "range": openapi.Schema(
        type=openapi.TYPE_STRING,
        enum=list(RANGE_DAYS),
        description="The last 1 / 7 / 30 / 365 whole days, today included (reporting timezone).",
    ),
    "year": openapi.Schema(type=openapi.TYPE_INTEGER, minimum=YEAR_MIN, maximum=YEAR_MAX),
    "start_date": openapi.Schema(
        type=openapi.TYPE_STRING,
        description="Inclusive. ISO 8601 date (the whole day) or datetime (to the second; no offset = reporting tz).",
        example="2025-01-01",
    ),
    "end_date": openapi.Schema(
        type=openapi.TYPE_STRING, description="Inclusive, like start_date.", example="2025-12-31"
    ),
    "country_codes": _codes,
    "exclude_country_codes": _codes,
    "author_username": _string,
    "blog_id": openapi.Schema(type=openapi.TYPE_INTEGER, minimum=1),
    "filters": FILTER_NODE,
    "compare_to": openapi.Schema(
        type=openapi.TYPE_STRING,
        enum=[member.value for member in Comparison],
        description=(
            "Adds `previous`: the same request over the window shifted back by its own length (previous_period) "
            "or by one calendar year (previous_year). Open ends are closed first, as performance closes them."
        ),
    ),
}
_OFFSET = {
    "offset": openapi.Schema(
        type=openapi.TYPE_INTEGER,
        minimum=0,
        maximum=OFFSET_MAX,
        default=0,
        description="Rows of the ordered answer to skip before `limit`; X-Total-Count counts them all.",
    )
}


def _body(title: str, extra: dict[str, openapi.Schema], example: dict) -> openapi.Schema:  # type: ignore[type-arg]
    return openapi.Schema(
        title=title,
        type=openapi.TYPE_OBJECT,
        properties={**_COMMON, **extra},
        additional_properties=False,
        example=example,
    )


BLOG_VIEWS_BODY = _body(
    "BlogViewsQuery",
    {
        "limit": openapi.Schema(
            type=openapi.TYPE_INTEGER, minimum=1, maximum=BLOG_VIEWS_LIMIT_MAX, description="Default: all."
        ),
        **_OFFSET,
    },
    {"range": "month", "exclude_country_codes": ["xx"], "compare_to": "previous_period"},
)
TOP_BODY = _body(
    "TopQuery",
    {
        "limit": openapi.Schema(type=openapi.TYPE_INTEGER, minimum=1, maximum=TOP_LIMIT_MAX, default=TOP_LIMIT_DEFAULT),
        **_OFFSET,
    },
    {"year": 2026, "filters": {"in": {"field": "country", "values": ["US", "DE"]}}, "limit": 10, "offset": 10},
)
TOTALS_BODY = _body("TotalsQuery", {}, {"range": "month", "country_codes": ["US"], "compare_to": "previous_period"})
PERFORMANCE_BODY = _body(
    "PerformanceQuery",
    {
        "compare": openapi.Schema(
            type=openapi.TYPE_STRING,
            enum=[member.value for member in Granularity],
            description="Period length. Default from the window: > 365 days → month, > 30 → week, else day.",
        )
    },
    {"range": "year", "compare": "month", "author_username": "alice", "compare_to": "previous_year"},
)


class QueryAutoSchema(SwaggerAutoSchema):
    """The query endpoints as they behave: the body is optional (none = no filters), and a token is needed only
    while IDEEZA_API_OPEN is false (the schema is generated per request, so it follows the setting)."""

    def make_body_parameter(self, schema: openapi.Schema) -> openapi.Parameter:
        parameter = super().make_body_parameter(schema)
        parameter.required = False
        return parameter

    def get_security(self) -> Any:
        return [] if settings.IDEEZA_API_OPEN else super().get_security()
