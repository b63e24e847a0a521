"""What a scope costs (SPEC §9): the same bodies asked unscoped and scoped, in process, response cache off.

    DATABASE_URL=... IDEEZA_CACHE_TIMEOUT=0 python -m bench.scopes [--repeat 15]

Runs on whatever database ``DATABASE_URL`` names, seeded and folded (``seed_data`` + ``precalculate_stats``).
Each body goes through Django's test client (the whole view: auth, parsing, the fast path, rendering), first
anonymous (all), then with a staff JWT (all: the cost of authenticating alone), then with the JWT of the most viewed
author and with that author's API key (scoped). Prints the median milliseconds of ``--repeat`` requests each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ideeza.settings")
os.environ.setdefault("DEBUG", "true")


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db.models import Count
    from django.test import Client
    from rest_framework_simplejwt.tokens import RefreshToken

    from analytics.models import ScopedAPIKey
    from analytics.services.api_keys import api_key_create

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    repeat = parser.parse_args().repeat
    assert settings.CACHE_TIMEOUT == 0, "set IDEEZA_CACHE_TIMEOUT=0: a cached answer would measure the cache"

    author = User.objects.annotate(views=Count("blogs__views")).order_by("-views").first()
    assert author is not None, "seed the database first (seed_data, precalculate_stats)"
    staff, _ = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    ScopedAPIKey.objects.filter(name="bench-scoped", revoked=False).update(revoked=True)
    secret = api_key_create(name="bench-scoped", author_username=author.username, can_ingest=False).secret

    def bearer(user: User) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(user).access_token}"}

    callers: dict[str, dict[str, str]] = {
        "anonymous (all)": {},
        "staff JWT (all)": bearer(staff),
        f"author JWT ({author.username})": bearer(author),
        "author API key": {"HTTP_AUTHORIZATION": f"Api-Key {secret}"},
    }
    bodies: list[tuple[str, str, dict[str, Any]]] = [
        (path, label, body)
        for path in ("blog-views/country", "blog-views/user", "top/blog", "top/country", "performance", "totals")
        for label, body in (
            ("range=year", {"range": "year"}),
            ("range=month", {"range": "month"}),
            ("range=year, compare_to", {"range": "year", "compare_to": "previous_period"}),
        )
    ]
    client = Client(SERVER_NAME="localhost")
    print(f"median ms of {repeat} requests, response cache off, {settings.DATABASES['default']['ENGINE']}")
    print("| endpoint | body | " + " | ".join(callers) + " |")
    print("|---|---|" + "---:|" * len(callers))
    totals = dict.fromkeys(callers, 0.0)
    for path, label, body in bodies:
        cells = []
        for name, headers in callers.items():
            samples = []
            for _ in range(repeat + 2):
                started = time.perf_counter()
                response = client.post(f"/api/analytics/{path}/", body, content_type="application/json", **headers)
                samples.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.content
            median = statistics.median(samples[2:])  # the first two warm the catalogue cache
            totals[name] += median
            cells.append(f"{median:.1f}")
        print(f"| {path} | {label} | " + " | ".join(cells) + " |")
    print("| **sum** | | " + " | ".join(f"**{value:.0f}**" for value in totals.values()) + " |")


if __name__ == "__main__":
    main()
