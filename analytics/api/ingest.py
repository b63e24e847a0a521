"""``POST /api/analytics/views/``: record blog views, one event or a batch, idempotently (docs/ingestion.md)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework import serializers, status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from analytics.api.parsers import declared_length
from analytics.api.serializers import ErrorSerializer
from analytics.api.views import MSG_CONTENT_TYPE
from analytics.filters import MSG_EMPTY_LIST, MSG_UNKNOWN_KEY
from analytics.scopes import ingest_scope
from analytics.services.ingestion import MAX_FUTURE_SKEW, views_ingest
from ideeza.exceptions import MSG_UNAVAILABLE, RequestValidationError

MAX_EVENTS_PER_REQUEST = 1_000
INGEST_PERMISSION = "analytics.add_blogview"

MSG_BODY_NOT_EVENTS = 'The request body must be one event object, {"events": [...]}, or a list of events.'
MSG_EVENTS_NOT_LIST = "Must be a list of event objects."
MSG_TOO_MANY_EVENTS = f"At most {MAX_EVENTS_PER_REQUEST:,} events are accepted per request."
MSG_ENVELOPE_KEY = MSG_UNKNOWN_KEY.format(allowed="events")
MSG_EVENT_REJECTED = "The event was not stored; see 'fields' for what to fix."
MSG_NO_INGEST_PERMISSION = (
    f"Recording views needs the permission {INGEST_PERMISSION}; an operator can grant it with "
    "`manage.py create_ingest_user`."
)


class CanIngestViews(BasePermission):
    """An authenticated user holding ``analytics.add_blogview``, or an API key created with ``--ingest``, whatever
    IDEEZA_API_OPEN says (SPEC §7, §9)."""

    message = MSG_NO_INGEST_PERMISSION

    def has_permission(self, request: Request, view: APIView) -> bool:
        # DRF answers 401 (with WWW-Authenticate) when no credentials were given, 403 when they lack the permission.
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(INGEST_PERMISSION))


def parse_envelope(body: Any) -> tuple[list[Any], bool]:
    """The events of a request body and whether it was a single event; a malformed envelope is a 400."""
    if isinstance(body, list):
        events, path = body, ""
    elif isinstance(body, dict) and "events" in body:
        extra = sorted(str(key) for key in body if key != "events")
        if extra:
            raise RequestValidationError({key: [MSG_ENVELOPE_KEY] for key in extra})
        events, path = body["events"], "events"
        if not isinstance(events, list):
            raise RequestValidationError({path: [MSG_EVENTS_NOT_LIST]})
    elif isinstance(body, dict):
        return [body], True
    else:
        raise RequestValidationError({"": [MSG_BODY_NOT_EVENTS]}, message=MSG_BODY_NOT_EVENTS)
    if not events:
        raise RequestValidationError({path: [MSG_EMPTY_LIST]})
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise RequestValidationError({path: [MSG_TOO_MANY_EVENTS]}, message=MSG_TOO_MANY_EVENTS)
    return events, False


# --- OpenAPI --------------------------------------------------------------------------------------------------
class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the request's list, from 0.")
    errors = serializers.DictField(  # type: ignore[assignment]  # DRF pops declared fields off the class
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Every reason, keyed by the event's field name.",
    )


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored by this request.")
    duplicates = serializers.IntegerField(
        help_text="Valid events not stored because their event_id was stored before or repeats in this request."
    )
    rejected = RejectionSerializer(many=True, help_text="Invalid events, none of which was stored.")


EVENT_SCHEMA = openapi.Schema(
    title="ViewEvent",
    type=openapi.TYPE_OBJECT,
    required=["blog_id"],
    additional_properties=False,
    properties={
        "blog_id": openapi.Schema(type=openapi.TYPE_INTEGER, description="Id of an existing blog."),
        "country_code": openapi.Schema(
            type=openapi.TYPE_STRING, description="Code of a known country, any case.", example="US"
        ),
        "viewer_id": openapi.Schema(type=openapi.TYPE_INTEGER, description="Id of an existing user (the reader)."),
        "ip_address": openapi.Schema(type=openapi.TYPE_STRING, description="IPv4 or IPv6.", example="203.0.113.7"),
        "timestamp": openapi.Schema(
            type=openapi.TYPE_STRING,
            format=openapi.FORMAT_DATETIME,
            description=(
                "ISO 8601 date and time; without an offset it is in the reporting timezone. Default: now. At most "
                f"{MAX_FUTURE_SKEW.seconds // 60} minutes ahead; any past time is accepted (late events)."
            ),
        ),
        "event_id": openapi.Schema(
            type=openapi.TYPE_STRING,
            format=openapi.FORMAT_UUID,
            description="Client-chosen id; an event_id stored before is a duplicate and is not stored again.",
        ),
    },
    example={
        "blog_id": 42,
        "country_code": "US",
        "viewer_id": 7,
        "ip_address": "203.0.113.7",
        "timestamp": "2025-06-14T09:30:00Z",
        "event_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    },
)
BATCH_SCHEMA = openapi.Schema(
    title="ViewEvents",
    type=openapi.TYPE_OBJECT,
    required=["events"],
    additional_properties=False,
    properties={
        "events": openapi.Schema(
            type=openapi.TYPE_ARRAY, items=EVENT_SCHEMA, min_items=1, max_items=MAX_EVENTS_PER_REQUEST
        )
    },
    example={
        "events": [
            {"blog_id": 42, "country_code": "us", "event_id": "0f8fad5b-d9cb-469f-a165-70867728950e"},
            {"blog_id": 42, "country_code": "us", "event_id": "0f8fad5b-d9cb-469f-a165-70867728950e"},
            {"blog_id": 43, "timestamp": "2025-06-14T09:30:00+02:00"},
            {"blog_id": "43", "country_code": "XX"},
        ]
    },
)
_BATCH_EXAMPLE = {
    "accepted": 2,
    "duplicates": 1,
    "rejected": [
        {"index": 3, "errors": {"blog_id": ["Must be an integer."], "country_code": ["No country has this code."]}}
    ],
}
_ERROR_EXAMPLE = {
    "message": MSG_EVENT_REJECTED,
    "code": "invalid",
    "fields": {"timestamp": ["Must not be more than 5 minutes in the future."]},
}
INGEST_DESCRIPTION = f"""Record blog views. The body is **one event** object, **`{{"events": [...]}}`**, or a bare \
list of events: at most {MAX_EVENTS_PER_REQUEST:,} events and 1 MiB.

