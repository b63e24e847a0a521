"""The JWT endpoints of SPEC §7 (simplejwt's views), described in the OpenAPI schema as they really answer.

Sign-in is guarded against password guessing (SPEC §9, ``ideeza.signin``). Lifetimes: an access token lives
``JWT_ACCESS_MINUTES`` (default 30), a refresh token ``JWT_REFRESH_DAYS`` (default 1); a refresh token only ever
buys new access tokens, and the user is read from the database on every request, so a deactivated user or one who
lost ``view_all_analytics`` is narrowed (or refused) at their next request, not when their token runs out.
"""

from __future__ import annotations

from typing import Any

from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from analytics.api.serializers import ErrorSerializer
from ideeza.signin import SignInGuard


class TokenPairSerializer(serializers.Serializer):
    refresh = serializers.CharField(help_text="Refresh token: trade it at /api/token/refresh/ for a new access token.")
    access = serializers.CharField(help_text="Access token: send it as `Authorization: Bearer <access>`.")


class TokenAccessSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="A new access token.")
    refresh = serializers.CharField(required=False, help_text="A new refresh token, when refresh tokens rotate.")


_400 = openapi.Response("A required key is missing or not a string; `fields` names it.", ErrorSerializer)


class TokenObtainView(TokenObtainPairView):
    @swagger_auto_schema(
        operation_id="token_obtain",
        operation_summary="A JWT access and refresh token for a username and password",
        security=[],
        responses={
            200: TokenPairSerializer,
            400: _400,
            401: openapi.Response("No active account with these credentials.", ErrorSerializer),
            429: openapi.Response(
                "Too many failed sign-ins for this username or from this address (IDEEZA_LOGIN_*): wait "
                "Retry-After seconds; until then even the right password is refused.",
                ErrorSerializer,
            ),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        username = request.data.get("username") if isinstance(request.data, dict) else None
        guard = SignInGuard(request, username if isinstance(username, str) else None)
        guard.check()
        try:
            response = super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            guard.failed()
            raise
        guard.succeeded()
        return response


class TokenRefreshAccessView(TokenRefreshView):
    @swagger_auto_schema(
        operation_id="token_refresh",
        operation_summary="A new access token for a refresh token",
        security=[],
        responses={
            200: TokenAccessSerializer,
            400: _400,
            401: openapi.Response("The refresh token is invalid or expired.", ErrorSerializer),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)
