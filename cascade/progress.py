"""Progress of long work (a batch of scans, a training phase) on one stream, stderr by default.

On a terminal a single bar line is redrawn in place (``\\r``); anywhere else (a redirected log, CI)
each step is one plain line, so a log file reads in order and carries no control codes. Lines
printed through :meth:`Progress.log` appear above the bar, on the same stream.

    bar = Progress(total=3, label="scans")
    bar.log("[1/3] scan_a")
    bar.step("scan_a done")
    bar.close()
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 scan``, ``2 scans`` (``words``: an irregular plural)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def duration(seconds: float) -> str:
    """``<1 s``, ``12 s``, ``3 min 05 s``, ``1 h 02 min``: a time span for people."""
    s = max(0.0, float(seconds))
    if s < 1:
        return "<1 s"
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal (a bar is redrawn only there)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """``total`` steps of work named ``label``: a redrawn bar on a terminal, plain lines elsewhere."""

    WIDTH = 24

    def __init__(self, total: int, label: str, stream: TextIO | None = None, bar: bool | None = None) -> None:
        """``bar``: force (True) or forbid (False) the redrawn bar; default: only on a terminal."""
        self.total, self.label = max(0, int(total)), label
        self.stream = stream if stream is not None else sys.stderr
        self.bar = is_terminal(self.stream) if bar is None else bar
        self.done, self.t0, self._drawn = 0, time.perf_counter(), False

    def eta(self) -> float | None:
        """Seconds left, from the mean time per finished step (None before the first step)."""
        if not self.done or self.done >= self.total:
            return None
        return (time.perf_counter() - self.t0) / self.done * (self.total - self.done)

    def status(self, message: str = "") -> str:
        """``scans 2/5 (40 %), about 12 s left: message``."""
        pct = f" ({100 * self.done / self.total:.0f} %)" if self.total else ""
        left = self.eta()
        text = f"{self.label} {self.done}/{self.total}{pct}"
        if left is not None:
            text += f", about {duration(left)} left"
        elif self.done >= self.total and self.total:
            text += f", {duration(time.perf_counter() - self.t0)}"
        return text + (f": {message}" if message else "")

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self._drawn = False

    def _draw(self, message: str) -> None:
        filled = round(self.WIDTH * self.done / self.total) if self.total else self.WIDTH
        self.stream.write(f"\r\033[K[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.status(message)}")
        self.stream.flush()
        self._drawn = True

    def log(self, line: str) -> None:
        """Print ``line`` (above the bar on a terminal)."""
        self._clear()
        self.stream.write(line + "\n")
        if self.bar and self.done < self.total:
            self._draw("")
        self.stream.flush()

    def step(self, message: str = "", n: int = 1) -> None:
        """``n`` more steps done; ``message`` says which."""
        self.done = min(self.total, self.done + n)
        if self.bar:
            self._draw(message)
        else:
            self.stream.write(self.status(message) + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the bar line (a terminal's cursor moves to a fresh line)."""
        if self.bar and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
