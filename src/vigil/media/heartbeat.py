"""How a consumer thread (a recorder, a detector, a live decoder) shows it is not stuck.

The thread calls :meth:`Heartbeat.beat` each time round its loop, which it goes round at
least every second or two even with nothing to do. A thread blocked in a call that never
returns (a write to a hung network share, a database another process holds locked) stops
beating; its supervisor sees that (:meth:`Heartbeat.age`) and replaces it. Python can't
stop a blocked thread: the old one is abandoned, and ends on its own if the call ever
returns.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

_PACKAGE = str(Path(__file__).resolve().parents[1])  # vigil's own code


class Heartbeat:
    """When a thread last went round its loop (``time.monotonic()``)."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = time.monotonic()

    def beat(self) -> None:
        self.at = time.monotonic()

    def rest(self, seconds: float) -> None:
        """The thread waits `seconds` on purpose (a backoff) and won't beat meanwhile."""
        self.at = time.monotonic() + seconds

    def age(self, now: float) -> float:
        """Seconds since the last beat, at `now` (of ``time.monotonic()``)."""
        return max(0.0, now - self.at)


def blocked_in(thread: threading.Thread) -> str:
    """Where `thread` is now, as "function (file:line)" of its innermost frame in vigil's
    code (else its innermost frame): what an operator needs to read a stall's report."""
    frame = sys._current_frames().get(thread.ident or -1)
    innermost = frame
    while frame is not None:
        if frame.f_code.co_filename.startswith(_PACKAGE):
            break
        frame = frame.f_back
    frame = frame or innermost
    if frame is None:
        return "an unknown place"
    name = Path(frame.f_code.co_filename).name
    return f"{frame.f_code.co_name} ({name}:{frame.f_lineno})"
