"""SPEC §10's settings: read replicas (DATABASE_REPLICA_URLS) and Redis Sentinel (REDIS_SENTINELS)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

PRIMARY = "postgres://postgres@127.0.0.1:15432/ideeza"


def test_replica_urls_become_aliases_the_router_reads_and_tests_mirror(settings_with):
    values = settings_with(
        DATABASE_URL=PRIMARY,
        DATABASE_REPLICA_URLS="postgres://postgres@127.0.0.1:15433/ideeza, postgres://postgres@10.0.0.9/ideeza",
    )
    assert values["IDEEZA_REPLICA_ALIASES"] == ["replica1", "replica2"]
    assert values["DATABASES"]["replica1"]["PORT"] == 15433
    assert values["DATABASES"]["replica2"]["OPTIONS"]["connect_timeout"] == values["IDEEZA_REPLICA_CONNECT_TIMEOUT"]
    # The test runner creates no database on a read-only replica.
    assert values["DATABASES"]["replica1"]["TEST"] == {"MIRROR": "default"}
    assert values["DATABASE_ROUTERS"] == ["analytics.replicas.ReplicaRouter"]
    assert values["IDEEZA_REPLICA_FENCE"] is True


def test_without_replica_urls_there_is_one_database(settings_with):
    values = settings_with(DATABASE_URL=PRIMARY)
    assert (list(values["DATABASES"]), values["IDEEZA_REPLICA_ALIASES"]) == (["default"], [])


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_REPLICA_URLS": "postgres://postgres@127.0.0.1:15433/ideeza"}, "needs a PostgreSQL DATABASE_URL"),
        ({"DATABASE_URL": PRIMARY, "DATABASE_REPLICA_URLS": "sqlite:///replica.db"}, "is not a postgres:// URL"),
        ({"REDIS_SENTINELS": "127.0.0.1:16381"}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINELS": "127.0.0.1", "REDIS_SENTINEL_MASTER": "ideeza"}, "host:port"),
    ],
)
def test_a_distributed_setting_that_cannot_work_stops_the_start(settings_with, env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        settings_with(**env)


def test_sentinels_name_the_master_where_the_cache_location_has_a_host(settings_with):
    values = settings_with(
        REDIS_URL="redis://:secret@127.0.0.1:16379/3",
        REDIS_SENTINELS="127.0.0.1:16381,[::1]:26379",
        REDIS_SENTINEL_MASTER="ideeza",
    )
    assert values["REDIS_SENTINELS"] == [("127.0.0.1", 16381), ("::1", 26379)]
    assert values["REDIS_URL"] == "redis://:secret@ideeza/3"
    options = values["CACHES"]["default"]["OPTIONS"]
    assert options["CONNECTION_FACTORY"] == "django_redis.pool.SentinelConnectionFactory"
    assert options["SENTINELS"] == [("127.0.0.1", 16381), ("::1", 26379)]
    assert options["IGNORE_EXCEPTIONS"] is True  # a cache outage still only costs time (SPEC §7)


def test_sentinels_without_redis_url_use_database_zero(settings_with):
    values = settings_with(REDIS_SENTINELS="127.0.0.1:16381", REDIS_SENTINEL_MASTER="ideeza")
    assert values["REDIS_URL"] == "redis://ideeza/0"
