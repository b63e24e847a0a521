"""Settings for the test suite: the real settings with a fixed key and fast hashing.

DATABASE_URL and REDIS_URL are honoured, so the same suite runs on SQLite + local memory (default)
and on PostgreSQL + Redis (CI's second leg).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-for-hs256")

from ideeza.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
