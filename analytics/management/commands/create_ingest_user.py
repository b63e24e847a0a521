"""``manage.py create_ingest_user``: a user that may record views, and how to use it (docs/ingestion.md)."""

from __future__ import annotations

import json
import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from analytics.services.accounts import AccountError, ingest_user_create

MSG_EMPTY_ENV = "The environment variable {name} is unset or empty; export the password in it first."
MSG_DONE = "{action} ingest user {username!r} with the permission analytics.add_blogview."
MSG_GENERATED = "Generated password (shown only this once; store it now): {password}"
MSG_PASSWORD_SET = "Password set as given."
MSG_PASSWORD_KEPT = "Password unchanged."
PASSWORD_PLACEHOLDER = "<password>"


class Command(BaseCommand):
    help = (
        "Create (or update) a user allowed to record blog views through POST /api/analytics/views/, and print the "
        "curl commands to get a token and send an event. A new user without a password gets a generated one, "
        "shown once."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        password = parser.add_mutually_exclusive_group()
        password.add_argument(
            "--password", help="Set this password (visible in the process list; prefer --password-from-env)."
        )
        password.add_argument("--password-from-env", metavar="VAR", help="Set the password held in this variable.")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the API is served, for the printed commands."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password: str | None = options["password"]
        if variable := options["password_from_env"]:
            password = os.environ.get(variable) or None
            if password is None:
                raise CommandError(MSG_EMPTY_ENV.format(name=variable))
        try:
            account = ingest_user_create(username=options["username"], password=password)
        except AccountError as error:
            raise CommandError(str(error)) from error

        action = "Created" if account.created else "Updated"
        self.stdout.write(self.style.SUCCESS(MSG_DONE.format(action=action, username=account.username)))
        if account.generated_password:
            self.stdout.write(MSG_GENERATED.format(password=account.generated_password))
        else:
            self.stdout.write(MSG_PASSWORD_SET if account.password_changed else MSG_PASSWORD_KEPT)

        base = options["base_url"].rstrip("/")
        credentials = json.dumps(
            {"username": account.username, "password": account.generated_password or PASSWORD_PLACEHOLDER}
        )
        event = json.dumps({"blog_id": 1, "country_code": "US", "event_id": "0f8fad5b-d9cb-469f-a165-70867728950e"})
        self.stdout.write(
            "\nGet an access token (then refresh it at /api/token/refresh/):\n"
            f"  TOKEN=$(curl -s -X POST {base}/api/token/ -H 'Content-Type: application/json' \\\n"
            f"    -d '{credentials}' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access\"])')\n"
            "\nRecord a view (see docs/ingestion.md for batches):\n"
            f'  curl -s -X POST {base}/api/analytics/views/ -H "Authorization: Bearer $TOKEN" \\\n'
            f"    -H 'Content-Type: application/json' -d '{event}'\n"
        )
