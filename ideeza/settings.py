"""Settings for the Ideeza Analytics API, read from the environment once, at import.

Every variable is documented in README.md ("Environment variables").
"""

from __future__ import annotations

import importlib.util
import os
import re
import zoneinfo
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set DEBUG=true for local development).")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

# HTTPS. Every default is off so that `make run`, the tests, the benchmarks and `docker compose up` keep working
# over plain http://127.0.0.1; the production environment in the README turns them on
# (`manage.py check --deploy` then reports nothing).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# The health check is probed over plain HTTP from inside the container / by the orchestrator: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
# Behind a TLS-terminating proxy: the header it sets to "https" on secure requests, e.g. X-Forwarded-Proto.
# Only set it when that proxy always sets (or strips) the header, or a client could claim HTTPS itself.
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER: tuple[str, str] | None = None
if _proxy_ssl_header:
    if not re.fullmatch(r"[A-Za-z0-9-]+", _proxy_ssl_header):
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto, not {_proxy_ssl_header!r}."
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    # Its abstract key model and hasher; the concrete key model is analytics.ScopedAPIKey (its own table stays empty).
    "rest_framework_api_key",
    "drf_yasg",
    "analytics",
]

MIDDLEWARE = [
    # Outermost, so the request line times (and logs) everything below, redirects and errors included.
    "ideeza.middleware.RequestLogMiddleware",
    # Next, so that with DEBUG on an error under /api/ is still the one shape, not Django's HTML debug page.
    "ideeza.middleware.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ideeza.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "ideeza.wsgi.application"
# `manage.py test` runs the pytest suite (see ideeza/test_runner.py).
TEST_RUNNER = "ideeza.test_runner.PytestTestRunner"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}

# Read replicas (SPEC §10, analytics/replicas.py): PostgreSQL streaming replicas of DATABASE_URL, comma-separated.
# Answers are computed on one only when it has applied every write the primary had committed at request start.
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS", [])
if DATABASE_REPLICA_URLS and not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL (streaming replicas).")
# How long a replica that refused or dropped a connection is left alone (per process), and how long connecting to
# one may take before the request goes elsewhere.
IDEEZA_REPLICA_RETRY_SECONDS = env_int("IDEEZA_REPLICA_RETRY_SECONDS", 5, minimum=1)
IDEEZA_REPLICA_CONNECT_TIMEOUT = env_int("IDEEZA_REPLICA_CONNECT_TIMEOUT", 2, minimum=1)
# Diagnostics only: false reads any replica without the fence, as Django's usual replica routers do. Answers may
# then lag the writes (SPEC §4 no longer holds); the cluster tests use it to show the fence is what keeps them exact.
IDEEZA_REPLICA_FENCE = env_bool("IDEEZA_REPLICA_FENCE", True)
IDEEZA_REPLICA_ALIASES: list[str] = []
for _number, _url in enumerate(DATABASE_REPLICA_URLS, start=1):
    _replica = dj_database_url.parse(_url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True)
    if not _replica["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URLS: {_url!r} is not a postgres:// URL.")
    _replica["OPTIONS"] = {**_replica.get("OPTIONS", {}), "connect_timeout": IDEEZA_REPLICA_CONNECT_TIMEOUT}
    # The test runner creates no database on a replica (it is read-only): in tests it is the primary's.
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica{_number}"] = _replica
    IDEEZA_REPLICA_ALIASES.append(f"replica{_number}")
