"""Following the catalogue through its log (docs/design.md, "A new post"; migration 0011, PostgreSQL only).

SPEC §4 is what is at stake: a listing brought up to date blog by blog must be exactly the listing a whole read in
the same snapshot gives, whatever was written in between and in whatever order concurrent writers committed. These
tests commit for real (``transaction=True``): a listing read inside a transaction that wrote is never followed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.filters import ViewFilters
from analytics.models import Blog, Country, DataVersion
from analytics.selectors import catalogue as catalogue_module
from analytics.selectors.catalogue import Listing, catalogue, listing_follow
from analytics.selectors.catalogue import listing_read as whole_read  # not the counted one
from analytics.services.cataloguelog import catalogue_log_prune
from analytics.tests.factories import BlogFactory, CountryFactory, UserFactory
from analytics.transactions import repeatable_read

pytestmark = pytest.mark.django_db(transaction=True)
UNFILTERED = ViewFilters()


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("The catalogue log is PostgreSQL's (migration 0011); SQLite reads the listing whole.")


@pytest.fixture
def whole_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the listings ``catalogue`` reads whole (every other new listing was followed)."""
    reads: list[int] = []
    read = catalogue_module.listing_read

    def counted() -> Listing:
        reads.append(1)
        return read()

    monkeypatch.setattr(catalogue_module, "listing_read", counted)
    yield reads


@pytest.fixture
def blogs() -> list[Blog]:
    # The rows migrations 0002 and 0006 insert: a ``transaction=True`` test before this one flushed them.
    for row in (DataVersion.ANSWERS, DataVersion.CATALOGUE):
        DataVersion.objects.get_or_create(pk=row, defaults={"value": 0})
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    CountryFactory(code="US", name="United States")
    return [BlogFactory.create(title=f"Post {n}", author=alice if n % 2 else bob) for n in range(6)]


def _listed(listing: Listing) -> tuple:  # type: ignore[type-arg]
    """Everything an answer takes from a listing, titles and usernames included."""
    return (
        listing.blog_ids.tolist(),
        listing.author_ids[listing.author_index].tolist(),
        listing.author_ids.tolist(),
        listing.country_ids.tolist(),
        listing.codes,
        listing.titles(range(len(listing.blog_ids))),
        listing.usernames(range(len(listing.author_ids))),
    )


def _current() -> Listing:
    """The listing through the cache, read in one snapshot beside a whole read to compare it with."""
    with repeatable_read(read_only=True):
        listing = catalogue(UNFILTERED).listing
        assert _listed(listing) == _listed(whole_read())
    return listing


FOLLOWED: dict[str, Callable[[list[Blog]], object]] = {
    "new-blog": lambda b: BlogFactory.create(title="Fresh", author=b[0].author),
    "new-blog-new-author": lambda b: BlogFactory.create(title="Debut", author=UserFactory(username="carol")),
    "many-new-blogs": lambda b: Blog.objects.bulk_create(
        [Blog(title=f"Bulk {n}", author=b[n % 2].author) for n in range(50)]
    ),
    "rename": lambda b: Blog.objects.filter(pk=b[1].pk).update(title="Renamed"),
    "reassign": lambda b: Blog.objects.filter(pk=b[1].pk).update(author=b[0].author),
    "reassign-to-new-author": lambda b: Blog.objects.filter(pk=b[2].pk).update(author=UserFactory(username="dave")),
    "delete-blog": lambda b: Blog.objects.filter(pk=b[3].pk).delete(),
    "delete-an-authors-last-blogs": lambda b: Blog.objects.filter(author=b[0].author).delete(),
    # Countries are read again by every follow; usernames are forgotten and looked up again.
    "new-country": lambda b: CountryFactory(code="ES", name="Spain"),
    "recode": lambda b: Country.objects.filter(code="US").update(code="UM"),
    "delete-country": lambda b: Country.objects.filter(code="US").delete(),
    "rename-author": lambda b: User.objects.filter(pk=b[0].author_id).update(username="ALICE"),
    "delete-author": lambda b: User.objects.filter(pk=b[1].author_id).delete(),
}


@pytest.mark.parametrize("write", FOLLOWED.values(), ids=FOLLOWED.keys())
def test_a_catalogue_write_is_followed_and_equals_a_whole_read(blogs, whole_reads, write):
    before = _current()
    _listed(before)  # remember every title and username, as answers do
    assert before.snapshot is not None and len(whole_reads) == 1
    write(blogs)
    after = _current()  # compares every id, author, country, title and username with a whole read
    assert after is not before and len(whole_reads) == 1  # followed, not read again
    assert _current() is after  # and cached under the new token


@pytest.mark.parametrize("write", FOLLOWED.values(), ids=FOLLOWED.keys())
def test_an_older_listing_keeps_its_own_names_after_a_newer_one_follows_it(blogs, whole_reads, write):
    """A followed listing shares the remembered titles and usernames with the one it followed where both snapshots
    name them alike (new posts, a new country): the older listing, still cached for requests of its snapshot,
    must never give a name the newer one read."""
    before = _current()
    names = _listed(before)
    write(blogs)
    _current()  # the newer listing, which remembers every name of its own snapshot
    assert len(whole_reads) == 1
    assert _listed(before) == names


def test_a_truncated_catalogue_table_reads_the_listing_whole(blogs, whole_reads):
    """TRUNCATE fires no row triggers: its statement trigger logs a reset, so no listing follows across it."""
    _current()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE analytics_blog CASCADE")
    BlogFactory.create(title="After the truncate", author=blogs[0].author)
    after = _current()
    assert len(whole_reads) == 2 and len(after.blog_ids) == 1


