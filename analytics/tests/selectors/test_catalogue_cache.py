"""The catalogue cache (docs/design.md, query path step 1): read once per catalogue token, never stale.

SPEC §4 (exactness) is what is at stake: a cached catalogue that outlived a rename, a new blog or a recoded
country would put a wrong title or count in an answer. The token (DataVersion row 2, migration 0006) must change
with every catalogue write and with nothing else.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from analytics.filters import Leaf, Operator, TreeField, ViewFilters
from analytics.models import Blog, BlogView, Country
from analytics.selectors import catalogue as catalogue_module
from analytics.selectors.catalogue import CatalogueCache, catalogue, catalogue_read, catalogue_token
from analytics.tests.conftest import at
from analytics.tests.factories import BlogFactory, CountryFactory, UserFactory

UNFILTERED = ViewFilters()
TITLE_TIPS = ViewFilters(tree=Leaf(Operator.CONTAINS, TreeField.BLOG_TITLE, ("tips",)))


def _listed(book) -> tuple:  # type: ignore[no-untyped-def]
    """Everything an answer can take from a catalogue: ids, authors, countries, every title and username, the mask."""
    listing, mask = book.listing, book.mask
    every = range(len(listing.blog_ids))
    return (
        listing.blog_ids.tolist(),
        listing.author_index.tolist(),
        listing.country_ids.tolist(),
        listing.codes,
        listing.titles(every),
        listing.usernames(range(len(listing.author_ids))),
        [None if part is None else part.tolist() for part in (mask.blogs, mask.columns, mask.pairs)],
    )


def _same(left, right) -> bool:  # type: ignore[no-untyped-def]
    return _listed(left) == _listed(right)


def test_the_second_read_costs_one_query(dataset, django_assert_num_queries):
    first = catalogue(TITLE_TIPS)
    with django_assert_num_queries(1):  # the token
        second = catalogue(TITLE_TIPS)
    assert second.listing is first.listing and second.mask is first.mask
    assert _same(second, catalogue_read(TITLE_TIPS))
    assert second.mask.blogs is not None and not second.mask.blogs.flags.writeable
    assert not second.listing.blog_ids.flags.writeable


@pytest.mark.parametrize(
    "write",
    [
        lambda data: Blog.objects.filter(pk=data.b1.pk).update(title="Renamed tips"),
        lambda data: Blog.objects.filter(pk=data.b1.pk).update(author=data.b2.author),
        lambda data: BlogFactory.create(title="New tips", author=data.b1.author),
        lambda data: Blog.objects.filter(pk=data.b3.pk).delete(),
        lambda data: Country.objects.filter(code="DE").update(code="GE"),
        lambda data: CountryFactory(code="ES", name="Spain"),
        lambda data: Country.objects.filter(code="FR").delete(),
        lambda data: User.objects.filter(pk=data.b1.author_id).update(username="ALICE"),
        lambda data: User.objects.filter(pk=data.b2.author_id).delete(),
    ],
    ids=[
        "rename",
        "reassign",
        "new-blog",
        "delete-blog",
        "recode",
        "new-country",
        "delete-country",
        "rename-author",
        "delete-author",
    ],
)
def test_every_catalogue_write_renews_the_token_and_the_answer(dataset, write):
    before_token = catalogue_token()
    before = catalogue(TITLE_TIPS)
    seen_before = _listed(before)  # titles and usernames are read on demand: take them while they are current
    write(dataset)
    assert catalogue_token() != before_token
    after = catalogue(TITLE_TIPS)
    assert after.listing is not before.listing
    assert _same(after, catalogue_read(TITLE_TIPS))
    assert _listed(after) != seen_before


@pytest.mark.parametrize(
    "write",
    [
        lambda data: BlogView.objects.create(blog=data.b1, timestamp=at("2025-06-03T07:30")),
        lambda data: BlogView.objects.filter(blog=data.b2).delete(),
        lambda data: UserFactory(username="carol"),  # a user who writes nothing is not in the catalogue
    ],
    ids=["view-insert", "view-delete", "new-user"],
)
def test_writes_outside_the_catalogue_keep_the_cached_catalogue(dataset, write):
    before_token = catalogue_token()
    before = catalogue(UNFILTERED)
    write(dataset)
    assert catalogue_token() == before_token
    assert catalogue(UNFILTERED).listing is before.listing


def test_a_rolled_back_change_leaves_the_cached_catalogue_right(dataset):
    """The token goes back with the rollback and so does the data: the entry cached under it is right again."""
    before = catalogue(UNFILTERED)
    with pytest.raises(RuntimeError), transaction.atomic():
        BlogFactory.create(title="Draft", author=dataset.b1.author)
        inside = catalogue(UNFILTERED)
        assert "Draft" in inside.listing.titles(range(len(inside.listing.blog_ids)))
        raise RuntimeError("roll back")
    after = catalogue(UNFILTERED)
    assert after.listing is before.listing
    assert _same(after, catalogue_read(UNFILTERED))


def test_the_cache_keeps_its_byte_budget_evicting_the_least_recently_used(dataset):
    book = catalogue_read(UNFILTERED).listing
    size = book.approximate_bytes()
    cache = CatalogueCache(budget_bytes=2 * size)
    cache.put("a", book)
    cache.put("b", catalogue_read(UNFILTERED).listing)
    assert cache.get("a") is book  # now "b" is the least recently used
    cache.put("c", catalogue_read(UNFILTERED).listing)
    assert cache.get("b") is None
    assert cache.get("a") is book
    assert cache.get("c") is not None
    CatalogueCache(budget_bytes=size - 1).put("too big", book)  # refused, not an error


def test_without_the_token_row_nothing_is_cached(dataset, django_assert_num_queries):
    from analytics.models import DataVersion

    DataVersion.objects.filter(pk=2).delete()
    catalogue(UNFILTERED)
    with django_assert_num_queries(3):  # the token, the blogs, the countries
        catalogue(UNFILTERED)
    assert catalogue_module.catalogue_token() is None


@pytest.mark.parametrize("given_as", ["author_username", "scope", "tree leaf"])
def test_an_authors_blogs_are_the_ones_the_database_says_they_wrote(db, given_as):
    """``author_username``, an author's scope and an author leaf of the tree keep the blogs whose author has that
    username (SPEC §3): the mask comes from the listing's authors, the database naming only the users. A user with
    no blogs, an unknown name and a name differing only in case keep nothing."""
    writers = [UserFactory(username="ann"), UserFactory(username="bob"), UserFactory(username="idle")]
    for index in range(7):
        BlogFactory(author=writers[index % 2])
    for username in ["ann", "bob", "idle", "nobody", "Ann"]:
        filters = {
            "author_username": ViewFilters(author_username=username),
            "scope": ViewFilters(scope_author=username),
            "tree leaf": ViewFilters(tree=Leaf(Operator.EQ, TreeField.AUTHOR, (username,))),
        }[given_as]
        book = catalogue(filters)
        kept = book.listing.blog_ids[book.mask.blogs].tolist()
        assert kept == sorted(Blog.objects.filter(author__username=username).values_list("id", flat=True)), username
    either = catalogue(ViewFilters(tree=Leaf(Operator.IN, TreeField.AUTHOR, ("bob", "nobody", "ann"))))
    expected = Blog.objects.filter(author__username__in=["bob", "ann"]).values_list("id", flat=True)
    assert either.listing.blog_ids[either.mask.blogs].tolist() == sorted(expected)
