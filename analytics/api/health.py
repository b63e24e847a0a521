"""``GET /healthz``: is the database reachable, is the cache reachable (SPEC §7).

200 ``{"status", "database", "cache"}`` (and ``replicas``, each read replica's state and lag, when there are
any) while the database answers; otherwise a 503 in the one error shape of
SPEC §6, its ``fields`` naming each component's state.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from typing import Any

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpResponse
from drf_yasg.utils import swagger_auto_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import ErrorSerializer, HealthSerializer
from analytics.replicas import replica_aliases, replica_states
from ideeza.exceptions import service_unavailable

logger = logging.getLogger(__name__)

HEALTH_CACHE_KEY = "healthz:probe"
MSG_DATABASE_DOWN = "The database does not answer; the service cannot answer queries until it does."


def database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        logger.warning("healthz: database unreachable", exc_info=True)
        return False


def cache_reachable() -> bool:
    """A value written must read back; django-redis swallows outages, so a failed round trip is the signal."""
    token = uuid.uuid4().hex
    try:
        cache.set(HEALTH_CACHE_KEY, token, timeout=10)
        return cache.get(HEALTH_CACHE_KEY) == token
    except Exception:  # noqa: BLE001 - any cache failure means "unreachable", never a 500
        logger.warning("healthz: cache unreachable", exc_info=True)
        return False


class HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @swagger_auto_schema(
        operation_id="healthz",
        operation_summary="Database and cache reachability",
        operation_description=(
            "200 while the database answers (`status` is `degraded` when only the cache is down: answers still "
            "come, slower); 503 in the error shape when it does not, `fields` naming each component's state."
        ),
        security=[],
        responses={200: HealthSerializer, 503: ErrorSerializer},
    )
    def get(self, request: Request) -> HttpResponse:
        database = database_reachable()
        cache = "ok" if cache_reachable() else "unreachable"
        if not database:
            return service_unavailable(MSG_DATABASE_DOWN, {"database": ["unreachable"], "cache": [cache]})
        body: dict[str, Any] = {"status": "ok" if cache == "ok" else "degraded", "database": "ok", "cache": cache}
        if replica_aliases():
            replicas = replica_states(*_primary_position())
            body["replicas"] = [asdict(replica) for replica in replicas]
            if any(replica.state != "ok" for replica in replicas):
                # Answers still come, from the primary: slower, never wrong.
                body["status"] = "degraded"
        return Response(body)


def _primary_position() -> tuple[int, str | None]:
    """The primary's data version and WAL position, the marks a replica's lag is measured against."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT value FROM analytics_dataversion WHERE id = 1), pg_current_wal_lsn()::text")
        version, lsn = cursor.fetchone()
    return int(version or 0), lsn
