"""Gunicorn settings for the API: `gunicorn ideeza.wsgi:application -c gunicorn.conf.py`.

Read from the environment: PORT (default 8000), WEB_CONCURRENCY (default min(2 x CPUs + 1, 8)) and LOG_FORMAT / DEBUG
(gunicorn's own log lines are JSON like the application's unless LOG_FORMAT=text).
Gunicorn's own variables (GUNICORN_CMD_ARGS, FORWARDED_ALLOW_IPS) still apply on top.
"""

from __future__ import annotations

import os


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}.") from None
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, not {value}.")
    return value


def _usable_cpus() -> int:
    # os.cpu_count() reports the host's CPUs; the affinity mask is what a container may actually run on.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


# 0.0.0.0 because inside a container the published port arrives on the container's interface, not loopback.
bind = f"0.0.0.0:{_env_int('PORT', 8000)}"

# Sync workers: every request is a short database query, so processes (not threads) are the unit of
# concurrency. The cap keeps a large host from opening dozens of database connections per container.
workers = _env_int("WEB_CONCURRENCY", min(2 * _usable_cpus() + 1, 8))

# A query that takes longer than this is a bug to fix, not a request to wait for; the same budget lets
# in-flight requests finish on SIGTERM before the orchestrator's own kill timeout.
timeout = 30
graceful_timeout = 30
# The sync worker closes every connection after its response and ignores this; it takes effect only if the
# worker class is switched (e.g. GUNICORN_CMD_ARGS="--worker-class gthread --threads 4").
keepalive = 5

# Recycle workers now and then to bound slow memory growth; the jitter stops them all restarting together.
max_requests = 2000
max_requests_jitter = 200

# Logs go to the container's stdout/stderr, where `docker logs` and log shippers expect them. No access log: the
# application writes one line per request itself (logger "ideeza.request", ideeza/middleware.py) with what gunicorn
# cannot know (cache HIT/MISS, user, request id), so gunicorn's would only double every line. With LOG_FORMAT=text
# gunicorn logs as it does by default, and GUNICORN_CMD_ARGS="--access-logfile -" brings its access log back.
accesslog = None
errorlog = "-"

# gunicorn's own lines (start-up, worker timeouts and crashes) in the application's format: with LOG_FORMAT=json
# (the default unless DEBUG is on, as in ideeza/settings.py) one JSON object per line, like every other line.
_debug = os.environ.get("DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
if (os.environ.get("LOG_FORMAT", "").strip().lower() or ("text" if _debug else "json")) == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            # Silent (see accesslog above): this dictionary replaces any handler --access-logfile would add.
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        },
        "formatters": {"json": {"()": "ideeza.logs.JsonFormatter"}},
    }

# The worker heartbeat (an fchmod on a temp file) can block on a disk-backed filesystem such as a
# container's overlay layer long enough to get a worker killed as "timed out"; tmpfs never blocks.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# The control socket would be created under $HOME; the container's user has no use for it (the orchestrator
# restarts and scales the service), and a read-only or missing home directory must not stop the server.
control_socket_disable = True
