"""The dashboard (SPEC §11) in a real browser: every number on the page is the API's number for the same body.

Chromium is Debian's (/usr/bin/chromium); Playwright never downloads a browser here. Without it (or without the
playwright package) the tests skip, unless CI is set: there either missing is a failure. They run on both legs
(the suite's live server, analytics/tests/conftest.py).
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
from rest_framework_simplejwt.tokens import RefreshToken

from analytics.tests.factories import BlogFactory, BlogViewFactory, CountryFactory, UserFactory
from analytics.web.views import SKELETON_ROWS

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

if os.environ.get("CI"):
    import playwright.sync_api as sync_api
else:
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
    b3 = BlogFactory.create(title="More Django tips", author=alice)  # contains "Django tips", is not it
    for days, blog, country in [
        (1, b1, us),
        (2, b1, us),
        (3, b1, de),
        (5, b2, us),
        (9, b2, de),
        (40, b1, us),
        (4, b3, us),
    ]:
        BlogViewFactory.create(blog=blog, country=country, timestamp=now - timedelta(days=days))


def api(live_server, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.post(f"{live_server.url}/api/analytics/{path}/", json=body, headers=headers, timeout=10)
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


def assert_page_matches_api(page, live_server, body: dict[str, Any], token: str | None = None) -> None:
    numbers = page_numbers(page)
    totals = api(live_server, "totals", body, token)
    assert numbers["totals"] == {k: totals[k] for k in ("views", "blogs", "authors", "countries")}
    for path in ("top/blog", "top/user", "top/country"):
        assert numbers["tables"][path] == [
            {"x": r["x"], "y": r["y"], "z": r["z"]} for r in api(live_server, path, body, token)
        ]
    bars = api(live_server, "blog-views/country", body, token)
    assert numbers["bars"] == [{"x": r["x"], "z": r["z"]} for r in bars]
    assert numbers["points"] == len(api(live_server, "performance", body, token))


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

    # A blog row filters by its exact title: "More Django tips" (same author, same window) is not counted.
    act(page, lambda: page.click('[data-table="top/blog"] a:text-is("Django tips")'))
    assert "blog_title=Django+tips" in page.url
    exact = {**body, "author_username": "alice", "filters": {"eq": {"field": "blog_title", "value": "Django tips"}}}
    assert_page_matches_api(page, live_server, exact)
    assert [row["x"] for row in page_numbers(page)["tables"]["top/blog"]] == ["Django tips"]
    contains = {**exact, "filters": {"contains": {"field": "blog_title", "value": "Django tips"}}}
    assert api(live_server, "totals", contains)["blogs"] == 2  # what "title contains" would have shown

    page.reload()
    wait_ready(page)
    assert page.input_value("input[name=blog_title]") == "Django tips"
    assert_page_matches_api(page, live_server, exact)

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


@pytest.fixture
def boss(seeded, settings) -> Any:
    """The API closed (SPEC §7), and a staff user (scope: all) who signs in as boss / s3cret-pass."""
    settings.IDEEZA_API_OPEN = False
    boss = UserFactory.create(username="boss", is_staff=True)
    boss.set_password("s3cret-pass")
    boss.save()
    return boss


def sign_in(page, after: int = 0, username: str = "boss", password: str = "s3cret-pass") -> None:
    page.wait_for_selector("#signin:not([hidden])")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#signin-form button")
    wait_ready(page, after)
    assert page.evaluate("document.body.dataset.ready") == "true"


def stored_tokens(page) -> dict[str, str | None]:
    return page.evaluate(
        "() => ({access: sessionStorage.getItem('ideeza.access'), refresh: sessionStorage.getItem('ideeza.refresh')})"
    )


def expired(token: Any) -> str:
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


def watch_auth(page) -> tuple[list[str], list[str]]:
    """The page's refresh requests, and the query requests the API answered 401."""
    refreshes: list[str] = []
    rejected: list[str] = []
    page.on("request", lambda r: refreshes.append(r.url) if r.url.endswith("/api/token/refresh/") else None)
    page.on("response", lambda r: rejected.append(r.url) if r.status == 401 and "/api/analytics/" in r.url else None)
    return refreshes, rejected


def test_sign_in_when_the_api_is_closed(page, live_server, boss):
    page.goto(f"{live_server.url}/dashboard/?range=month")
    sign_in(page)
    assert page.is_visible("#signout")
    assert_page_matches_api(page, live_server, {"range": "month"}, stored_tokens(page)["access"])
    page.click("#signout")
    assert page.is_visible("#signin")
    assert stored_tokens(page) == {"access": None, "refresh": None}
    assert [p for p in page.problems if "401" not in p] == []


def test_an_author_signed_in_sees_their_scope_and_nothing_of_another(page, live_server, boss):
    """SPEC §9, §11: alice (no view_all_analytics) sees exactly her scope: the page's numbers are the API's answers
    to her token, which are the answers with her author leaf ANDed, and bob's blog appears nowhere."""
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.get(username="alice")
    alice.set_password("alice-pass-1")
    alice.save()
    page.goto(f"{live_server.url}/dashboard/?range=month")
    sign_in(page, username="alice", password="alice-pass-1")
    token = stored_tokens(page)["access"]
    assert_page_matches_api(page, live_server, {"range": "month"}, token)
    staff = stored_boss_token(live_server)
    everyone = api(live_server, "totals", {"range": "month"}, staff)
    theirs = api(live_server, "totals", {"range": "month", "author_username": "alice"}, staff)
    assert api(live_server, "totals", {"range": "month"}, token) == theirs != everyone
    shown = page.inner_text("body")
    assert "Redis deep dive" not in shown and "bob" not in shown
    assert [p for p in page.problems if "401" not in p] == []


