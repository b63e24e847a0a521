"""What the harnesses record about the machine and the code they measured (the environment of their reports)."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from typing import Any

import redis

from bench.processes import REPO_ROOT


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(redis_url: str) -> dict[str, Any]:
    import django
    import gunicorn
    import numpy

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    try:
        redis_version = str(client.info("server").get("redis_version", "?"))
    finally:
        client.close()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": affinity,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "numpy": numpy.__version__,
        "redis": redis_version,
        "git_commit": git("rev-parse", "HEAD").strip(),
        "git_dirty": [line[3:] for line in git("status", "--porcelain").splitlines() if line],
        "load_before": load_average(),
    }
