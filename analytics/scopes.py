"""Who sees what (SPEC §9): a caller's scope, and a request narrowed to it.

A scope is *all* views or the views of one author's blogs. A scoped answer is exactly the answer of the same
request with ``{"eq": {"field": "author", "value": <author>}}`` ANDed to its filters: ``scope_query`` writes the
scope into the parsed query itself, so the fast path serves it unchanged and every cache keyed by the query (the
response cache, the ETag, the catalogue cache) is keyed by the scope too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from analytics.filters import AnalyticsQuery
from analytics.models import ScopedAPIKey

VIEW_ALL_PERMISSION = "analytics.view_all_analytics"


@dataclass(frozen=True)
class Scope:
    """``author`` is the username whose blogs the caller may see; ``None`` means every blog."""

    author: str | None = None

    @property
    def is_all(self) -> bool:
        return self.author is None


ALL = Scope()


def scope_query(query: AnalyticsQuery, scope: Scope) -> AnalyticsQuery:
    """The request as ``scope`` may see it: unchanged for *all*, else narrowed to the author's blogs (SPEC §9).

    The scope rides in ``ViewFilters.scope_author`` rather than in the tree: for views the two are the same
    predicate, but a tree that names a country does not restrict blog creations (SPEC §5, the ``created`` x
    metric) and the scope must, or an author would count other authors' new blogs.
    """
    if scope.author is None:
        return query
    return replace(query, filters=replace(query.filters, scope_author=scope.author))


def caller_scope(user: Any, auth: Any) -> Scope:
    """SPEC §9: an API key has the scope fixed at its creation; staff and holders of ``view_all_analytics`` see
    all; any other authenticated user sees their own blogs; an anonymous caller (only let in while
    IDEEZA_API_OPEN=true) sees all."""
    if isinstance(auth, ScopedAPIKey):
        return key_scope(auth)
    if user is None or not user.is_authenticated:
        return ALL
    if user.is_staff or user.has_perm(VIEW_ALL_PERMISSION):
        return ALL
    return Scope(author=user.get_username())


def key_scope(key: ScopedAPIKey) -> Scope:
    """An API key's scope: its author's blogs (by the author's current username), or all when it has none."""
    return ALL if key.author is None else Scope(author=key.author.get_username())


def ingest_scope(auth: Any) -> Scope:
    """Whose blogs a writer may record views of (SPEC §9): an API key's scope; any blog for a user holding the
    ingest permission (the collectors of ``create_ingest_user`` own no blogs)."""
    return key_scope(auth) if isinstance(auth, ScopedAPIKey) else ALL
