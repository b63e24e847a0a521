"""Accounts the service itself needs: the ingest user, allowed to record views (SPEC §7, docs/ingestion.md)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Field

INGEST_APP_LABEL, INGEST_CODENAME = "analytics", "add_blogview"
GENERATED_PASSWORD_BYTES = 18  # 24 URL-safe characters

MSG_BAD_USERNAME = "{username!r} is not a valid username: {reasons}"
MSG_WEAK_PASSWORD = "The password was refused: {reasons}"
MSG_INACTIVE = "User {username!r} exists but is inactive; reactivate it (admin or shell) before granting ingestion."
MSG_NO_PERMISSION_ROW = "The permission analytics.add_blogview does not exist yet; run `manage.py migrate` first."


class AccountError(ValueError):
    """An operator mistake; the message says what to change."""


@dataclass(frozen=True)
class IngestUser:
    username: str
    created: bool
    password_changed: bool
    generated_password: str | None  # shown to the operator once; None when they chose it or it was kept


def ingest_user_create(*, username: str, password: str | None = None) -> IngestUser:
    """Create ``username`` (or update it) so it may record views; a new user without a password gets one generated."""
    user_model = get_user_model()
    username_field = cast(Field, user_model._meta.get_field(user_model.USERNAME_FIELD))
    try:
        username_field.clean(username, None)
    except ValidationError as error:
        raise AccountError(MSG_BAD_USERNAME.format(username=username, reasons=" ".join(error.messages))) from None
    try:
        permission = Permission.objects.get(content_type__app_label=INGEST_APP_LABEL, codename=INGEST_CODENAME)
    except Permission.DoesNotExist:
        raise AccountError(MSG_NO_PERMISSION_ROW) from None

    with transaction.atomic():
        lookup: dict[str, Any] = {user_model.USERNAME_FIELD: username}
        user, created = user_model._default_manager.get_or_create(**lookup)
        if not user.is_active:
            raise AccountError(MSG_INACTIVE.format(username=username))
        generated = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES) if created and password is None else None
        new_password = password if password is not None else generated
        if new_password is not None:
            try:
                validate_password(new_password, user)
            except ValidationError as error:  # rolls the new user back too
                raise AccountError(MSG_WEAK_PASSWORD.format(reasons=" ".join(error.messages))) from None
            user.set_password(new_password)
            user.save(update_fields=["password"])
        user.user_permissions.add(permission)
    return IngestUser(
        username=username, created=created, password_changed=new_password is not None, generated_password=generated
    )