def stored_boss_token(live_server) -> str:
    response = requests.post(
        f"{live_server.url}/api/token/", json={"username": "boss", "password": "s3cret-pass"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access"])


def test_an_expired_access_token_is_refreshed_once_for_all_requests(page, live_server, boss):
    page.goto(f"{live_server.url}/dashboard/?range=month")
    sign_in(page)
    stale = expired(RefreshToken.for_user(boss).access_token)
    page.evaluate("t => sessionStorage.setItem('ideeza.access', t)", stale)
    refreshes, rejected = watch_auth(page)

    page.reload()
    wait_ready(page)
    assert len(rejected) == 6  # the API refused the expired token on every request of the load
    assert len(refreshes) == 1
    fresh = stored_tokens(page)["access"]
    assert fresh not in (None, stale)
    assert page.evaluate("document.body.dataset.ready") == "true"
    assert page.is_hidden("#signin")
    assert_page_matches_api(page, live_server, {"range": "month"}, fresh)
    assert [p for p in page.problems if "401" not in p] == []


def test_a_failed_refresh_asks_to_sign_in_again(page, live_server, boss):
    page.goto(f"{live_server.url}/dashboard/?range=month")
    sign_in(page)
    refresh = RefreshToken.for_user(boss)
    tokens = [expired(refresh.access_token), expired(refresh)]
    page.evaluate(
        "([a, r]) => { sessionStorage.setItem('ideeza.access', a); sessionStorage.setItem('ideeza.refresh', r); }",
        tokens,
    )
    refreshes, rejected = watch_auth(page)

    page.reload()
    loaded = wait_ready(page)
    assert page.is_visible("#signin") and page.is_hidden("#main")
    assert (len(rejected), len(refreshes)) == (6, 1)
    assert stored_tokens(page) == {"access": None, "refresh": None}

    sign_in(page, loaded)
    assert page.is_hidden("#signin")
    assert_page_matches_api(page, live_server, {"range": "month"}, stored_tokens(page)["access"])
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


@pytest.fixture
def ten_of_each(transactional_db) -> None:
    """Ten blogs, each of its own author and country: every table and the bars have ten rows (top/*'s limit)."""
    now = timezone.now()
    for index in range(SKELETON_ROWS):
        author = UserFactory.create(username=f"author{index}")
        # One title long enough to wrap at any width, were rows not one line each.
        title = f"Blog {index}" if index else "A title long enough to wrap onto a second line in any table " * 3
        blog = BlogFactory.create(title=title, author=author)
        country = CountryFactory.create(code=f"C{index}")
        BlogViewFactory.create_batch(index + 1, blog=blog, country=country, timestamp=now - timedelta(days=index + 1))


def hold_api(page) -> list[Any]:
    """Hold every API request of the page until ``release`` (the page stays in its loading state meanwhile)."""
    held: list[Any] = []
    page.route("**/api/analytics/**", lambda route: held.append(route))
    return held


def wait_held(page, held: list[Any], count: int) -> None:
    for _ in range(200):
        if len(held) >= count:
            return
        page.wait_for_timeout(25)  # lets Playwright hand the intercepted requests to hold_api's handler
    raise AssertionError(f"{len(held)} of {count} requests reached the page's route")


def release(held: list[Any]) -> None:
    while held:
        held.pop().continue_()


def layout(page) -> dict[str, Any]:
    """Where every card and panel (and each table inside one) is, and how tall the page is."""
    return page.evaluate(
        """() => ({
        boxes: [...document.querySelectorAll('.card, .panel, [data-table] table, [data-table] .bars')].map(e => {
            const r = e.getBoundingClientRect();
            return [e.dataset.table || e.id || e.className, r.x, r.y, r.width, r.height];
        }),
        height: document.documentElement.scrollHeight,
        placeholders: document.querySelectorAll('.sk-row').length,
        busy: document.querySelectorAll('[aria-busy=true]').length,
    })"""
    )


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_nothing_moves_when_the_numbers_arrive(page, live_server, ten_of_each, viewport):
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    held = hold_api(page)
    page.goto(f"{live_server.url}/dashboard/?range=month&compare_to=previous_period")
    wait_held(page, held, 6)
    loading = layout(page)
    assert (loading["placeholders"], loading["busy"]) == (4 * SKELETON_ROWS, 4)
    release(held)
    wait_ready(page)
    shown = layout(page)
    assert (shown["placeholders"], shown["busy"]) == (0, 0)
    assert len(page_numbers(page)["tables"]["top/blog"]) == SKELETON_ROWS
    assert_page_matches_api(page, live_server, {"range": "month", "compare_to": "previous_period"})
    assert shown["boxes"] == loading["boxes"]
    assert shown["height"] == loading["height"]

    # A new load (here without the comparison: the same rows, no deltas) shows placeholders in the same places.
    page.select_option("select[name=compare_to]", "")
    page.click("#controls button[type=submit]")
    wait_held(page, held, 6)
    reloading = layout(page)
    assert reloading["placeholders"] == 4 * SKELETON_ROWS
    release(held)
    wait_ready(page, 1)
    assert layout(page)["boxes"] == reloading["boxes"] == shown["boxes"]
    assert page.problems == []
