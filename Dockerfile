# syntax=docker/dockerfile:1
# Ideeza Analytics API: gunicorn serving ideeza.wsgi, Swagger/ReDoc assets served by WhiteNoise from the
# installed apps (WHITENOISE_USE_FINDERS), so there is no collectstatic step.
#
#   docker build -t ideeza-analytics .
#   docker run -p 8000:8000 -e SECRET_KEY=... -e DATABASE_URL=postgres://... -e REDIS_URL=redis://... ideeza-analytics

ARG PYTHON_VERSION=3.11

# --- build: dependencies into a virtualenv, so the runtime stage copies one directory and no pip state -------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

# Requirements first: the dependency layer is rebuilt only when requirements.txt changes, not on every edit.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

# --- runtime -------------------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime

ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=ideeza.settings \
    DEBUG=false \
    PORT=8000

# A fixed uid/gid so volume permissions and Kubernetes runAsUser are predictable.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY . .
# Code stays root-owned (the server cannot rewrite itself); only /app itself is the app user's, so the
# SQLite fallback database and the precalculate_stats file lock can be created when no server is configured.
# Byte-compiling here means workers start without writing __pycache__.
RUN chmod 0755 docker/entrypoint.sh \
    && python -m compileall -q ideeza analytics \
    && chown app:app /app

USER app:app

EXPOSE 8000

# Exit status 0 only for a 200 from /healthz (urllib raises on 503). The Host header is the first
# ALLOWED_HOSTS entry, so the probe is not rejected as a disallowed host when ALLOWED_HOSTS is not localhost.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; host = os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].strip().lstrip('.*') or 'localhost'; r.urlopen(r.Request('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', headers={'Host': host}), timeout=4)"]

ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["gunicorn", "ideeza.wsgi:application", "-c", "gunicorn.conf.py"]
