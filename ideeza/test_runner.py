"""Lets ``python manage.py test`` run the pytest suite, so both commands run the same tests."""

from __future__ import annotations

import os
from typing import Any


class PytestTestRunner:
    def __init__(self, verbosity: int = 1, failfast: bool = False, keepdb: bool = False, **kwargs: Any) -> None:
        self.verbosity = verbosity
        self.failfast = failfast
        self.keepdb = keepdb

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        parser.add_argument("--keepdb", action="store_true", help="Preserve the test database between runs.")

    def run_tests(self, test_labels: list[str], **kwargs: Any) -> int:
        import pytest

        # manage.py has already configured Django with --settings; pytest-django must use the same module.
        argv = ["--ds", os.environ["DJANGO_SETTINGS_MODULE"]]
        if self.verbosity == 0:
            argv.append("--quiet")
        elif self.verbosity > 1:
            argv.append("--verbose")
        if self.failfast:
            argv.append("--exitfirst")
        if self.keepdb:
            argv.append("--reuse-db")
        return pytest.main([*argv, *test_labels])
