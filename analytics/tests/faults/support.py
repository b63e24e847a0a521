"""What the fault tests break and how they talk to the service: a Redis server of their own that they can kill,
a TCP proxy in front of PostgreSQL that they can cut, and a real gunicorn spoken to over HTTP.

Everything listens on 127.0.0.1 only, is started by the test that uses it and is stopped by it; nothing here
touches the shared PostgreSQL or Redis servers beyond ordinary client connections.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from rest_framework.test import APIClient

from bench.processes import HOST, REPO_ROOT, free_port, gunicorn_argv

API = "/api/analytics"
# Bodies with both bounds given, so the answer does not depend on the clock of the process that computes it.
QUERIES: list[tuple[str, dict[str, Any]]] = [
    (f"{API}/blog-views/country/", {"start_date": "2025-01-01", "end_date": "2025-12-31"}),
    (f"{API}/blog-views/user/", {"start_date": "2025-01-01", "end_date": "2025-12-31"}),
    (f"{API}/top/blog/", {"start_date": "2025-05-01", "end_date": "2025-06-30", "limit": 5}),
    (f"{API}/top/country/", {"start_date": "2025-01-01", "end_date": "2025-12-31", "country_codes": ["US", "DE"]}),
    (f"{API}/performance/", {"start_date": "2025-04-01", "end_date": "2025-06-30", "compare": "week"}),
]


def reference_answer(path: str, body: dict[str, Any]) -> Any:
    """The answer of the reference engine (the raw scan, SPEC §4's oracle) in this process, uncached."""
    from django.test import override_settings

    with override_settings(IDEEZA_QUERY_ENGINE="reference", CACHE_TIMEOUT=0):
        response = APIClient().post(path, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def postgres_url(*, port: int | None = None, name: str | None = None) -> str:
    """A DATABASE_URL for the database this test run uses (or ``name``), optionally through another port."""
    default = settings.DATABASES["default"]
    password = f":{default['PASSWORD']}" if default["PASSWORD"] else ""
    host = default["HOST"] or "127.0.0.1"
    return f"postgres://{default['USER']}{password}@{host}:{port or default['PORT'] or 5432}/{name or default['NAME']}"


def postgres_address() -> tuple[str, int]:
    default = settings.DATABASES["default"]
    return default["HOST"] or "127.0.0.1", int(default["PORT"] or 5432)


def is_postgresql() -> bool:
    return str(settings.DATABASES["default"]["ENGINE"]).endswith("postgresql")


def child_env(**overrides: str) -> dict[str, str]:
    """The environment of a service process: production-like (DEBUG off), no throttling, nothing inherited that
    would point it elsewhere."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "IDEEZA_", "REDIS_"))}
    env.update(
        DEBUG="false",
        SECRET_KEY=settings.SECRET_KEY,  # so a JWT made in the test process is valid in the service
        IDEEZA_INGEST_THROTTLE_RATE="off",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def production_caches(redis_url: str) -> dict[str, Any]:
    """``CACHES`` exactly as ``ideeza/settings.py`` builds it for this ``REDIS_URL`` (read from a fresh copy of the
    settings module, so the test exercises the production options: timeouts, IGNORE_EXCEPTIONS)."""
    import importlib.util
    from unittest import mock

    path = REPO_ROOT / "ideeza" / "settings.py"
    spec = importlib.util.spec_from_file_location("ideeza_settings_probe", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with mock.patch.dict(os.environ, {"REDIS_URL": redis_url, "SECRET_KEY": settings.SECRET_KEY}):
        spec.loader.exec_module(module)
    caches: dict[str, Any] = module.CACHES
    assert caches["default"]["BACKEND"] == "django_redis.cache.RedisCache"
    return caches


def manage(*args: str, env: dict[str, str], **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, text=True, **popen)


# --- Redis ---------------------------------------------------------------------------------------------------
REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port, without persistence, that a test may kill, freeze
    and start again on the same port."""

    def __init__(self, directory: Path) -> None:
        assert REDIS_SERVER is not None
        self.binary: str = REDIS_SERVER
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(self.directory), "--daemonize", "no", "--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        give_up = time.monotonic() + 10
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.directory}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within 10 s")

    def ping(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the server vanishes with everything it held; connections to it are reset."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        assert not self.ping()

    def freeze(self) -> None:
        """SIGSTOP: the server still accepts TCP connections (the kernel does) but never answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGCONT)
            server.process.kill()
            server.process.wait(timeout=10)


# --- a TCP proxy in front of PostgreSQL -----------------------------------------------------------------------
class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``upstream``, and can fail the way a restarting database server does.

    ``stall()`` holds every byte that arrives (in either direction) so requests hang mid-query; ``cut()`` resets
    every proxied connection and refuses new ones (reset at once) until ``restore()``.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._state = "up"
        self._condition = threading.Condition()
        self._sockets: set[socket.socket] = set()
        self.held_chunks = 0  # chunks that arrived while stalled
        self.refused = 0
        self.accepted = 0
        self._closing = False
        self._thread = threading.Thread(target=self._accept_loop, name="pg-proxy", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._condition:
                down = self._state == "down"
            if down:
                self.refused += 1
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            self.accepted += 1
            with self._condition:
                self._sockets.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self._condition:
                    if self._state == "stalled":
                        self.held_chunks += 1
                        self._condition.notify_all()
                    while self._state == "stalled":
                        self._condition.wait()
                    if self._state == "down":
                        break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                self._discard(sock)

    def _discard(self, sock: socket.socket) -> None:
        with self._condition:
            known = sock in self._sockets
            self._sockets.discard(sock)
        if known:
            _reset(sock)

    def stall(self) -> None:
        with self._condition:
            self._state = "stalled"
            self.held_chunks = 0

    def wait_for_held_chunk(self, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self.held_chunks > 0, timeout=timeout)

    def cut(self) -> None:
        with self._condition:
            self._state = "down"
            doomed = list(self._sockets)
            self._sockets.clear()
            self._condition.notify_all()
        for sock in doomed:
            _reset(sock)

    def restore(self) -> None:
        with self._condition:
            self._state = "up"
            self._condition.notify_all()

    def close(self) -> None:
        self._closing = True
        self.cut()
        self._thread.join(timeout=5)
        self._listener.close()


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed or restarting server's kernel would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


# --- gunicorn -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int
    seconds: float
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Gunicorn:
    """The service as deployed (gunicorn + ``gunicorn.conf.py``) on a free loopback port."""

    def __init__(self, *, env: dict[str, str], log: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.log = log
        self.workers = workers
        argv = gunicorn_argv(port=self.port, extra=["--workers", str(workers), "--timeout", "60"])
        self._sink = log.open("wb")
        self.process = subprocess.Popen(
            argv, env=env, cwd=REPO_ROOT, stdout=self._sink, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60) -> None:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited during start-up:\n{self.log_text()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.request("GET", "/healthz", timeout=5).status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s:\n{self.log_text()}")

    def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, timeout: float = 30
    ) -> Reply:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            started = time.perf_counter()
            connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            response = connection.getresponse()
            payload = response.read()
            return Reply(response.status, time.perf_counter() - started, dict(response.getheaders()), payload)
        finally:
            connection.close()

    def post(self, path: str, body: Any, *, token: str | None = None, timeout: float = 30) -> Reply:
        return self.request("POST", path, body, token=token, timeout=timeout)

    def log_text(self) -> str:
        self._sink.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the session this test started for it
        self.process.wait()
        self._sink.close()


@contextlib.contextmanager
def gunicorn(*, env: dict[str, str], log: Path, workers: int = 2) -> Iterator[Gunicorn]:
    server = Gunicorn(env=env, log=log, workers=workers)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
