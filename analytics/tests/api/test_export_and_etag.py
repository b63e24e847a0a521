"""SPEC §8 on the hand-computed data set (analytics/tests/conftest.py): compare_to by hand, totals, paging, CSV
with formula-safe cells, and ETag / If-None-Match; and the shifted windows of ``framing`` on tricky calendars."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from analytics.api.renderers import safe_cell
from analytics.api.views import MSG_UNKNOWN_OBJECT_TYPE, MSG_UNKNOWN_TOP_TYPE
from analytics.filters import Comparison, Window
from analytics.selectors.framing import shifted_window
from analytics.tests.conftest import ALL_QUERY_URLS, QUERY_URLS, TOTALS_URL, at
from analytics.tests.factories import BlogFactory, BlogViewFactory

TOTALS = TOTALS_URL
PAGED_URLS = [url for url in QUERY_URLS if "performance" not in url]
# 2025-06-01..12: b1 US×3, DE×1, none×1 (06-10..12), b3 DE×2 (06-01); the 12 days before hold b3's US×1 (05-20).
WINDOW = {"start_date": "2025-06-01", "end_date": "2025-06-12"}


def _csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))


# --- compare_to and totals, by hand --------------------------------------------------------------------------
def test_compare_to_previous_period_by_hand(dataset, post):
    status, rows = post("/api/analytics/top/country/", {**WINDOW, "compare_to": "previous_period"})
    assert status == 200
    assert rows == [
        {"x": "DE", "y": 3, "z": 2, "previous": None},
        {"x": "US", "y": 3, "z": 1, "previous": {"y": 1, "z": 1}},
    ]


def test_totals_by_hand(dataset, post):
    assert post(TOTALS, WINDOW) == (200, {"views": 7, "blogs": 2, "authors": 1, "countries": 2})
    status, body = post(TOTALS, {**WINDOW, "compare_to": "previous_period"})
    assert status == 200
    assert body["previous"] == {"views": 1, "blogs": 1, "authors": 1, "countries": 1}
    # No time filter: every view; the window closes at the first view's day (05-20), so nothing comes before it.
    status, body = post(TOTALS, {"compare_to": "previous_year"})
    assert body == {
        "views": 10,
        "blogs": 3,
        "authors": 2,
        "countries": 2,
        "previous": {"views": 0, "blogs": 0, "authors": 0, "countries": 0},
    }


def test_performance_previous_is_row_i_of_the_shifted_answer(dataset, post):
    body = {**WINDOW, "compare": "week"}
    status, rows = post("/api/analytics/performance/", {**body, "compare_to": "previous_period"})
    assert status == 200
    shifted = post("/api/analytics/performance/", {**body, "start_date": "2025-05-20", "end_date": "2025-05-31"})[1]
    assert [row["previous"] for row in rows] == [*shifted, *[None] * (len(rows) - len(shifted))][: len(rows)]
    assert all(set(row) == {"x", "y", "z", "previous"} for row in rows)


@pytest.mark.parametrize("url", ALL_QUERY_URLS)
def test_without_compare_to_no_row_carries_previous(dataset, post, url):
    status, body = post(url, WINDOW)
    assert status == 200
    assert "previous" not in (body if isinstance(body, dict) else (body[0] if body else {}))


# --- paging --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", PAGED_URLS)
def test_offset_pages_the_ordered_answer_and_the_total_counts_it_all(dataset, api_client, url):
    everything = api_client.post(url, {"limit": 100} if "top" in url else {}, format="json")
    total = int(everything["X-Total-Count"])
    assert total == len(everything.json())
    for offset in range(total + 2):
        page = api_client.post(url, {"offset": offset, "limit": 1}, format="json")
        assert page.json() == everything.json()[offset : offset + 1]
        assert int(page["X-Total-Count"]) == total


@pytest.mark.parametrize(("body", "path"), [({"offset": -1}, "offset"), ({"offset": 1_000_001}, "offset")])
def test_offset_out_of_range_is_a_400(dataset, post, body, path):
    status, error = post("/api/analytics/top/blog/", body)
    assert status == 400 and path in error["fields"]


def test_offset_is_refused_where_there_is_nothing_to_page(dataset, post):
    for url in ("/api/analytics/performance/", TOTALS):
        status, error = post(url, {"offset": 1})
        assert status == 400 and "offset" in error["fields"]


# --- CSV -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", QUERY_URLS)
def test_csv_has_the_json_numbers(dataset, api_client, url):
    as_json = api_client.post(url, WINDOW, format="json").json()
    response = api_client.post(url, WINDOW, format="json", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    table = _csv(response)
    assert table[0] == ["x", "y", "z"]
    assert table[1:] == [[row["x"], str(row["y"]), "" if row["z"] is None else str(row["z"])] for row in as_json]
    assert response.content.endswith(b"\r\n")  # RFC 4180 line breaks


def test_csv_under_compare_to_appends_the_previous_columns(dataset, api_client):
    body = {**WINDOW, "compare_to": "previous_period"}
    response = api_client.post("/api/analytics/top/country/", body, format="json", HTTP_ACCEPT="text/csv")
    assert _csv(response) == [
        ["x", "y", "z", "previous_x", "previous_y", "previous_z"],
        ["DE", "3", "2", "", "", ""],
        ["US", "3", "1", "US", "1", "1"],
    ]
    empty = api_client.post(
        "/api/analytics/top/country/", {**body, "year": 2001}, format="json", HTTP_ACCEPT="text/csv"
    )
    assert _csv(empty) == [["x", "y", "z", "previous_x", "previous_y", "previous_z"]]


def test_totals_csv_is_its_keys_and_one_row(dataset, api_client):
    body = {**WINDOW, "compare_to": "previous_period"}
    response = api_client.post(TOTALS, body, format="json", HTTP_ACCEPT="text/csv")
    assert _csv(response) == [
        [
            "views",
            "blogs",
            "authors",
            "countries",
            "previous_views",
            "previous_blogs",
            "previous_authors",
            "previous_countries",
        ],
        ["7", "2", "1", "2", "1", "1", "1", "1"],
    ]


@pytest.mark.parametrize("title", ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_a_title_that_is_a_formula_never_runs(db, api_client, frozen_now, title):
    BlogViewFactory(blog=BlogFactory(title=title), timestamp=at("2025-06-10T10:00"))
    response = api_client.post("/api/analytics/top/blog/", {}, format="json", HTTP_ACCEPT="text/csv")
    assert _csv(response)[1][0] == "'" + title
    assert api_client.post("/api/analytics/top/blog/", {}, format="json").json()[0]["x"] == title  # JSON untouched


@pytest.mark.parametrize(("value", "expected"), [("plain", "plain"), (-12.5, -12.5), (None, ""), (" =x", " =x")])
def test_numbers_and_plain_text_are_left_alone(value, expected):
    assert safe_cell(value) == expected


def test_an_error_asked_as_csv_is_json_in_the_one_shape(dataset, api_client):
    response = api_client.post("/api/analytics/top/blog/", {"limit": 0}, format="json", HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"message", "code", "fields"}


def test_an_accept_header_nothing_can_answer_is_a_406(dataset, api_client):
    response = api_client.post("/api/analytics/top/blog/", {}, format="json", HTTP_ACCEPT="image/png")
    assert response.status_code == 406
    assert set(response.json()) == {"message", "code", "fields"}


# --- ETag ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ALL_QUERY_URLS)
def test_if_none_match_is_a_304_until_the_data_changes(dataset, api_client, url):
    first = api_client.post(url, WINDOW, format="json")
    tag = first["ETag"]
    assert tag.startswith('"') and tag.endswith('"')
    again = api_client.post(url, WINDOW, format="json", HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == tag
    assert api_client.post(url, WINDOW, format="json", HTTP_IF_NONE_MATCH=f'"other", W/{tag}').status_code == 304

    BlogViewFactory(blog=dataset.b1, timestamp=at("2025-06-11T10:00"))  # a write: the answer may differ now
    after = api_client.post(url, WINDOW, format="json", HTTP_IF_NONE_MATCH=tag)
    assert after.status_code == 200 and after["ETag"] != tag


def test_the_etag_names_the_request_and_the_format(dataset, api_client):
    url = "/api/analytics/top/blog/"
    tags = {
        api_client.post(url, WINDOW, format="json")["ETag"],
        api_client.post(url, {**WINDOW, "limit": 1}, format="json")["ETag"],
        api_client.post(url, WINDOW, format="json", HTTP_ACCEPT="text/csv")["ETag"],
        api_client.post(url, {**WINDOW, "compare_to": "previous_year"}, format="json")["ETag"],
    }
    assert len(tags) == 4
    vary = api_client.post(url, WINDOW, format="json")["Vary"]
    assert "Accept" in vary and "Authorization" in vary


def test_unknown_types_say_which_kind(dataset, post):
    status, error = post("/api/analytics/top/nope/")
    assert (status, error["message"]) == (404, MSG_UNKNOWN_TOP_TYPE.format(value="nope", choices="blog, user, country"))
    status, error = post("/api/analytics/blog-views/nope/")
    assert (status, error["message"]) == (404, MSG_UNKNOWN_OBJECT_TYPE.format(value="nope", choices="country, user"))


# --- the shifted windows (SPEC §8) ---------------------------------------------------------------------------
NY = ZoneInfo("America/New_York")


def _day(text: str, zone: ZoneInfo = NY) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


@override_settings(TIME_ZONE="America/New_York")
@pytest.mark.parametrize(
    ("start", "end", "comparison", "expected"),
    [
        # whole days: by days, not hours, across the spring-forward day (23 hours long)
        ("2025-03-09", "2025-03-10", "previous_period", ("2025-03-08", "2025-03-09")),
        ("2025-03-10", "2025-03-17", "previous_period", ("2025-03-03", "2025-03-10")),
        # a leap day ends on 28 February a year earlier; a window ending on it likewise
        ("2024-02-29", "2024-03-01", "previous_year", ("2023-02-28", "2023-03-01")),
        ("2024-02-01", "2024-03-01", "previous_year", ("2023-02-01", "2023-03-01")),
        # the window's first and last days move (its last day is 2025-02-28, so the leap day stays out)
        ("2024-03-01", "2025-03-01", "previous_year", ("2023-03-01", "2024-02-29")),
        # to the second: shifted by its own length, or to the same wall times a year earlier
        (
            "2025-06-10T12:00:00",
            "2025-06-10T13:00:01",
            "previous_period",
            ("2025-06-10T10:59:59", "2025-06-10T12:00:00"),
        ),
        ("2024-02-29T08:00", "2024-02-29T09:00", "previous_year", ("2023-02-28T08:00", "2023-02-28T09:00")),
    ],
)
def test_shifted_windows(start, end, comparison, expected):
    window = shifted_window(_day(start), _day(end), Comparison(comparison))
    assert window == Window(_day(expected[0]), _day(expected[1]))
