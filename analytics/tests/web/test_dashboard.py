"""The dashboard (SPEC §11) in a real browser: every number on the page is the API's number for the same body.

Chromium is Debian's (/usr/bin/chromium); Playwright never downloads a browser here. Without it the tests skip,
unless CI is set: there a missing browser is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.utils import timezone

from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"CI is set but {CHROMIUM} is missing: apt-get install -y chromium")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls in the test (factories, the
    # transactional flush) are still synchronous, so its async-safety guard is lifted while the browser lives.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser) -> Iterator[Any]:
    """A page that records console errors and uncaught exceptions (a CSP violation is a console error)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    yield page
    context.close()


@pytest.fixture
def seeded(transactional_db) -> None:
    now = timezone.now()
    us, de = CountryFactory(code="US"), CountryFactory(code="DE")
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    b1 = BlogFactory.create(title="Django tips", author=alice)
    b2 = BlogFactory.create(title="Redis deep dive", author=bob)
    for days, blog, country in [(1, b1, us), (2, b1, us), (3, b1, de), (5, b2, us), (9, b2, de), (40, b1, us)]:
        BlogViewFactory.create(blog=blog, country=country, timestamp=now - timedelta(days=days))


def api(live_server, path: str, body: dict[str, Any]) -> Any:
    response = requests.post(f"{live_server.url}/api/analytics/{path}/", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_ready(page, after: int = 0) -> int:
    """Wait until a load numbered above ``after`` has rendered (data-loaded counts the page's loads)."""
    page.wait_for_function("n => Number(document.body.dataset.loaded || 0) > n", arg=after)
    return int(page.evaluate("Number(document.body.dataset.loaded)"))


def act(page, action) -> None:  # type: ignore[no-untyped-def]
    """Do something that reloads the page's numbers, and wait for that load (not the one before it)."""
    before = int(page.evaluate("Number(document.body.dataset.loaded || 0)"))
    action()
    wait_ready(page, before)


def page_numbers(page) -> dict[str, Any]:
    return page.evaluate(
        """() => ({
        totals: Object.fromEntries([...document.querySelectorAll('[data-total]')]
            .map(e => [e.dataset.total, Number(e.textContent.replace(/,/g, ''))])),
        tables: Object.fromEntries([...document.querySelectorAll('[data-table^="top/"]')].map(s =>
            [s.dataset.table, [...s.querySelectorAll('tbody tr')].filter(tr => tr.cells.length === 3).map(tr =>
                ({x: tr.cells[0].textContent, y: Number(tr.cells[1].textContent.replace(/,/g, '')),
                  z: Number(tr.cells[2].textContent.replace(/,/g, ''))}))])),
        bars: [...document.querySelectorAll('.bars li')].filter(li => li.querySelector('a')).map(li =>
            ({x: li.querySelector('a').textContent, z: Number(li.querySelector('.n').textContent.replace(/,/g, ''))})),
        points: Number(document.getElementById('chart').dataset.points || 0),
    })"""
    )


def assert_page_matches_api(page, live_server, body: dict[str, Any]) -> None:
    numbers = page_numbers(page)
    totals = api(live_server, "totals", body)
    assert numbers["totals"] == {k: totals[k] for k in ("views", "blogs", "authors", "countries")}
    for path in ("top/blog", "top/user", "top/country"):
        assert numbers["tables"][path] == [
            {"x": r["x"], "y": r["y"], "z": r["z"]} for r in api(live_server, path, body)
        ]
    assert numbers["bars"] == [{"x": r["x"], "z": r["z"]} for r in api(live_server, "blog-views/country", body)]
    assert numbers["points"] == len(api(live_server, "performance", body))


def test_numbers_filters_links_and_reload_match_the_api(page, live_server, seeded, tmp_path):
    page.goto(f"{live_server.url}/dashboard/?range=month")
    wait_ready(page)
    assert_page_matches_api(page, live_server, {"range": "month"})
    page.screenshot(path=str(tmp_path / "dashboard-desktop.png"), full_page=True)

    page.select_option("select[name=compare_to]", "previous_period")
    page.select_option("select[name=range]", "week")
    act(page, lambda: page.click("#controls button[type=submit]"))
    assert "compare_to=previous_period" in page.url
    assert_page_matches_api(page, live_server, {"range": "week", "compare_to": "previous_period"})

    act(page, lambda: page.click('[data-table="top/country"] a:text-is("US")'))
    assert "country_codes=US" in page.url
    body = {"range": "week", "compare_to": "previous_period", "country_codes": ["US"]}
    assert_page_matches_api(page, live_server, body)

    page.reload()
    wait_ready(page)
    assert page.input_value("input[name=country_codes]") == "US"
    assert_page_matches_api(page, live_server, body)

    act(page, lambda: page.click('[data-table="top/user"] a:text-is("alice")'))
    assert_page_matches_api(page, live_server, {**body, "author_username": "alice"})

    act(page, lambda: page.click('[data-table="top/blog"] a:text-is("Django tips")'))
    title = {"contains": {"field": "blog_title", "value": "Django tips"}}
    assert_page_matches_api(page, live_server, {**body, "author_username": "alice", "filters": title})

    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
    assert page.problems == []


def test_a_bad_date_range_shows_the_api_message(page, live_server, seeded):
    page.goto(f"{live_server.url}/dashboard/?start_date=2025-02-01&end_date=2025-01-01")
    wait_ready(page)
    response = requests.post(
        f"{live_server.url}/api/analytics/totals/",
        json={"start_date": "2025-02-01", "end_date": "2025-01-01"},
        timeout=10,
    )
    assert response.status_code == 400
    assert page.text_content("#error") == response.json()["message"]


def test_sign_in_when_the_api_is_closed(page, live_server, seeded, settings):
    settings.IDEEZA_API_OPEN = False
    boss = UserFactory.create(username="boss", is_staff=True)
    boss.set_password("s3cret-pass")
    boss.save()
    page.goto(f"{live_server.url}/dashboard/?range=month")
    page.wait_for_selector("#signin:not([hidden])")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "s3cret-pass")
    page.click("#signin-form button")
    wait_ready(page)
    assert page.evaluate("document.body.dataset.ready") == "true"
    assert page.is_visible("#signout")
    page.click("#signout")
    assert page.is_visible("#signin")
    assert [p for p in page.problems if "401" not in p] == []


def test_csv_download_is_the_api_csv(page, live_server, seeded):
    page.goto(f"{live_server.url}/dashboard/?range=month&compare_to=previous_period")
    wait_ready(page)
    with page.expect_download() as download_info:
        page.click('button[data-csv="top/user"]')
    download = download_info.value
    assert download.suggested_filename == "top-user.csv"
    expected = requests.post(
        f"{live_server.url}/api/analytics/top/user/",
        json={"range": "month", "compare_to": "previous_period"},
        headers={"Accept": "text/csv"},
        timeout=10,
    )
    assert Path(download.path()).read_bytes() == expected.content
    assert page.problems == []