DATABASE_ROUTERS = ["analytics.replicas.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The (blog, timestamp) index covers the country on PostgreSQL (INCLUDE); SQLite builds it without the extra
# column, which is all the embedded default needs, so its warning would only alarm a newcomer.
SILENCED_SYSTEM_CHECKS = ["models.W040"] if DATABASES["default"]["ENGINE"].endswith("sqlite3") else []

REDIS_URL = os.environ.get("REDIS_URL", "")
CACHE_TIMEOUT = env_int("IDEEZA_CACHE_TIMEOUT", 900)


def _sentinel(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ImproperlyConfigured(f"REDIS_SENTINELS must list host:port pairs, not {address!r}.")
    return host.strip("[]"), int(port)


# Redis Sentinel (SPEC §10, ideeza/redis_client.py): the cache, the sketches and the fold lock follow a failover.
# REDIS_URL then only gives the database number and the password; the sentinels name the master.
REDIS_SENTINELS = [_sentinel(address) for address in env_list("REDIS_SENTINELS", [])]
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "").strip()
_cache_options: dict[str, Any] = {}
if REDIS_SENTINELS:
    if not REDIS_SENTINEL_MASTER:
        raise ImproperlyConfigured("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER, the name the sentinels monitor.")
    _given = urlparse(REDIS_URL or "redis://")
    _credentials = _given.netloc.rpartition("@")[0]
    # django-redis's sentinel pool reads the master's name where a host would be.
    REDIS_URL = f"redis://{_credentials + '@' if _credentials else ''}{REDIS_SENTINEL_MASTER}{_given.path or '/0'}"
    _cache_options = {
        "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
        "SENTINELS": REDIS_SENTINELS,
        "SENTINEL_KWARGS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
    }
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": CACHE_TIMEOUT,
            "KEY_PREFIX": "ideeza",
            "OPTIONS": {
                # The master only, with or without sentinels: the health probe reads back what it wrote.
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # A cache outage must slow requests down, never fail them (SPEC §7).
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                **_cache_options,
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "ideeza",
            "TIMEOUT": CACHE_TIMEOUT,
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
USE_I18N = False
USE_TZ = True

# The reporting timezone (SPEC §2). Django's current timezone is the reporting timezone, so every
# day, week, month and year bucket is taken in it; the database keeps UTC.
TIME_ZONE = os.environ.get("IDEEZA_TIMEZONE", "UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"IDEEZA_TIMEZONE={TIME_ZONE!r} is not an IANA timezone name such as 'Europe/Berlin'."
    ) from None

STATIC_URL = "static/"
# WhiteNoise serves the Swagger UI / ReDoc assets bundled with drf-yasg straight from the installed apps:
# no collectstatic step, no CDN.
WHITENOISE_USE_FINDERS = True
# uPlot (the dashboard's chart library) is served from the installed uplot-python package, not copied into the repo.
# find_spec, not import: importing uplot would import IPython.
_uplot_spec = importlib.util.find_spec("uplot")
STATICFILES_DIRS = (
    [("vendor/uplot", str(Path(next(iter(_uplot_spec.submodule_search_locations))) / "static"))]
    if _uplot_spec and _uplot_spec.submodule_search_locations
    else []
)
WHITENOISE_AUTOREFRESH = DEBUG
SWAGGER_USE_COMPAT_RENDERERS = False

IDEEZA_API_OPEN = env_bool("IDEEZA_API_OPEN", True)
IDEEZA_USE_HLL = env_bool("IDEEZA_USE_HLL", False)
# Per process: the fast path's cached listings and filter masks (analytics/selectors/catalogue.py).
IDEEZA_CATALOGUE_CACHE_MB = env_int("IDEEZA_CATALOGUE_CACHE_MB", 64, minimum=1)
IDEEZA_PERFORMANCE_X_METRIC = os.environ.get("IDEEZA_PERFORMANCE_X_METRIC", "viewed").strip().lower()
if IDEEZA_PERFORMANCE_X_METRIC not in {"viewed", "created"}:
    raise ImproperlyConfigured(
        f"IDEEZA_PERFORMANCE_X_METRIC must be 'viewed' or 'created', not {IDEEZA_PERFORMANCE_X_METRIC!r}."
    )

# Which read path answers the API: "summaries" (pre-aggregated, default) or "reference" (raw scan, the oracle).
IDEEZA_QUERY_ENGINE = os.environ.get("IDEEZA_QUERY_ENGINE", "summaries").strip().lower()
if IDEEZA_QUERY_ENGINE not in {"summaries", "reference"}:
    raise ImproperlyConfigured(f"IDEEZA_QUERY_ENGINE must be 'summaries' or 'reference', not {IDEEZA_QUERY_ENGINE!r}.")

STATSD_HOST = os.environ.get("STATSD_HOST", "")
STATSD_PORT = env_int("STATSD_PORT", 8125, minimum=1)

REST_FRAMEWORK: dict[str, Any] = {
    # JWT first: a request without credentials is told `WWW-Authenticate: Bearer` (API keys are the other way in).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "analytics.api.keys.APIKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["analytics.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "ideeza.exceptions.api_exception_handler",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 30, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 1, minimum=1)),
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SWAGGER_SETTINGS = {
    "SECURITY_DEFINITIONS": {
        "Bearer": {"type": "apiKey", "name": "Authorization", "in": "header", "description": "`Bearer <access token>`"},
        "Api-Key": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": "`Api-Key <key>` (manage.py create_api_key): the key's fixed scope, one author or all.",
        },
    },
    "USE_SESSION_AUTH": False,
}

# Logs go to stderr: one JSON object per line (LOG_FORMAT=json, the default unless DEBUG) or plain text.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "").strip().lower() or ("text" if DEBUG else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'text', not {LOG_FORMAT!r}.")
# One line per request on the "ideeza.request" logger (ideeza/middleware.py).
LOG_REQUESTS = env_bool("LOG_REQUESTS", True)
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "ideeza.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django_redis": {"level": "WARNING"},
        # Every response already has its request line; django.request keeps only the 5xx, with their traceback.
        "django.request": {"level": "ERROR"},
    },
}

