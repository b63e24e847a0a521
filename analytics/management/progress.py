"""A dependency-free progress bar for long management commands."""

from __future__ import annotations

import time

from django.core.management.base import OutputWrapper

BAR_WIDTH = 20


class ProgressBar:
    """Call with (done, total). A terminal gets one bar redrawn in place; a log gets one line per call."""

    def __init__(self, stream: OutputWrapper, label: str) -> None:
        self.stream = stream
        self.label = label
        self.started = time.perf_counter()
        self.interactive = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        total = max(total, 1)
        filled = BAR_WIDTH * done // total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = f"{self.label} {done:>{len(f'{total:,}')},}/{total:,} [{bar}] {100 * done // total:3d}% "
        line += f"{time.perf_counter() - self.started:6.1f}s"
        self.stream.write(line, style_func=str, ending="\r" if self.interactive and done < total else "\n")
