"""SPEC §10 on real distributed parts: a PostgreSQL primary with a streaming replica, Redis with Sentinel.

``scripts/cluster`` starts them on loopback ports of their own (the shared servers are never touched), and the
service runs as deployed: gunicorn, ``DATABASE_REPLICA_URLS``, ``REDIS_SENTINELS``. An oracle server beside it
answers from the primary alone with the reference scan, uncached: SPEC §4's "a scan at request time".

* The fence: with the replica held back by ``recovery_min_apply_delay``, a write on the primary followed at once by
  a query answers exactly as the oracle (from the primary: the replica has not applied it). The same check with the
  fence switched off (``IDEEZA_REPLICA_FENCE=false``) must see the stale replica; that proves the check can fail.
* A replica stopped mid-run, and a real recovery conflict: requests keep answering, exactly, with no 5xx.
* Redis: the master killed, Sentinel promotes its replica; requests keep answering, the cache and the fold lock
  follow the new master.

The PostgreSQL leg of CI runs these (they need PostgreSQL's server binaries); the SQLite leg skips them.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from analytics.tests.faults.support import Gunicorn, child_env, gunicorn, is_postgresql, manage
from bench.processes import cluster_script, postgres_execute

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not is_postgresql(), reason="The cluster is PostgreSQL's streaming replication: the PostgreSQL leg runs it"
    ),
]

API = "/api/analytics"
# Ports of their own, so a cluster a developer started by hand on the defaults is left alone.
PG_PORT, REDIS_PORT = 15532, 16479
PRIMARY = f"postgres://postgres@127.0.0.1:{PG_PORT}/ideeza"
REPLICA = f"postgres://postgres@127.0.0.1:{PG_PORT + 1}/ideeza"
BODIES: list[tuple[str, dict[str, Any]]] = [
    (f"{API}/totals/", {"range": "year"}),
    (f"{API}/blog-views/country/", {"range": "month"}),
    (f"{API}/top/blog/", {"range": "week", "limit": 5}),
    (f"{API}/performance/", {"range": "month", "compare": "day"}),
    (f"{API}/top/user/", {"range": "day"}),
]


@dataclass
class Cluster:
    directory: Path

    def run(self, *args: str, timeout: float = 120) -> str:
        done = cluster_script(*args, directory=self.directory, pg_port=PG_PORT, redis_port=REDIS_PORT, timeout=timeout)
        assert done.returncode == 0, f"scripts/cluster {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def sql(self, *statements: str, url: str = PRIMARY) -> list[tuple[Any, ...]]:
        return postgres_execute(url, *statements)

    def caught_up(self) -> bool:
        """Whether the replica has replayed everything the primary has written."""
        (position,) = self.sql("SELECT pg_current_wal_lsn()::text")[0]
        return bool(self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn", url=REPLICA)[0][0])

    def wait_caught_up(self, timeout: float = 30) -> None:
        give_up = time.monotonic() + timeout
        while not self.caught_up():
            assert time.monotonic() < give_up, "the replica did not catch up"
            time.sleep(0.1)


def service_env(**extra: str) -> dict[str, str]:
    return child_env(
        DATABASE_URL=PRIMARY,
        DATABASE_REPLICA_URLS=REPLICA,
        REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/0",
        REDIS_SENTINELS=f"127.0.0.1:{REDIS_PORT + 2}",
        REDIS_SENTINEL_MASTER="ideeza",
        IDEEZA_REPLICA_RETRY_SECONDS="1",
        IDEEZA_REPLICA_CONNECT_TIMEOUT="1",
        **extra,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    found = Cluster(Path(f"/tmp/ideeza-cluster-tests-{os.getpid()}"))
    try:
        found.run("up", timeout=180)
        env = service_env()
        for command in (
            ("migrate", "-v0"),
            ("seed_data", "--views", "20000", "--blogs", "60", "--authors", "8", "--days", "40"),
            ("precalculate_stats",),
        ):
            process = manage(*command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            output, _ = process.communicate(timeout=300)
            assert process.returncode == 0, output
        found.wait_caught_up()
        yield found
    finally:
        found.run("down")


@pytest.fixture(scope="module")
def oracle(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """The reference scan on the primary, uncached: what every answer must equal."""
    env = child_env(DATABASE_URL=PRIMARY, IDEEZA_QUERY_ENGINE="reference", IDEEZA_CACHE_TIMEOUT="0")
    with gunicorn(env=env, log=tmp_path_factory.mktemp("oracle") / "gunicorn.log", workers=1) as server:
        yield server


def ask(server: Gunicorn, path: str, body: dict[str, Any]) -> tuple[int, Any, str | None]:
    reply = server.post(path, body)
    return reply.status, reply.json(), reply.headers.get("X-Read-From")


def write_views(cluster: Cluster, count: int) -> None:
    """``count`` views of the most viewed blog, now, committed on the primary (the triggers mark their hour)."""
    cluster.sql(
        "INSERT INTO analytics_blogview (blog_id, country_id, timestamp, event_id) "
        "SELECT blog_id, country_id, now(), gen_random_uuid() FROM (SELECT blog_id, country_id FROM analytics_blogview "
        f"GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1) AS top CROSS JOIN generate_series(1, {count})"
    )


def stale_answers(cluster: Cluster, service: Gunicorn, oracle: Gunicorn) -> tuple[list[str], set[str | None]]:
    """Write on the primary, then ask at once: the bodies whose answer differs from the oracle's, and where the
    service read them."""
    differing, sources = [], set()
    for path, body in BODIES:
        write_views(cluster, 7)
        status, answer, source = ask(service, path, body)
        assert status == 200, answer
        sources.add(source)
        if answer != ask(oracle, path, body)[1]:
            differing.append(path)
    return differing, sources


def test_a_write_then_a_query_answers_as_the_primary_while_the_replica_lags(
    cluster: Cluster, oracle: Gunicorn, tmp_path: Path
) -> None:
    with gunicorn(env=service_env(IDEEZA_CACHE_TIMEOUT="0"), log=tmp_path / "service.log", workers=1) as service:
        # Caught up: answers come from the replica, equal to the oracle's.
        cluster.wait_caught_up()
        for path, body in BODIES:
            assert ask(service, path, body) == (200, ask(oracle, path, body)[1], "replica1")
        cluster.run("delay", "3s")
        try:
            differing, sources = stale_answers(cluster, service, oracle)
            assert differing == []
            assert sources == {"primary"}  # the fence sent every one back
        finally:
            cluster.run("delay", "0")
            cluster.wait_caught_up()
        for path, body in BODIES:
            assert ask(service, path, body) == (200, ask(oracle, path, body)[1], "replica1")


def test_without_the_fence_the_same_check_sees_the_replicas_stale_answers(
    cluster: Cluster, oracle: Gunicorn, tmp_path: Path
) -> None:
    env = service_env(IDEEZA_REPLICA_FENCE="false", IDEEZA_CACHE_TIMEOUT="0")
    with gunicorn(env=env, log=tmp_path / "service.log", workers=1) as service:
        cluster.run("delay", "3s")
        try:
            differing, sources = stale_answers(cluster, service, oracle)
        finally:
            cluster.run("delay", "0")
            cluster.wait_caught_up()
    assert sources == {"replica1"}
    assert differing == [path for path, _ in BODIES]


def test_a_replica_stopped_mid_run_costs_no_request(cluster: Cluster, oracle: Gunicorn, tmp_path: Path) -> None:
    expected = {path: ask(oracle, path, body)[1] for path, body in BODIES}
    replies: list[tuple[str, int, Any, str | None]] = []
    stop = threading.Event()
    with gunicorn(env=service_env(IDEEZA_CACHE_TIMEOUT="0"), log=tmp_path / "service.log", workers=2) as service:

        def keep_asking() -> None:
            while not stop.is_set():
                for path, body in BODIES:
                    replies.append((path, *ask(service, path, body)))

        thread = threading.Thread(target=keep_asking)
        thread.start()
        try:
            time.sleep(1)
            cluster.run("stop-replica")
            time.sleep(3)
            stopped_at = len(replies)
            time.sleep(2)
            cluster.run("start-replica")
            cluster.wait_caught_up()
            time.sleep(3)  # IDEEZA_REPLICA_RETRY_SECONDS=1: the replica is tried again
        finally:
            stop.set()
            thread.join(60)
    assert [reply for reply in replies if reply[1] != 200] == []
    assert [path for path, _, answer, _ in replies if answer != expected[path]] == []
    sources = [source for _, _, _, source in replies]
    assert "primary" in sources[stopped_at:] and sources[-1] == "replica1"


def test_a_recovery_conflict_is_retried_not_failed(cluster: Cluster, settings: Any, django_db_blocker: Any) -> None:
    """A real conflict: the replica's snapshot still needs rows the primary deletes and vacuums away, and the
    standby (max_standby_streaming_delay 1 s, no hot_standby_feedback) cancels the query."""
    from django.db import connections

    from analytics import replicas

    cluster.sql("CREATE TABLE IF NOT EXISTS conflict_probe (n int)")
    cluster.sql("INSERT INTO conflict_probe SELECT generate_series(1, 1000)")
    cluster.wait_caught_up()
    alias = "cluster_replica"
    user, rest = REPLICA.removeprefix("postgres://").split("@")
    host_port, name = rest.split("/")
    connections.settings[alias] = {
        **connections.settings["default"],
        "NAME": name,
        "USER": user,
        "PASSWORD": "",
        "HOST": host_port.split(":")[0],
        "PORT": host_port.split(":")[1],
        "TEST": {"MIRROR": "default"},
    }
    settings.IDEEZA_REPLICA_ALIASES = [alias]
    attempts: list[str] = []

    def compute() -> str:
        attempts.append(replicas.reading_alias())
        if replicas.reading_alias() == alias:
            with replicas.reading.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM conflict_probe")
                vacuum = ("DELETE FROM conflict_probe", "VACUUM conflict_probe")
                threading.Thread(target=cluster.sql, args=vacuum).start()
                cursor.execute("SELECT pg_sleep(20)")
        return "answered"

    try:
        replicas.forget_failures()
        started = time.monotonic()
        with django_db_blocker.unblock():
            served = replicas.fenced(0, compute)
        assert served == replicas.Served("answered", replicas.PRIMARY)
        assert attempts == [alias, "default"] and time.monotonic() - started < 15
        assert replicas._candidates() == [alias]  # a conflict is not an outage
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
        replicas.forget_failures()
        cluster.sql("DROP TABLE conflict_probe")


def test_the_redis_master_killed_and_sentinel_promotes_its_replica(
    cluster: Cluster, oracle: Gunicorn, tmp_path: Path
) -> None:
    expected = {path: ask(oracle, path, body)[1] for path, body in BODIES}
    replies: list[tuple[str, int, Any, str]] = []
    with gunicorn(env=service_env(), log=tmp_path / "service.log", workers=2) as service:

        def round_of_requests() -> None:
            for path, body in BODIES:
                reply = service.post(path, body)
                replies.append((path, reply.status, reply.json(), reply.headers.get("X-Cache", "")))

        round_of_requests()
        round_of_requests()
        assert {cache for *_, cache in replies[-len(BODIES) :]} == {"HIT"}
        killer = threading.Thread(target=cluster.run, args=("kill-redis-master",))
        killer.start()
        while killer.is_alive():
            round_of_requests()
        killer.join()
        round_of_requests()
        round_of_requests()
        # The cache follows the new master: answers are stored and found again.
        assert {cache for *_, cache in replies[-len(BODIES) :]} == {"HIT"}
        assert service.request("GET", "/healthz").json()["cache"] == "ok"
        fold = manage("precalculate_stats", env=service_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = fold.communicate(timeout=300)
        assert fold.returncode == 0 and "redis" in output, output
    assert [reply for reply in replies if reply[1] != 200] == []
    assert [path for path, _, answer, _ in replies if answer != expected[path]] == []
    cluster.run("start-redis")