# Largest JSON body the API reads; a larger one is a 400 (SPEC §6).
IDEEZA_MAX_BODY_BYTES = env_int("IDEEZA_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# DRF reads a JSON body through request.body, where Django enforces its own limit first: one limit, one answer.
DATA_UPLOAD_MAX_MEMORY_SIZE = IDEEZA_MAX_BODY_BYTES
# DRF throttle rates such as "100/second"; unset = no throttling of query endpoints.
IDEEZA_QUERY_THROTTLE_RATE = os.environ.get("IDEEZA_QUERY_THROTTLE_RATE") or None
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"analytics-query": IDEEZA_QUERY_THROTTLE_RATE}

# precalculate_stats: how long a Redis lock lives without its heartbeat, and the file lock used without
# Redis or PostgreSQL.
IDEEZA_LOCK_TTL_SECONDS = env_int("IDEEZA_LOCK_TTL_SECONDS", 30, minimum=3)
IDEEZA_LOCK_FILE = os.environ.get("IDEEZA_LOCK_FILE") or str(BASE_DIR / ".precalculate_stats.lock")

# Event ingestion (docs/ingestion.md): per-user DRF rate such as "1200/minute" (unset = that default; "off" = not
# throttled). A malformed rate would only fail at the first request, so it is checked here.
_ingest_rate = os.environ.get("IDEEZA_INGEST_THROTTLE_RATE", "").strip() or "1200/minute"
IDEEZA_INGEST_THROTTLE_RATE: str | None = None if _ingest_rate.lower() == "off" else _ingest_rate
if IDEEZA_INGEST_THROTTLE_RATE is not None:
    _count, _, _period = IDEEZA_INGEST_THROTTLE_RATE.partition("/")
    if not (_count.isdigit() and int(_count) > 0 and _period[:1] in {"s", "m", "h", "d"}):
        raise ImproperlyConfigured(
            f"IDEEZA_INGEST_THROTTLE_RATE must look like '1200/minute' (per second, minute, hour or day) or be "
            f"'off', not {_ingest_rate!r}."
        )
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["analytics-ingest"] = IDEEZA_INGEST_THROTTLE_RATE

# Failed sign-ins on /api/token/ (ideeza/signin.py): this many failures for one username, or from one client
# address, within IDEEZA_LOGIN_LOCKOUT_SECONDS lock that username (address) out for IDEEZA_LOGIN_LOCKOUT_SECONDS.
IDEEZA_LOGIN_FAILURES_PER_USERNAME = env_int("IDEEZA_LOGIN_FAILURES_PER_USERNAME", 5, minimum=1)
IDEEZA_LOGIN_FAILURES_PER_ADDRESS = env_int("IDEEZA_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
IDEEZA_LOGIN_LOCKOUT_SECONDS = env_int("IDEEZA_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# How many proxies in front of the service append to X-Forwarded-For: the client address is the one the outermost
# of them saw. 0 (default): the TCP peer (REMOTE_ADDR), since a client can write any X-Forwarded-For it likes.
IDEEZA_TRUSTED_PROXIES = env_int("IDEEZA_TRUSTED_PROXIES", 0)
