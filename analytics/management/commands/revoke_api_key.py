"""``manage.py revoke_api_key NAME`` (SPEC §9): the key is a 401 from its next request on, on every worker."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from analytics.services.api_keys import ApiKeyError, api_key_revoke

MSG_REVOKED = "Revoked API key {name!r}: every request with it is refused from now on."


class Command(BaseCommand):
    help = "Revoke the live API key with this name; requests with it are answered 401 at once."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            key = api_key_revoke(name=options["name"])
        except ApiKeyError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(MSG_REVOKED.format(name=key.name)))
