"""What a consumer thread (a recorder, a detector) does with an error nobody expected: it
reports it with a code, counts it, waits a growing delay and goes on, so that one bad
moment (a locked database, a full disk, a bug in a rare path) never silently ends
recording or detection for good.

The thread itself keeps running: only the part of its state that the error may have left
half-made is dropped (the open segment, the decoding pipeline), and it starts again at the
next key frame. The packets queued meanwhile are still its to take.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from vigil.errors import VigilError

STEPS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # seconds before going on, by consecutive failure
HEALTHY_AFTER = 60.0  # seconds without a failure after which the next waits 1 s again


class Failures:
    """A part's unexpected errors: how many, the last, and the wait before the next try;
    and the packets it dropped. The supervisor keeps one per part across the part's
    replacements, so these counts don't restart when a stuck part is replaced."""

    def __init__(self, part: str, clock: Callable[[], float] = time.monotonic):
        self.part = part  # "recorder", "detector": the metric's label
        self.count = 0
        self.last: VigilError | None = None
        self.at: float | None = None  # when the last one happened (of `clock`)
        self.dropped = 0  # packets the part dropped (a recorder too far behind), across restarts
        self._clock = clock
        self._streak = 0
        self._lock = threading.Lock()

    def record(self, err: BaseException, code: str, what: str) -> tuple[VigilError, float]:
        """Count `err`; the error to log and show (with `code`), and the seconds to wait."""
        now = self._clock()
        reason = getattr(err, "strerror", None) or f"{type(err).__name__}: {err}"[:200]
        error = err if isinstance(err, VigilError) else VigilError(f"{what}: {reason}", code=code)
        with self._lock:
            if self.at is not None and now - self.at >= HEALTHY_AFTER:
                self._streak = 0
            delay = STEPS[min(self._streak, len(STEPS) - 1)]
            self._streak += 1
            self.count += 1
            self.last, self.at = error, now
        return error, delay

    def recent(self, window: float = HEALTHY_AFTER) -> VigilError | None:
        """The last error if it happened within `window` seconds, else None."""
        with self._lock:
            if self.at is None or self._clock() - self.at >= window:
                return None
            return self.last
