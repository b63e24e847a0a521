"""``manage.py create_api_key NAME (--author USERNAME | --all) [--expires DATE] [--ingest]`` (SPEC §9)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from analytics.services.api_keys import ApiKeyError, api_key_create, expiry_parse

MSG_CREATED = "Created API key {name!r}: sees {scope}{ingest}{expires}."
MSG_SECRET = "Key (shown only this once; only its hash is stored): {secret}"


class Command(BaseCommand):
    help = (
        "Create an API key with a fixed scope: one author's blogs (--author) or every blog (--all). The key is "
        "printed once; send it as `Authorization: Api-Key <key>`. --ingest also lets it record views (an author's "
        "key: of that author's blogs only)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="Unique among live keys; revoke_api_key takes it.")
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--author", metavar="USERNAME", help="The key sees this author's blogs only.")
        scope.add_argument("--all", action="store_true", help="The key sees every blog.")
        parser.add_argument(
            "--expires",
            metavar="DATE",
            help="Last day the key works (ISO date, reporting timezone) or the instant it stops (ISO datetime).",
        )
        parser.add_argument("--ingest", action="store_true", help="The key may also record views (SPEC §7).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            expires = expiry_parse(options["expires"], now=timezone.now()) if options["expires"] else None
            created = api_key_create(
                name=options["name"],
                author_username=options["author"],
                can_ingest=options["ingest"],
                expires_at=expires,
            )
        except ApiKeyError as error:
            raise CommandError(str(error)) from error
        key = created.api_key
        self.stdout.write(
            self.style.SUCCESS(
                MSG_CREATED.format(
                    name=key.name,
                    scope=f"the blogs of {options['author']!r}" if options["author"] else "every blog",
                    ingest=", may record views" if key.can_ingest else "",
                    expires=f", expires {key.expiry_date.isoformat()}" if key.expiry_date else "",
                )
            )
        )
        self.stdout.write(MSG_SECRET.format(secret=created.secret))
