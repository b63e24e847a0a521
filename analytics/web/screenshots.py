"""`make screenshots`: the dashboard on the demo data exactly as `make run` shows it, as docs/dashboard-*.png.

Seeds a scratch SQLite database (seed_data + precalculate_stats), serves it with runserver on a free loopback
port, and photographs /dashboard/?range=month&compare_to=previous_period at desktop and phone width in Debian's
Chromium. It also prints what Chromium measured: bytes transferred for every resource and the time to the first
chart (window.__dashboardReady).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
PAGE = "/dashboard/?range=month&compare_to=previous_period"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{scratch}/demo.sqlite3",
            "LOG_REQUESTS": "false",
        }
        env.pop("REDIS_URL", None)
        manage = [sys.executable, str(ROOT / "manage.py")]
        for command in (["migrate", "--noinput"], ["seed_data", "--if-empty"], ["precalculate_stats"]):
            subprocess.run([*manage, *command], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        port = _free_port()
        server = subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env, cwd=ROOT)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    requests.get(f"{base}/healthz", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for name, viewport in (("desktop", (1280, 900)), ("phone", (390, 844))):
                    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                    page.goto(base + PAGE)
                    page.wait_for_selector("body[data-ready=true]", state="attached")
                    path = ROOT / "docs" / f"dashboard-{name}.png"
                    page.screenshot(path=str(path), full_page=True)
                    if name == "desktop":
                        ready = page.evaluate("window.__dashboardReady")
                        transfer = page.evaluate(
                            "performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
                            ".reduce((n, e) => n + e.transferSize, 0)"
                        )
                        sys.stdout.write(f"transfer size: {transfer} bytes; first chart at {ready:.0f} ms\n")
                    sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")
                    page.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
