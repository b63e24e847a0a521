"""``GET /healthz``: is the database reachable, is the cache reachable (SPEC §7)."""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db import DatabaseError, connection
from drf_yasg.utils import swagger_auto_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import HealthSerializer

logger = logging.getLogger(__name__)

HEALTH_CACHE_KEY = "healthz:probe"


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
        operation_description="200 while the database answers (the cache only speeds things up); 503 when it does not.",
        security=[],
        responses={200: HealthSerializer, 503: HealthSerializer},
    )
    def get(self, request: Request) -> Response:
        database = database_reachable()
        cache_ok = cache_reachable()
        status = "ok" if database and cache_ok else ("degraded" if database else "down")
        body = {
            "status": status,
            "database": "ok" if database else "unreachable",
            "cache": "ok" if cache_ok else "unreachable",
        }
        return Response(body, status=200 if database else 503)
