"""The response cache (SPEC §7): answers are reused until any write or fold, never served stale, and a dead
cache only slows requests down."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.test import override_settings

from analytics.models import Blog, BlogView, Country
from analytics.services.folding import summaries_fold
from analytics.tests.api.conftest import NOW, at

TOP_BLOG = "/api/analytics/top/blog/"
TOP_COUNTRY = "/api/analytics/top/country/"
PERFORMANCE = "/api/analytics/performance/"


def ask(api_client, url, body=None):  # type: ignore[no-untyped-def]
    response = api_client.post(url, body or {}, format="json")
    assert response.status_code == 200, response.content
    return response["X-Cache"], response.json()


@pytest.mark.parametrize("url", [TOP_BLOG, TOP_COUNTRY, PERFORMANCE, "/api/analytics/blog-views/user/"])
def test_second_identical_request_is_a_hit(dataset, api_client, url):
    first = ask(api_client, url, {"range": "month"})
    second = ask(api_client, url, {"range": "month"})
    assert (first[0], second[0]) == ("MISS", "HIT")
    assert first[1] == second[1]


def test_equal_requests_share_a_key_whatever_the_order(dataset, api_client):
    ask(api_client, TOP_BLOG, {"country_codes": ["us", "DE"], "limit": 5})
    assert ask(api_client, TOP_BLOG, {"limit": 5, "country_codes": ["de", "US"]})[0] == "HIT"
    assert ask(api_client, TOP_BLOG, {"country_codes": ["US"], "limit": 5})[0] == "MISS"


@pytest.mark.parametrize(
    "write",
    [
        lambda data: BlogView.objects.create(blog=data.b2, country=None, timestamp=at("2025-06-13T10:00")),
        lambda data: BlogView.objects.filter(blog=data.b3).delete(),
        lambda data: Blog.objects.filter(pk=data.b1.pk).update(title="Renamed"),
        lambda data: Country.objects.filter(code="DE").update(code="GE"),
        lambda data: BlogView.objects.filter(blog=data.b2).update(timestamp=at("2024-01-01T00:00")),
    ],
    ids=["insert", "delete", "rename-blog", "recode-country", "move-views"],
)
def test_any_write_makes_cached_answers_unreachable(dataset, api_client, write):
    """SPEC §4/§7: the answer after a write equals a fresh computation, never the cached one."""
    for url in (TOP_BLOG, TOP_COUNTRY):
        ask(api_client, url)
    write(dataset)
    for url in (TOP_BLOG, TOP_COUNTRY):
        state, cached_answer = ask(api_client, url)
        assert state == "MISS"
        with override_settings(IDEEZA_CACHE_TIMEOUT=0, CACHE_TIMEOUT=0):
            assert cached_answer == ask(api_client, url)[1]


def test_a_fold_bumps_the_version(dataset, api_client):
    ask(api_client, TOP_BLOG)
    summaries_fold(full=True)
    assert ask(api_client, TOP_BLOG)[0] == "MISS"


def test_relative_windows_are_keyed_by_the_resolved_window(dataset, api_client):
    with mock.patch("django.utils.timezone.now", return_value=NOW - timedelta(days=1)):
        assert ask(api_client, TOP_COUNTRY, {"range": "day"}) == ("MISS", [{"x": "US", "y": 2, "z": 1}])
    # The next day "range": "day" is another window, so another key: yesterday's answer is not served.
    assert ask(api_client, TOP_COUNTRY, {"range": "day"}) == ("MISS", [])


def test_timeout_zero_turns_the_cache_off(dataset, api_client, settings):
    settings.CACHE_TIMEOUT = 0
    assert [ask(api_client, TOP_BLOG)[0] for _ in range(2)] == ["OFF", "OFF"]


def test_a_dead_cache_only_slows_requests_down(dataset, api_client):
    """Redis on a closed port: every request still answers, correctly, as a miss."""
    dead_redis = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    expected = ask(api_client, TOP_BLOG)[1]
    with override_settings(CACHES=dead_redis, DJANGO_REDIS_IGNORE_EXCEPTIONS=True):
        answers = [ask(api_client, TOP_BLOG) for _ in range(2)]
    assert answers == [("MISS", expected), ("MISS", expected)]
