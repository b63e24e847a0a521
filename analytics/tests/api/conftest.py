"""The API tests share the hand-computed data set of analytics/tests/conftest.py."""

from analytics.tests.conftest import NOW, Dataset, at

__all__ = ["NOW", "Dataset", "at"]
