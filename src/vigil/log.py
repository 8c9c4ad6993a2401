"""Logging: one line per event, credentials redacted, repeats summarised.

Camera loggers are children of ``vigil.camera`` named after the camera, so the camera's name
is on every line; messages of errors start with their ``[Exxx]`` code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from vigil.const import LOG_REPEAT_WINDOW
from vigil.sources.url import redact_text

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactFilter(logging.Filter):
    """Scrub URL credentials from every message, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class RepeatFilter(logging.Filter):
    """Let an identical line through once per window, then say how often it repeated."""

    def __init__(
        self, window: float = LOG_REPEAT_WINDOW, clock: Callable[[], float] = time.monotonic
    ):
        super().__init__()
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, record.getMessage())
        now = self._clock()
        with self._lock:
            first, repeats = self._seen.get(key, (now - self.window - 1, 0))
            if now - first < self.window:
                self._seen[key] = (first, repeats + 1)
                return False
            self._seen[key] = (now, 0)
            if len(self._seen) > 1000:
                self._prune(now)
        if repeats:
            record.msg = f"{record.getMessage()} (repeated {repeats} times in {now - first:.0f} s)"
            record.args = None
        return True

    def _prune(self, now: float) -> None:
        for key in [k for k, (t, n) in self._seen.items() if now - t > self.window and not n]:
            del self._seen[key]


def setup_logging(level: int | str = logging.INFO) -> None:
    """Send vigil's log (and uvicorn's) to stderr through the redact and repeat filters."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactFilter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
