"""The narrowed read's probe (docs/design.md, query path step 2): it may say "maybe more" too often, which only
sends the request to the blocks, but it must never say "few" for blogs with more than RAW_VIEWS_MAX views."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from analytics.selectors import summaries
from analytics.tests.conftest import at
from analytics.tests.factories import BlogFactory, BlogViewFactory

START = at("2025-06-01T00:00")


@pytest.mark.django_db
@pytest.mark.parametrize("views", [(0,), (3, 1), (5, 5, 0), (9,), (1, 1, 1, 1)])
@pytest.mark.parametrize("budget", [1, 4, 6, 10])
def test_few_means_at_most_the_budget_and_more_than_the_budget_is_never_few(monkeypatch, views, budget):
    monkeypatch.setattr(summaries, "RAW_VIEWS_MAX", budget)
    blogs = [BlogFactory.create() for _ in views]
    for blog, count in zip(blogs, views, strict=True):
        for minute in range(count):
            BlogViewFactory(blog=blog, timestamp=START + timedelta(minutes=minute))
    BlogViewFactory(blog=blogs[0], timestamp=START - timedelta(days=1))  # outside the window: never counted
    few = summaries._few_views(np.array([blog.id for blog in blogs]), START, START + timedelta(days=1))
    if sum(views) > budget:
        assert not few
    if few:
        assert sum(views) <= budget
    if len(views) == 1:
        assert few == (views[0] <= budget)  # one blog: its share is the whole budget, so the answer is exact
