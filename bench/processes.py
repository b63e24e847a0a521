"""Child processes of the harness: timed management commands and gunicorn servers spoken to over HTTP.

Everything here is started by the harness, in its own process group, and stopped by it; nothing listens on
anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STOP_GRACE_SECONDS = 40.0  # gunicorn's graceful_timeout is 30 s
# Settings a harness decides for every child it starts; inherited values would silently change what is measured.
HARNESS_DECIDES = frozenset(
    {
        "DATABASE_URL",
        "DATABASE_REPLICA_URLS",
        "REDIS_URL",
        "REDIS_SENTINELS",
        "REDIS_SENTINEL_MASTER",
        "DEBUG",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "DJANGO_SETTINGS_MODULE",
        "STATSD_HOST",
        "STATSD_PORT",
        "PORT",
        "WEB_CONCURRENCY",
        "GUNICORN_CMD_ARGS",
    }
)


class HarnessError(RuntimeError):
    """A step of the run failed; the message says which and where its log is."""


class Deadline:
    """The run's total time budget."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.seconds - self.elapsed()

    def check(self, what: str) -> None:
        if self.remaining() <= 0:
            raise HarnessError(f"The run's budget of {self.seconds:.0f} s ran out before {what}; raise --budget.")


# --- management commands -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChildRun:
    """A finished command: wall time from spawn to exit, and its peak resident set size (VmHWM)."""

    argv: tuple[str, ...]
    seconds: float
    peak_rss_mb: float
    returncode: int
    output: str
    log: Path


def manage(*args: str) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "manage.py"), *args]


def run_child(argv: list[str], *, env: dict[str, str], log: Path, timeout: float) -> ChildRun:
    """Run ``argv`` to the end, output to ``log``; fail loudly on a non-zero exit or after ``timeout`` seconds.

    The peak RSS is the ``ru_maxrss`` that ``wait4`` returns for this one child (the kernel's high-water mark of
    its resident set, kilobytes on Linux): exact, no sampling, and not mixed up with earlier children.
    """
    with log.open("w+b") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT)
        timer = threading.Timer(max(timeout, 1.0), process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        sink.seek(0)
        output = sink.read().decode(errors="replace")
    run = ChildRun(tuple(argv), seconds, usage.ru_maxrss / 1024, process.returncode, output, log)
    if run.returncode != 0:
        tail = "\n".join(output.splitlines()[-15:])
        reason = "was killed after the time budget" if run.returncode < 0 else f"exited {run.returncode}"
        raise HarnessError(f"{' '.join(argv[1:])} {reason} (log: {log}):\n{tail}")
    return run


# --- HTTP ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int
    seconds: float
    body: bytes
    x_cache: str | None

    def json(self) -> Any:
        return json.loads(self.body)


def gunicorn_argv(*, port: int, extra: list[str] | None = None) -> list[str]:
    """gunicorn with the project's config; the command line overrides it: loopback only, no worker recycling in
    the middle of a measurement."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "ideeza.wsgi:application",
        "-c",
        str(REPO_ROOT / "gunicorn.conf.py"),
        "--bind",
        f"{HOST}:{port}",
        "--max-requests",
        "0",
        *(extra or []),
    ]


def cluster_script(
    *args: str, directory: Path, pg_port: int, redis_port: int, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``scripts/cluster ARGS`` for the cluster in ``directory`` on these ports (its stdout and stderr captured)."""
    env = {
        **os.environ,
        "IDEEZA_CLUSTER_DIR": str(directory),
        "IDEEZA_CLUSTER_PG_PORT": str(pg_port),
        "IDEEZA_CLUSTER_REDIS_PORT": str(redis_port),
    }
    return subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "cluster"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def postgres_execute(database_url: str, *statements: str) -> list[tuple[Any, ...]]:
    """Each statement in a transaction of its own (CREATE DATABASE and VACUUM run outside one); the last one's rows."""
    connection = psycopg2.connect(database_url, connect_timeout=5)
    connection.autocommit = True
    rows: list[tuple[Any, ...]] = []
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
                rows = cursor.fetchall() if cursor.description else []
        return rows
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Server:
    """One gunicorn serving the project on 127.0.0.1, with a keep-alive HTTP client to it."""

    def __init__(self, name: str, *, env: dict[str, str], log: Path, request_timeout: float) -> None:
        self.name = name
        self.port = free_port()
        self.env = env
        self.log = log
        self.request_timeout = request_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._sink: Any = None
        self._connection: http.client.HTTPConnection | None = None

    def start(self) -> None:
        # A worker timeout above the client's, so a slow scan is measured rather than killed.
        argv = gunicorn_argv(port=self.port, extra=["--timeout", str(int(self.request_timeout) + 30)])
        self._sink = self.log.open("wb")
        self.process = subprocess.Popen(
            argv, env=self.env, cwd=REPO_ROOT, stdout=self._sink, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float) -> None:
        """Until ``GET /healthz`` answers 200."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self.process is None or self.process.poll() is not None:
                raise HarnessError(f"gunicorn '{self.name}' exited during start-up (log: {self.log}).")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.get("/healthz").status == 200:
                    return
            time.sleep(0.25)
        raise HarnessError(f"gunicorn '{self.name}' did not answer /healthz within {timeout:.0f} s (log: {self.log}).")

    def post(self, path: str, body: dict[str, Any]) -> Reply:
        return self._request("POST", path, json.dumps(body).encode())

    def get(self, path: str) -> Reply:
        return self._request("GET", path, None)

    def _request(self, method: str, path: str, payload: bytes | None) -> Reply:
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(HOST, self.port, timeout=self.request_timeout)
            try:
                started = time.perf_counter()
                self._connection.request(method, path, body=payload, headers=headers)
                response = self._connection.getresponse()
                body = response.read()
                seconds = time.perf_counter() - started
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                # The sync worker closes every connection after its response; a stale socket is retried once
                # on a fresh one, and only that attempt is timed.
                self._close_connection()
                if attempt == 2:
                    raise
                continue
            except Exception:
                self._close_connection()
                raise
            if response.will_close:
                self._close_connection()
            return Reply(response.status, seconds, body, response.getheader("X-Cache"))
        raise AssertionError("unreachable")

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def stop(self) -> None:
        """SIGTERM to the master (workers finish their request), then SIGKILL whatever is left of its group."""
        self._close_connection()
        process = self.process
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # the group the harness created with this server
            process.wait()
        if self._sink is not None:
            self._sink.close()
            self._sink = None


def cached_answers_clear(redis_url: str) -> int:
    """Drop the cached answers (django-redis keys ``ideeza:<version>:answer:…``), so warming starts from misses;
    the fold's lock and anything else in that database stay."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match="ideeza:*:answer:*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()