def test_a_log_that_cannot_be_read_costs_a_whole_read_not_the_answer(blogs, whole_reads):
    _current()
    BlogFactory.create(title="Fresh", author=blogs[0].author)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE analytics_cataloguelog RENAME TO analytics_cataloguelog_away")
    try:
        after = _current()  # compares with a whole read, in one REPEATABLE READ transaction that goes on
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE analytics_cataloguelog_away RENAME TO analytics_cataloguelog")
    assert len(whole_reads) == 2 and "Fresh" in after.titles(range(len(after.blog_ids)))


def test_a_lower_id_committed_after_the_listing_was_read_is_followed(blogs, whole_reads):
    """The case a sequence number gets wrong: a transaction that began before the listing was read takes the lower
    blog id and commits after it. (Blog writers queue on the DataVersion row their triggers update, so the test
    reserves the id first and inserts after the listing is read.)"""
    reserved, go_on, done = threading.Event(), threading.Event(), threading.Event()

    def late() -> None:
        try:
            with transaction.atomic():
                UserFactory(username="late-author")  # any write: the transaction now has its id
                with connection.cursor() as cursor:
                    cursor.execute("SELECT nextval(pg_get_serial_sequence('analytics_blog', 'id'))")
                    (blog_id,) = cursor.fetchone()
                reserved.set()
                assert go_on.wait(30)
                BlogFactory.create(id=blog_id, title="Late", author=blogs[0].author)
        finally:
            done.set()
            connections.close_all()

    thread = threading.Thread(target=late)
    thread.start()
    assert reserved.wait(30)
    early = BlogFactory.create(title="Early", author=blogs[1].author)  # a higher id, committed first
    seen = _current()
    assert early.pk in seen.blog_ids and "Late" not in seen.titles(range(len(seen.blog_ids)))
    go_on.set()
    assert done.wait(30)
    thread.join(30)
    after = _current()  # compares with a whole read
    assert "Late" in after.titles(range(len(after.blog_ids)))
    assert len(after.blog_ids) == len(seen.blog_ids) + 1 and len(whole_reads) == 1


def test_an_older_snapshot_never_takes_a_newer_listing(blogs, whole_reads):
    """A request whose snapshot predates the newest listing (another thread read it later) must not follow it: that
    listing holds a blog the older snapshot cannot see."""
    older_started, newer_read, done = threading.Event(), threading.Event(), threading.Event()
    answers: list[tuple] = []  # type: ignore[type-arg]

    def older() -> None:
        try:
            with repeatable_read(read_only=True):
                catalogue_module.catalogue_token()  # the snapshot is taken here
                older_started.set()
                assert newer_read.wait(30)
                catalogue_module._cache = catalogue_module.CatalogueCache(catalogue_module.CACHE_BUDGET_BYTES)
                answers.append((_listed(catalogue(UNFILTERED).listing), _listed(whole_read())))
        finally:
            done.set()
            connections.close_all()

    thread = threading.Thread(target=older)
    thread.start()
    assert older_started.wait(30)
    BlogFactory.create(title="Newer", author=blogs[0].author)
    _current()
    newer_read.set()
    assert done.wait(60)
    thread.join(30)
    ((followed, whole),) = answers
    assert followed == whole
    assert "Newer" not in followed[5]


def test_a_rolled_back_blog_never_reaches_a_later_listing(blogs, whole_reads):
    _current()
    with pytest.raises(RuntimeError), transaction.atomic():
        BlogFactory.create(title="Draft", author=blogs[0].author)
        inside = catalogue(UNFILTERED).listing
        assert inside.snapshot is None  # read by a transaction that wrote: never followed
        raise RuntimeError("roll back")
    BlogFactory.create(title="Published", author=blogs[0].author)
    after = _current()
    assert "Draft" not in after.titles(range(len(after.blog_ids)))
    assert len(whole_reads) == 1


def test_pruning_the_log_makes_older_listings_read_whole(blogs, whole_reads):
    before = _current()
    Blog.objects.bulk_create([Blog(title=f"Bulk {n}", author=blogs[0].author) for n in range(30)])
    assert catalogue_log_prune(above=20, keep=5) > 0
    assert listing_follow(before) is None  # the NULL row of the pruning: it may have dropped a change it missed
    _current()
    assert len(whole_reads) == 2
    BlogFactory.create(title="After the pruning", author=blogs[1].author)
    _current()
    assert len(whole_reads) == 2  # a listing read after the pruning follows again
    assert catalogue_log_prune(above=10_000) == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.lists(
            st.tuples(st.sampled_from(["insert", "rename", "reassign", "delete", "new-author"]), st.integers(0, 50)),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_sequence_of_blog_writes_is_followed_exactly(blogs, whole_reads, steps):
    """Hypothesis: random writes between reads; every followed listing equals a whole read of the same snapshot."""
    authors = list(User.objects.order_by("pk"))
    _current()
    reads_before = len(whole_reads)
    for writes in steps:
        with transaction.atomic():  # several writes in one transaction share one xid
            for kind, pick in writes:
                existing = list(Blog.objects.order_by("pk").values_list("pk", flat=True))
                target = existing[pick % len(existing)] if existing else None
                if kind == "insert" or target is None:
                    BlogFactory.create(title=f"t{pick}", author=authors[pick % len(authors)])
                elif kind == "rename":
                    Blog.objects.filter(pk=target).update(title=f"r{pick}")
                elif kind == "reassign":
                    Blog.objects.filter(pk=target).update(author=authors[pick % len(authors)])
                elif kind == "delete":
                    Blog.objects.filter(pk=target).delete()
                else:
                    authors.append(UserFactory.create())
                    Blog.objects.filter(pk=target).update(author=authors[-1])
        _current()
    assert len(whole_reads) == reads_before
