"""SPEC §7 "safe to kill at any moment": a fold killed with SIGKILL half-way leaves the old state whole, and the
next normal run gives the same answers as the reference scan (so as an uninterrupted run would).

Runs the real command in child processes against a database of its own (a temporary SQLite file, or a fresh
PostgreSQL database on the PostgreSQL leg), because a killed process must really die mid-transaction.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.tests.scratch import scratch_database_url

ROOT = Path(__file__).resolve().parents[3]
COMPARE = """
from django.utils import timezone
from analytics.filters import Endpoint, parse_query
from analytics.models import FoldState
from analytics.selectors import reference, summaries
now = timezone.now()
assert FoldState.objects.exists(), "no fold state after the normal run"
mixed = {"or": [{"eq": {"field": "country", "value": "DE"}}, {"contains": {"field": "blog_title", "value": "a"}}]}
bodies = [{}, {"range": "month"}, {"country_codes": ["us", "gb"]}, {"exclude_country_codes": ["US"]},
          {"filters": mixed}]
checked = 0
for body in bodies:
    for endpoint, names in ((Endpoint.TOP, ["top_blogs", "top_authors", "top_countries", "blog_views_by_country",
                                             "blog_views_by_author"]), (Endpoint.PERFORMANCE, ["performance"])):
        query = parse_query(body, endpoint=endpoint, now=now)
        for name in names:
            if name == "performance":
                fast = summaries.performance(query, now=now, x_metric="viewed")
                slow = reference.performance(query, now=now, x_metric="viewed")
            else:
                fast, slow = getattr(summaries, name)(query), getattr(reference, name)(query)
            assert fast == slow, (name, body)
            checked += 1
print("EQUAL", checked)
"""


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with scratch_database_url(f"ideeza_kill_{os.getpid()}", tmp_path) as url:
        yield url


def manage(url: str, *args: str, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "true", "IDEEZA_LOCK_TTL_SECONDS": "3"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        text=True,
        **popen,  # type: ignore[call-overload]
    )


def finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, (out or "") + (err or "")


@pytest.mark.slow
def test_sigkill_mid_fold_then_a_normal_run_equals_the_reference(database_url: str) -> None:
    assert finish(manage(database_url, "migrate", "--noinput", stdout=subprocess.PIPE, stderr=subprocess.PIPE))[0] == 0
    seed = ("seed_data", "--views", "40000", "--blogs", "300", "--authors", "30", "--countries", "12", "--days", "200")
    assert finish(manage(database_url, *seed, stdout=subprocess.PIPE, stderr=subprocess.PIPE))[0] == 0

    fold = manage(database_url, "precalculate_stats", "--full", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert fold.stderr is not None
    killed_at = None
    for line in fold.stderr:  # one progress line per block: "blocks  n/total [...]"
        if line.startswith("blocks"):
            done, total = (int(part.replace(",", "")) for part in line.split()[1].split("/"))
            if done * 3 >= total:
                os.kill(fold.pid, signal.SIGKILL)
                killed_at = (done, total)
                break
    fold.wait(timeout=60)
    assert killed_at is not None and killed_at[0] < killed_at[1], "the fold ended before it could be killed"
    assert fold.returncode == -signal.SIGKILL

    # Nothing of the killed run is visible: no fold state, so the next run starts from scratch.
    probe = (
        "from analytics.models import FoldState, DailyAnalyticsSummary as D; "
        "print(FoldState.objects.count(), D.objects.count())"
    )
    code, output = finish(manage(database_url, "shell", "-c", probe, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    assert (code, output.split()[-2:]) == (0, ["0", "0"]), output

    deadline = time.monotonic() + 30
    while True:  # a Redis lock left by the killed run expires within IDEEZA_LOCK_TTL_SECONDS
        code, output = finish(
            manage(database_url, "precalculate_stats", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
        if code != 75 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert code == 0, output

    code, output = finish(manage(database_url, "shell", "-c", COMPARE, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    assert code == 0, output
    assert "EQUAL 30" in output
