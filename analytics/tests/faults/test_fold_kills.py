"""Fault: ``precalculate_stats`` killed with SIGKILL at random points, again and again (SPEC §7 "safe to kill at
any moment"), with writes between the runs: after each kill a normal run, and then every endpoint's answers equal
the reference scan (SPEC §4).

The kill points are drawn from a seeded generator (``IDEEZA_FAULT_SEED``, default below; the seed and every kill
point are in the failure message): some at a random fraction of the fold's blocks (plus a few milliseconds), some
at a random time after the process starts, so start-up, planning, the commit and the data-version bump are all
candidates. The command runs in child processes against a database of its own, because a killed process must
really die mid-transaction.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.tests.commands.test_precalculate_kill import COMPARE
from analytics.tests.scratch import scratch_database_url

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SEED = 20250615
ROUNDS = (  # (how the killed run is started, how the kill point is chosen)
    (("precalculate_stats", "--full"), "progress"),
    (("precalculate_stats",), "time"),
    (("precalculate_stats", "--full"), "time"),
    (("precalculate_stats", "--days", "120", "--force"), "progress"),
)

# Between rounds: late views on old (already folded) days, views today, deletions, moved views and a renamed
# blog, each through the ORM like any other write, so the next fold has changed days to pick up.
MUTATE = """
import os, random
from datetime import timedelta
from django.utils import timezone
from analytics.models import Blog, BlogView, Country
rng = random.Random(int(os.environ["FAULT_ROUND_SEED"]))
now = timezone.now()
blogs = list(Blog.objects.values_list("id", flat=True))
countries = list(Country.objects.values_list("id", flat=True)) + [None]
BlogView.objects.bulk_create([
    BlogView(blog_id=rng.choice(blogs), country_id=rng.choice(countries),
             timestamp=now - timedelta(days=rng.choice([0, 0, 1, 3, 30, 150, 199]), minutes=rng.randrange(1, 600)))
    for _ in range(400)
])
ids = list(BlogView.objects.values_list("id", flat=True))
doomed = rng.sample(ids, 150)
BlogView.objects.filter(id__in=doomed[:100]).delete()
BlogView.objects.filter(id__in=doomed[100:]).update(country_id=rng.choice(countries[:-1]))
Blog.objects.filter(id=rng.choice(blogs)).update(title=f"Renamed {rng.randrange(1000)}")
print("MUTATED", BlogView.objects.count())
"""


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with scratch_database_url(f"ideeza_faults_kills_{os.getpid()}", tmp_path) as url:
        yield url


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "true", "IDEEZA_LOCK_TTL_SECONDS": "3", **extra}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def _run(url: str, *args: str, **extra: str) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=_env(url, **extra), capture_output=True, text=True
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def _normal_run(url: str) -> tuple[str, float]:
    """``precalculate_stats`` to the end; a Redis lock left by a killed run expires within its 3 s TTL."""
    deadline = time.monotonic() + 30
    while True:
        code, output, seconds = _run(url, "precalculate_stats")
        if code != 75 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert code == 0, output
    return output, seconds


def _kill_at_progress(url: str, argv: tuple[str, ...], fraction: float, jitter: float) -> str:
    process = subprocess.Popen(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=_env(url),
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    where = "finished before the kill point"
    for line in process.stderr:  # one line per block: "blocks  n/total [...]"
        if line.startswith("blocks"):
            done, total = (int(part.replace(",", "")) for part in line.split()[1].split("/"))
            if done >= fraction * total:
                time.sleep(jitter)
                process.send_signal(signal.SIGKILL)
                where = f"block {done}/{total} + {jitter * 1000:.0f} ms"
                break
    process.wait(timeout=120)
    return where if process.returncode == -signal.SIGKILL else f"{where} (exit {process.returncode})"


def _kill_after(url: str, argv: tuple[str, ...], delay: float, log: Path) -> str:
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "manage.py", *argv], cwd=ROOT, env=_env(url), stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
    if process.returncode == -signal.SIGKILL:
        return f"{delay:.2f} s after start"
    assert process.returncode in (0, 75), log.read_text()
    return f"finished before {delay:.2f} s (exit {process.returncode})"


@pytest.mark.slow
def test_repeated_sigkills_at_random_points_then_normal_runs_equal_the_reference(database_url, tmp_path):
    seed = int(os.environ.get("IDEEZA_FAULT_SEED") or DEFAULT_SEED)
    rng = random.Random(seed)
    assert _run(database_url, "migrate", "--noinput")[0] == 0
    seed_args = ("--views", "25000", "--blogs", "300", "--authors", "30", "--countries", "12", "--days", "200")
    assert _run(database_url, "seed_data", *seed_args)[0] == 0

    story: list[str] = [f"IDEEZA_FAULT_SEED={seed}"]
    fold_seconds = 3.0  # until the first normal run has been timed
    for index, (argv, mode) in enumerate(ROUNDS):
        if index:  # the last normal run's answers, then writes so that the next folds have changed days
            code, output, _ = _run(
                database_url, "shell", "-c", COMPARE + MUTATE, FAULT_ROUND_SEED=str(rng.getrandbits(30))
            )
            assert code == 0 and "EQUAL 30" in output and "MUTATED" in output, "\n".join([*story, output])
        if mode == "progress":
            where = _kill_at_progress(database_url, argv, rng.uniform(0.05, 0.95), rng.uniform(0, 0.03))
        else:
            where = _kill_after(database_url, argv, rng.uniform(0.2, 1.0) * fold_seconds, tmp_path / f"kill{index}.log")
        story.append(f"round {index}: {' '.join(argv[1:]) or 'incremental'} killed at {where}")
        _, fold_seconds = _normal_run(database_url)

    code, output, _ = _run(database_url, "shell", "-c", COMPARE)
    assert code == 0 and "EQUAL 30" in output, "\n".join([*story, output])
    killed = [line for line in story[1:] if "finished" not in line]
    assert len(killed) >= 3, "too few runs were killed mid-way:\n" + "\n".join(story)
