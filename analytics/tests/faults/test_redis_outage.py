"""Fault: Redis stops while the service runs (SPEC §7 "a cache outage slows requests down, never fails them";
"one run at a time ... Redis lock, else PostgreSQL advisory lock, else a local file lock").

Each test starts a ``redis-server`` of its own on a free port (never the shared one) and points the service at it
with the production cache options (read from ``ideeza/settings.py``), then kills it, freezes it, or starts it
again on the same port, while the same Django process keeps serving: no restart anywhere.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from analytics import sketches
from analytics.filters import Endpoint, parse_query
from analytics.selectors import reference, summaries
from analytics.services.folding import summaries_fold
from analytics.services.locking import ADVISORY_KEY, MSG_LOCK_BUSY, fold_lock
from analytics.tests.conftest import NOW
from analytics.tests.faults.support import (
    QUERIES,
    REDIS_SERVER,
    RedisServer,
    child_env,
    is_postgresql,
    manage,
    postgres_url,
    production_caches,
    redis_server,
    reference_answer,
)

pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None, reason="needs the redis-server binary to start a Redis of its own that it can kill"
)

# A dead Redis must cost at most the client's connect/read timeouts (0.5 s each in settings.py) per cache
# operation, and a request makes two (get, set): anything near the 30 s worker timeout would be a hang.
DEAD_CACHE_BUDGET_SECONDS = 2.5


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def redis_cached(redis: RedisServer, settings: Any) -> RedisServer:
    """The service's cache and lock pointed at the test's own Redis, with the production cache options."""
    settings.REDIS_URL = redis.url
    settings.CACHES = production_caches(redis.url)
    settings.DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    return redis


def ask(client: APIClient, path: str, body: dict[str, Any]) -> tuple[Any, str, float]:
    started = time.perf_counter()
    response = client.post(path, body, format="json")
    seconds = time.perf_counter() - started
    assert response.status_code == 200, response.content
    return response.json(), response["X-Cache"], seconds


def test_queries_stay_correct_while_redis_is_down_and_use_it_again_once_it_is_back(dataset, redis_cached):
    summaries_fold(full=True)
    client = APIClient()
    expected = {path: reference_answer(path, body) for path, body in QUERIES}
    assert all(expected.values()), "every query should have rows, or equality proves little"

    for path, body in QUERIES:
        assert ask(client, path, body)[:2] == (expected[path], "MISS")
        assert ask(client, path, body)[:2] == (expected[path], "HIT")

    redis_cached.kill()
    for path, body in QUERIES:
        for _ in range(2):  # a dead cache never answers, so every request computes (MISS) and stays correct
            answer, x_cache, seconds = ask(client, path, body)
            assert (answer, x_cache) == (expected[path], "MISS")
            assert seconds < DEAD_CACHE_BUDGET_SECONDS, f"{path} took {seconds:.2f} s with Redis down"
    health = client.get("/healthz")
    assert (health.status_code, health.json()) == (
        200,
        {"status": "degraded", "database": "ok", "cache": "unreachable"},
    )

    redis_cached.start()  # same port, empty (no persistence); the Django process was never restarted
    for path, body in QUERIES:
        assert ask(client, path, body)[:2] == (expected[path], "MISS")
        assert ask(client, path, body)[:2] == (expected[path], "HIT")
    assert client.get("/healthz").json()["cache"] == "ok"

    redis_cached.freeze()  # a hung Redis: TCP still accepted, nothing answered — only the socket timeouts help
    try:
        for path, body in QUERIES[:2]:
            answer, _, seconds = ask(client, path, body)
            assert answer == expected[path]
            assert seconds < DEAD_CACHE_BUDGET_SECONDS, f"{path} took {seconds:.2f} s with Redis frozen"
    finally:
        redis_cached.thaw()
    path, body = QUERIES[0]
    assert ask(client, path, body)[:2] == (expected[path], "HIT")


def _hold_lock_elsewhere(tmp_path: Path) -> tuple[Any, str, str]:
    """Take, in another session, the lock a run falls back to without Redis: (holder, DATABASE_URL, kind)."""
    if is_postgresql():
        session = psycopg2.connect(postgres_url())
        session.autocommit = True
        with session.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_KEY])
        return session, postgres_url(), "PostgreSQL advisory"
    descriptor = os.open(tmp_path / "fold.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return descriptor, f"sqlite:///{tmp_path / 'unused.sqlite3'}", f"file ({tmp_path / 'fold.lock'})"


def _release(holder: Any) -> None:
    if isinstance(holder, int):
        os.close(holder)
    else:  # unlock explicitly: after close() the server drops the session's locks only once its backend exits
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
            assert cursor.fetchone()[0]
        holder.close()


def test_precalculate_stats_with_redis_down_falls_back_to_the_database_lock(
    db, redis: RedisServer, settings, tmp_path, caplog
):
    redis.kill()
    settings.REDIS_URL = redis.url  # set, but nothing listens there any more
    settings.IDEEZA_LOCK_FILE = str(tmp_path / "fold.lock")
    fallback = "postgresql" if is_postgresql() else "file"

    with caplog.at_level(logging.WARNING, logger="analytics.services.locking"), fold_lock() as held:
        assert held == [fallback]
    assert "Redis is unreachable" in caplog.text

    holder, database_url, kind = _hold_lock_elsewhere(tmp_path)
    try:
        started = time.monotonic()
        env = child_env(DATABASE_URL=database_url, REDIS_URL=redis.url, IDEEZA_LOCK_FILE=str(tmp_path / "fold.lock"))
        run = manage("precalculate_stats", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = run.communicate(timeout=120)
        assert run.returncode == 75, out + err
        assert MSG_LOCK_BUSY.format(kind=kind) in err
        assert time.monotonic() - started < 30
    finally:
        _release(holder)

    output = io.StringIO()
    call_command("precalculate_stats", stdout=output)
    assert f"lock: {fallback}." in output.getvalue()


@pytest.mark.skipif(not is_postgresql(), reason="the PostgreSQL advisory lock is what guards a run once Redis is lost")
def test_redis_dying_mid_fold_leaves_the_run_guarded_by_the_advisory_lock(db, redis_cached, settings, caplog):
    settings.IDEEZA_LOCK_TTL_SECONDS = 3  # heartbeat every second
    watcher = psycopg2.connect(postgres_url())
    watcher.autocommit = True

    def advisory_lock_free() -> bool:
        with watcher.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
            taken = bool(cursor.fetchone()[0])
            if taken:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
            return taken

    try:
        with caplog.at_level(logging.WARNING, logger="analytics.services.locking"):
            with fold_lock() as held:
                assert held == ["redis", "postgresql"]
                redis_cached.kill()
                time.sleep(1.5)  # at least one heartbeat fails against the dead Redis; the run goes on
                assert not advisory_lock_free()
                # Redis comes back empty (a restart without persistence, or a failover): the Redis lock is gone,
                # so a second run gets past it, and the advisory lock must still turn it away.
                redis_cached.start()
                env = child_env(DATABASE_URL=postgres_url(), REDIS_URL=redis_cached.url, IDEEZA_LOCK_TTL_SECONDS="3")
                second = manage("precalculate_stats", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                out, err = second.communicate(timeout=120)
                assert second.returncode == 75, out + err
                assert MSG_LOCK_BUSY.format(kind="PostgreSQL advisory") in err
            # Leaving the block released what the first run still held, without raising.
        assert "could not renew the precalculate_stats Redis lock" in caplog.text
        assert advisory_lock_free()
        with fold_lock() as held:  # and the next run takes both locks again
            assert held == ["redis", "postgresql"]
    finally:
        watcher.close()


def _answers(name: str, body: dict[str, Any]) -> tuple[Any, Any]:
    query = parse_query(body, endpoint=Endpoint.TOP, now=NOW)
    return getattr(summaries, name)(query), getattr(reference, name)(query)


def test_hll_mode_with_redis_down_answers_exactly(dataset, redis_cached, settings, caplog):
    settings.IDEEZA_USE_HLL = True
    summaries_fold(full=True)
    sketch_client = sketches._client(redis_cached.url)
    assert sketch_client.keys("ideeza:hll:*"), "the fold should have written sketches to the test's Redis"
    bodies = [{"range": "week"}, {"range": "month"}, {"start_date": "2025-05-01", "end_date": "2025-06-15"}]

    redis_cached.kill()
    with caplog.at_level(logging.WARNING, logger="analytics.sketches"):
        for name in ("blog_views_by_country", "top_countries"):
            for body in bodies:
                started = time.perf_counter()
                fast, exact = _answers(name, body)
                assert fast == exact, (name, body)
                assert time.perf_counter() - started < DEAD_CACHE_BUDGET_SECONDS
        assert "could not read HyperLogLog sketches" in caplog.text  # the sketch path was tried, then fell back

        summaries_fold(full=True)  # a fold with Redis down still folds; only the sketches are skipped
        assert "could not write HyperLogLog sketches" in caplog.text
    for body in bodies:
        fast, exact = _answers("blog_views_by_country", body)
        assert fast == exact