* Batch (`events` or a list): **200** with the counts of accepted and duplicate events and, for each rejected event, \
its index and reasons. Invalid events never block valid ones; the valid ones are stored in one transaction.
* Single event: **201** when stored, **200** when its `event_id` was stored before (`duplicates: 1`), **400** in the \
error shape, with `fields` keyed by the event's field names, when it is invalid.
* A malformed envelope (not JSON, not an object or list, empty, more than {MAX_EVENTS_PER_REQUEST:,} events, \
over 1 MiB) is a 400 and stores nothing.

Idempotent: an `event_id` seen before is never stored twice, also across retries and concurrent requests (the \
database's unique index decides). Needs a JWT of a user with `{INGEST_PERMISSION}` or an API key created with \
`--ingest` (401 without credentials, 403 without the permission) and is throttled per caller \
(`IDEEZA_INGEST_THROTTLE_RATE`). An author's key may record views of that author's blogs only: an event of any other \
blog is rejected like an invalid one (`blog_id`), in the batch outcome. Single-event example body:
`{{"blog_id": 42, "country_code": "US", "event_id": "0f8fad5b-d9cb-469f-a165-70867728950e"}}`."""


class IngestView(APIView):
    permission_classes = [CanIngestViews]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "analytics-ingest"

    @swagger_auto_schema(
        operation_id="views_ingest",
        operation_summary="Record blog views (one event or a batch), idempotently",
        operation_description=INGEST_DESCRIPTION,
        request_body=BATCH_SCHEMA,
        responses={
            200: openapi.Response(
                "Batch processed (or a single event that was a duplicate).",
                IngestResultSerializer,
                examples={"application/json": _BATCH_EXAMPLE},
            ),
            201: openapi.Response(
                "The single event was stored.",
                IngestResultSerializer,
                examples={"application/json": {"accepted": 1, "duplicates": 0, "rejected": []}},
            ),
            400: openapi.Response(
                "Malformed envelope, or the single event is invalid; `fields` names each offending path.",
                ErrorSerializer,
                examples={"application/json": _ERROR_EXAMPLE},
            ),
            401: openapi.Response("No valid JWT or API key (or an expired or revoked key).", ErrorSerializer),
            403: openapi.Response(f"The user lacks {INGEST_PERMISSION}, or the key --ingest.", ErrorSerializer),
            405: openapi.Response("Method not allowed.", ErrorSerializer),
            415: openapi.Response("The body is not sent as application/json.", ErrorSerializer),
            429: openapi.Response("Throttled; see Retry-After.", ErrorSerializer),
            503: openapi.Response(MSG_UNAVAILABLE, ErrorSerializer),
        },
    )
    def post(self, request: Request) -> Response:
        # Without a Content-Type DRF would read the body as empty instead of refusing it.
        if not request.content_type and declared_length(request) > 0:
            raise UnsupportedMediaType(request.content_type, detail=MSG_CONTENT_TYPE)
        events, single = parse_envelope(request.data)
        # SPEC §9: an author's API key writes that author's blogs only; users with the permission write any blog.
        scope = ingest_scope(request.auth)
        result = views_ingest(events=events, now=timezone.now(), author_username=scope.author)
        if single and result.rejected:
            raise RequestValidationError(result.rejected[0].errors, message=MSG_EVENT_REJECTED)
        created = single and result.accepted == 1
        body = IngestResultSerializer(result).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
