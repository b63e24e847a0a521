"""factory-boy factories for the analytics models."""

from __future__ import annotations

import factory
from django.contrib.auth.models import User
from django.utils import timezone

from analytics.models import Blog, BlogView, Country


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"author{n}")


class CountryFactory(factory.django.DjangoModelFactory[Country]):
    class Meta:
        model = Country
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"C{n}")
    name = factory.LazyAttribute(lambda country: f"Country {country.code}")


class BlogFactory(factory.django.DjangoModelFactory[Blog]):
    class Meta:
        model = Blog

    title = factory.Sequence(lambda n: f"Blog {n}")
    author = factory.SubFactory(UserFactory)
    content = "Lorem ipsum."
    created_at = factory.LazyFunction(timezone.now)


class BlogViewFactory(factory.django.DjangoModelFactory[BlogView]):
    class Meta:
        model = BlogView

    blog = factory.SubFactory(BlogFactory)
    country = factory.SubFactory(CountryFactory)
    viewer = None
    ip_address = None
    timestamp = factory.LazyFunction(timezone.now)
