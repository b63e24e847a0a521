"""Property-based: a scoped caller's answer is the answer of its request with the author leaf ANDed (SPEC §9, §4).

The generators of ``test_differential`` make the data and the requests; each request is sent over HTTP by an author
(a signed-in user without ``view_all_analytics``), and must equal the oracle's answer (``analytics/tests/oracle.py``,
no Django) of the same body with ``{"eq": {"field": "author", "value": <author>}}`` ANDed to its filters, and the
reference scan's totals. Three states of the data: nothing folded, everything folded (the fast path's blocks), and
late views on folded days (blocks plus raw cells).
"""

from __future__ import annotations

from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase
from rest_framework.test import APIClient

from analytics.filters import Endpoint, parse_query
from analytics.models import BlogView, Country
from analytics.selectors import reference
from analytics.services.folding import summaries_fold
from analytics.tests import oracle
from analytics.tests.api.conftest import with_author
from analytics.tests.api.test_differential import (
    ENDPOINTS,
    EXAMPLES,
    UNKNOWN_USERNAMES,
    Scenario,
    compares,
    limits,
    scenarios,
    store,
)
from analytics.tests.conftest import narrowed_reads, timeline_reads

PATHS = [*ENDPOINTS, "performance", "totals"]


def expected_answer(scenario: Scenario, events: oracle.Events, path: str, body: dict[str, Any]) -> Any:
    """The oracle's rows, or for totals the reference scan's; ``None`` where the API must answer 400."""
    if path == "totals":
        try:
            query = parse_query(body, endpoint=Endpoint.TOTALS, now=scenario.now)
        except Exception:
            return None
        totals = reference.totals(query)
        return {"views": totals.views, "blogs": totals.blogs, "authors": totals.authors, "countries": totals.countries}
    try:
        return oracle.answer(events, path, body, now=scenario.now, zone_name="UTC", x_metric="viewed")
    except oracle.BadRequest:
        return None


def late_views(events: oracle.Events, picks: list[int]) -> oracle.Events:
    """Copies of some stored views (same blog, country and instant), written after the fold: folded days change."""
    if not events.views:
        return events
    copies = tuple(events.views[index % len(events.views)] for index in picks)
    countries = {country.code: country for country in Country.objects.all()}
    BlogView.objects.bulk_create(
        BlogView(blog_id=view.blog.id, country=countries.get(view.country or ""), timestamp=view.timestamp)
        for view in copies
    )
    return oracle.Events(blogs=events.blogs, views=events.views + copies)


@override_settings(TIME_ZONE="UTC", IDEEZA_PERFORMANCE_X_METRIC="viewed")
class TestScopedAnswersEqualTheAuthorLeafAnded(TestCase):
    def ask(
        self, scenario: Scenario, events: oracle.Events, clients: dict[str, APIClient], data: st.DataObject
    ) -> None:
        for request in scenario.requests:
            author = data.draw(st.sampled_from(sorted(clients)), label="scope author")
            for path in PATHS:
                body = dict(request)
                if path == "performance":
                    if (compare := data.draw(compares, label="compare")) is not None:
                        body["compare"] = compare
                elif path != "totals":
                    if (limit := data.draw(limits[path.partition("/")[0]], label="limit")) is not None:
                        body["limit"] = limit
                expected = expected_answer(scenario, events, path, with_author(body, author))
                response = clients[author].post(f"/api/analytics/{path}/", body, format="json")
                context = f"{author} POST {path} {body} now={scenario.now.isoformat()}"
                if expected is None:
                    assert response.status_code == 400, context
                    continue
                assert response.status_code == 200, f"{context}: {response.status_code} {response.content!r}"
                assert response.json() == expected, context

    @EXAMPLES
    @given(scenario=scenarios("UTC"), picks=st.lists(st.integers(0, 1000), max_size=8), data=st.data())
    def test_scoped_answers(self, scenario: Scenario, picks: list[int], data: st.DataObject) -> None:
        self.scoped_answers(scenario, picks, data)

    @EXAMPLES
    @given(scenario=scenarios("UTC"), picks=st.lists(st.integers(0, 1000), max_size=8), data=st.data())
    def test_scoped_answers_reading_the_authors_raw_views(
        self, scenario: Scenario, picks: list[int], data: st.DataObject
    ) -> None:
        """An author's blogs are few: on a platform their answers read those blogs' raw views (the narrowed read)."""
        with narrowed_reads():
            self.scoped_answers(scenario, picks, data)

    @EXAMPLES
    @given(scenario=scenarios("UTC"), picks=st.lists(st.integers(0, 1000), max_size=8), data=st.data())
    def test_scoped_answers_reading_the_authors_timelines(
        self, scenario: Scenario, picks: list[int], data: st.DataObject
    ) -> None:
        """An author's blogs are a small share of a platform's: their answers read those blogs' timelines."""
        with timeline_reads():
            self.scoped_answers(scenario, picks, data)

    def scoped_answers(self, scenario: Scenario, picks: list[int], data: st.DataObject) -> None:
        cache.clear()
        store(scenario.events)
        users = get_user_model().objects
        authors = sorted({blog.author for blog in scenario.events.blogs})
        clients = {}
        for username in [*authors, *UNKNOWN_USERNAMES]:
            client = APIClient()
            client.force_authenticate(users.get_or_create(username=username)[0])
            clients[username] = client
        with mock.patch("django.utils.timezone.now", return_value=scenario.now):
            self.ask(scenario, scenario.events, clients, data)  # nothing folded yet
            summaries_fold(full=True)
            self.ask(scenario, scenario.events, clients, data)  # the fast path's blocks
            events = late_views(scenario.events, picks)
            self.ask(scenario, events, clients, data)  # blocks plus the raw cells of changed days
