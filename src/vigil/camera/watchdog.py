"""The watchdog of a camera's consumer threads: the recorder, the detector, live decoding.

Each of them goes round its loop at least every second or two, beating a
:class:`~vigil.media.heartbeat.Heartbeat`, and catches its own errors
(:mod:`vigil.media.failures`). What it can't catch is a call that never returns: a write to
a hung network share, a database that another process holds locked, a decoder that spins.
Once a part hasn't beaten for ``part_stall`` seconds (20 by default), the watchdog reports
it with its code and where it is blocked, counts it, and has the supervisor start a new
one in its place. The old thread is abandoned (Python can't stop it): its queue is closed,
and if its call ever returns it finishes what it holds and ends.

While one abandoned thread of a part is still blocked, a part that stalls again is
reported but not replaced: a cause that blocks every new one too (a database locked for
good) must not pile up threads.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol

from vigil.const import PART_STALL
from vigil.errors import VigilError
from vigil.media.failures import Failures
from vigil.media.heartbeat import Heartbeat, blocked_in

CODES = {"recorder": "E414", "detector": "E307", "live": "E508"}
NAMES = {"recorder": "the recorder", "detector": "detection", "live": "live decoding"}


class Part(Protocol):
    """A consumer thread the watchdog can watch."""

    heartbeat: Heartbeat

    def is_alive(self) -> bool: ...


@dataclass
class PartWatchdog:
    """The stalls of one camera's parts, now and in all."""

    log: logging.Logger
    limit: float = PART_STALL
    stalls: dict[str, VigilError] = field(default_factory=dict)  # the parts stuck now
    counts: dict[str, int] = field(default_factory=dict)  # stalls so far, by part
    _abandoned: dict[str, threading.Thread] = field(default_factory=dict)

    def check(self, part: str, thread: Part, failures: Failures, now: float) -> bool:
        """Whether `thread`, the camera's `part`, is stuck and should be replaced now."""
        age = thread.heartbeat.age(now)
        if age <= self.limit:
            self.stalls.pop(part, None)
            return False
        if part in self.stalls:
            return False  # reported already, and not replaced (see the module's doc)
        old = self._abandoned.get(part)
        replace = old is None or not old.is_alive()
        where = blocked_in(_holding(thread)) if isinstance(thread, threading.Thread) else "its loop"
        then = "a new one takes over" if replace else "not replaced: the last one is stuck too"
        error = VigilError(
            f"{NAMES[part]} has been stuck for {age:.0f} s in {where}; {then}", code=CODES[part]
        )
        failures.record(error, CODES[part], "stalled")
        self.stalls[part] = error
        self.counts[part] = self.counts.get(part, 0) + 1
        self.log.error("%s", error)
        if replace and isinstance(thread, threading.Thread):
            self._abandoned[part] = thread
        return replace

    def abandoned(self) -> list[threading.Thread]:
        """The replaced threads still blocked."""
        return [t for t in self._abandoned.values() if t.is_alive()]


def _holding(thread: threading.Thread) -> threading.Thread:
    """The thread whose call holds `thread` up: its own, or the one it waits for (a
    recorder waiting for its closer, recording/closer.py, is held where the closer is)."""
    waits_for = getattr(thread, "waits_for", None)
    other = waits_for() if callable(waits_for) else None
    return other if isinstance(other, threading.Thread) else thread
