#!/bin/sh
# Container entry point: wait for the database, apply migrations, then exec the command (gunicorn by default),
# so the command runs as PID 1 and receives the orchestrator's SIGTERM directly.
#
#   IDEEZA_DB_WAIT_SECONDS   how long to wait for the database before giving up (default 60)
#   IDEEZA_MIGRATE_ON_START  "false" skips `migrate`, e.g. when a release job runs it once for many replicas
set -eu

wait_seconds="${IDEEZA_DB_WAIT_SECONDS:-60}"
migrate_on_start="${IDEEZA_MIGRATE_ON_START:-true}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-ideeza.settings}"

# Exit status 75 (EX_TEMPFAIL) means "not reachable yet, try again"; anything else that fails is a
# configuration mistake (a missing SECRET_KEY, a malformed DATABASE_URL) and must stop the container at once
# instead of being retried for a minute.
database_ready() {
    python - <<'PY'
import sys

import django

django.setup()
from django.db import OperationalError, connection

try:
    connection.ensure_connection()
except OperationalError as exc:
    print(f"entrypoint: database not reachable yet: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
    sys.exit(75)
PY
}

waited=0
while :; do
    status=0
    database_ready || status=$?
    if [ "$status" -eq 0 ]; then
        break
    fi
    if [ "$status" -ne 75 ]; then
        echo "entrypoint: cannot check the database (see the error above); not retrying." >&2
        exit "$status"
    fi
    if [ "$waited" -ge "$wait_seconds" ]; then
        echo "entrypoint: the database did not answer within ${wait_seconds}s; check DATABASE_URL." >&2
        exit 1
    fi
    sleep 2
    waited=$((waited + 2))
done

case "$migrate_on_start" in
    1 | true | yes | on) python manage.py migrate --noinput ;;
    *) echo "entrypoint: IDEEZA_MIGRATE_ON_START=${migrate_on_start}; skipping migrations." ;;
esac

exec "$@"
