"""``Authorization: Api-Key <key>`` (SPEC §9): DRF authentication for the keys of ``create_api_key``.

A key caller is not a user: ``request.user`` is a ``KeyCaller`` (authenticated, never staff, holding only the
ingest permission and only when the key was created with ``--ingest``), and ``request.auth`` is the key, from
which ``analytics.scopes.caller_scope`` takes the scope fixed at the key's creation.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from analytics.models import ScopedAPIKey
from analytics.services.accounts import INGEST_APP_LABEL, INGEST_CODENAME
from analytics.services.api_keys import ApiKeyRejected, api_key_authenticate

KEYWORD = "Api-Key"
INGEST_PERMISSION = f"{INGEST_APP_LABEL}.{INGEST_CODENAME}"
MSG_MALFORMED = f"Send the key as: Authorization: {KEYWORD} <key>."


class KeyCaller:
    """``request.user`` of a request authenticated by an API key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, api_key: ScopedAPIKey) -> None:
        self.api_key = api_key
        # Per-caller throttles and the request log identify a caller by ``pk``: the key's public prefix.
        self.pk = self.id = f"api-key:{api_key.prefix}"
        self.username = f"api-key:{api_key.name}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return perm == INGEST_PERMISSION and self.api_key.can_ingest

    def __str__(self) -> str:
        return self.username


class APIKeyAuthentication(BaseAuthentication):
    """Accepts ``Authorization: Api-Key <key>``; any other header is left to the other authentication classes."""

    def authenticate(self, request: Request) -> tuple[Any, ScopedAPIKey] | None:
        keyword, _, secret = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None
        secret = secret.strip()
        if not secret or " " in secret:
            raise AuthenticationFailed(MSG_MALFORMED)
        try:
            api_key = api_key_authenticate(secret=secret)
        except ApiKeyRejected as rejected:
            raise AuthenticationFailed(str(rejected)) from None
        return KeyCaller(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD
