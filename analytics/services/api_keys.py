"""API keys (SPEC §9): create one with a fixed scope, revoke it, and accept it on a request.

djangorestframework-api-key generates the key and stores only its hash; the key itself is returned once, by
``api_key_create``. Every request looks its key up in the database (one indexed query on the key's prefix): no
process keeps a key in memory, so a revoke or an expiry takes effect on every worker with the next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from analytics.models import ScopedAPIKey
from analytics.periods import local_midnight, reporting_tz

# The last-use time is written at most this often per key: a busy key costs one UPDATE a minute, not one a request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_NAME_LENGTH = ScopedAPIKey._meta.get_field("name").max_length or 50

# --- error messages (tests import these) ----------------------------------------------------------------------
MSG_NAME_EMPTY = "The key needs a name (it is how revoke_api_key finds it)."
MSG_NAME_TOO_LONG = f"The name may have at most {MAX_NAME_LENGTH} characters."
MSG_NAME_TAKEN = "A live key is already named {name!r}: pick another name, or revoke it first (revoke_api_key {name})."
MSG_UNKNOWN_AUTHOR = "No user is named {username!r}: check the spelling (usernames are case-sensitive)."
MSG_BAD_EXPIRY = (
    "--expires must be an ISO 8601 date (2027-01-31: the key works through that day) or datetime "
    "(2027-01-31T18:00:00+01:00), not {text!r}."
)
MSG_EXPIRY_PAST = "--expires {text} is already past: give a later date."
MSG_NO_LIVE_KEY = "No live key is named {name!r}: it may be revoked already (the admin lists every key)."
MSG_KEY_INVALID = "The API key is not valid."
MSG_KEY_REVOKED = "The API key has been revoked."
MSG_KEY_EXPIRED = "The API key has expired."


class ApiKeyError(ValueError):
    """An operator mistake; the message says what to change."""


class ApiKeyRejected(Exception):
    """A request's key is unknown, revoked or expired; the message says which."""


@dataclass(frozen=True)
class CreatedKey:
    api_key: ScopedAPIKey
    secret: str  # the key to send as ``Authorization: Api-Key <secret>``; shown once, stored only hashed


def expiry_parse(text: str, *, now: datetime) -> datetime:
    """``--expires``: a date means the key works through that whole day (reporting timezone); a datetime without
    an offset is in the reporting timezone. The result is the first instant the key no longer works."""
    value = text.strip()
    try:
        if len(value) <= 10:
            expires = local_midnight(date.fromisoformat(value) + timedelta(days=1))
        else:
            parsed = datetime.fromisoformat(value)
            expires = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=reporting_tz())
    except ValueError:
        raise ApiKeyError(MSG_BAD_EXPIRY.format(text=text)) from None
    if expires <= now:
        raise ApiKeyError(MSG_EXPIRY_PAST.format(text=text))
    return expires


def api_key_create(
    *, name: str, author_username: str | None, can_ingest: bool, expires_at: datetime | None = None
) -> CreatedKey:
    """A new key seeing ``author_username``'s blogs (``None``: all), optionally allowed to record views."""
    name = name.strip()
    if not name:
        raise ApiKeyError(MSG_NAME_EMPTY)
    if len(name) > MAX_NAME_LENGTH:
        raise ApiKeyError(MSG_NAME_TOO_LONG)
    author = None
    if author_username is not None:
        user_model = get_user_model()
        try:
            author = user_model._default_manager.get(**{user_model.USERNAME_FIELD: author_username})
        except user_model.DoesNotExist:
            raise ApiKeyError(MSG_UNKNOWN_AUTHOR.format(username=author_username)) from None
    try:
        with transaction.atomic():
            api_key, secret = ScopedAPIKey.objects.create_key(
                name=name, author=author, can_ingest=can_ingest, expiry_date=expires_at
            )
    except IntegrityError:  # the partial unique index on live names decides, also when two operators race
        raise ApiKeyError(MSG_NAME_TAKEN.format(name=name)) from None
    return CreatedKey(api_key=api_key, secret=secret)  # type: ignore[arg-type]


def api_key_revoke(*, name: str) -> ScopedAPIKey:
    """Revoke the live key named ``name``; every request with it is a 401 from then on."""
    with transaction.atomic():
        api_key = ScopedAPIKey.objects.select_for_update().filter(name=name.strip(), revoked=False).first()
        if api_key is None:
            raise ApiKeyError(MSG_NO_LIVE_KEY.format(name=name))
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
    return api_key


def api_key_authenticate(*, secret: str, now: datetime | None = None) -> ScopedAPIKey:
    """The live key ``secret`` names, its author joined, its last-use time brought up to date; else
    ``ApiKeyRejected`` saying whether it is unknown, revoked or expired."""
    now = now or timezone.now()
    prefix, dot, _ = secret.partition(".")
    api_key = ScopedAPIKey.objects.select_related("author").filter(prefix=prefix).first() if dot else None
    if api_key is None or not api_key.is_valid(secret):
        raise ApiKeyRejected(MSG_KEY_INVALID)
    if api_key.revoked:
        raise ApiKeyRejected(MSG_KEY_REVOKED)
    if api_key.expiry_date is not None and api_key.expiry_date <= now:
        raise ApiKeyRejected(MSG_KEY_EXPIRED)
    if api_key.author is not None and not api_key.author.is_active:
        raise ApiKeyRejected(MSG_KEY_INVALID)
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ScopedAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
