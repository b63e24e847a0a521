"""The non-time filters of SPEC §3 as Django ``Q`` objects over ``BlogView`` (or ``Blog``, for creations).

Country codes are resolved through a sub-select on ``Country.code`` (stored upper-case), so a filter is
one SQL statement and an unknown code simply matches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from analytics.filters import Dimension, Leaf, Node, NotNode, Operator, TreeField, ViewFilters, Window
from analytics.models import Country


@dataclass(frozen=True)
class FieldPaths:
    """Where each filterable field lives, relative to the model being filtered."""

    author: str
    blog: str
    blog_title: str
    country: str | None


VIEW_PATHS = FieldPaths(author="blog__author__username", blog="blog_id", blog_title="blog__title", country="country_id")
BLOG_PATHS = FieldPaths(author="author__username", blog="id", blog_title="title", country=None)


def _country_ids(codes: Iterable[str]):  # type: ignore[no-untyped-def]
    return Country.objects.filter(code__in=sorted(codes)).values("id")


def leaf_q(leaf: Leaf, paths: FieldPaths) -> Q:
    if leaf.field.dimension is Dimension.COUNTRY:
        if paths.country is None:
            raise ValueError("country filters do not apply to this model")
        return Q(**{f"{paths.country}__in": _country_ids(str(code) for code in leaf.values)})
    if leaf.field is TreeField.BLOG_TITLE and leaf.op is Operator.CONTAINS:
        return Q(**{f"{paths.blog_title}__icontains": leaf.values[0]})
    path = {TreeField.AUTHOR: paths.author, TreeField.BLOG: paths.blog, TreeField.BLOG_TITLE: paths.blog_title}
    return Q(**{f"{path[leaf.field]}__in": list(leaf.values)})


def tree_q(node: Node, paths: FieldPaths = VIEW_PATHS) -> Q:
    if isinstance(node, Leaf):
        return leaf_q(node, paths)
    if isinstance(node, NotNode):
        # Django adds "IS NOT NULL" inside a negated lookup on a nullable column, so views with no
        # country satisfy "not country = X", as the SPEC's boolean reading of the tree wants.
        return ~tree_q(node.child, paths)
    combined = Q()
    for index, child in enumerate(node.children):
        child_q = tree_q(child, paths)
        combined = child_q if index == 0 else (combined & child_q if node.op == "and" else combined | child_q)
    return combined


def view_filters_q(filters: ViewFilters) -> Q:
    """All of SPEC §3's non-time filters, ANDed, over ``BlogView``."""
    q = Q()
    if filters.country_codes is not None:
        q &= Q(country_id__in=_country_ids(filters.country_codes))
    if filters.exclude_country_codes is not None:
        q &= ~Q(country_id__in=_country_ids(filters.exclude_country_codes))
    for username in (filters.author_username, filters.scope_author):
        if username is not None:
            q &= Q(blog__author__username=username)
    if filters.blog_id is not None:
        q &= Q(blog_id=filters.blog_id)
    if filters.tree is not None:
        q &= tree_q(filters.tree)
    return q


def creation_filters_q(filters: ViewFilters) -> Q:
    """SPEC §5's restriction of blog creations: author, blog, and a tree only when it names no country; and the
    caller's scope always (SPEC §9: another author's creations are outside it)."""
    q = Q()
    for username in (filters.author_username, filters.scope_author):
        if username is not None:
            q &= Q(author__username=username)
    if filters.blog_id is not None:
        q &= Q(id=filters.blog_id)
    if filters.tree is not None and not filters.names_country_in_tree:
        q &= tree_q(filters.tree, BLOG_PATHS)
    return q


def window_q(window: Window, field: str = "timestamp") -> Q:
    return instant_range_q(window.start, window.end, field)


def instant_range_q(start: datetime | None, end: datetime | None, field: str = "timestamp") -> Q:
    q = Q()
    if start is not None:
        q &= Q(**{f"{field}__gte": start})
    if end is not None:
        q &= Q(**{f"{field}__lt": end})
    return q
