"""Clocks: the time that waits run on, and a packet's wall time from its stream timestamp.

:class:`Clock` is the time of decisions that wait: reconnect backoff, a live-only camera's
idling, the governor's hold. vigil runs them on :data:`MONOTONIC`; a test hands in a clock
it moves by hand, and steps an hour in a millisecond. What is measured (rates, CPU, packet
arrival, the stall watchdog) stays on ``time.monotonic()``.

:class:`StreamClock` gives a packet's wall time from its stream timestamp and the best
anchor seen lately. A packet's arrival time is its real time plus a delay (network, the
camera's sender, a busy reader thread) that is never negative, and that comes in bursts: a
key frame read 0.5 s late under load is followed by frames read in a rush. So the least
delayed packet anchors the stream's timeline to the wall clock best:
``min(arrival - stream time)`` over recent packets. The minimum is kept over two windows of
:data:`WINDOW` seconds of stream time, so a camera clock that drifts from the wall clock
moves the anchor along.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

WINDOW = 30.0  # seconds of stream time per window


class Clock(Protocol):
    """Monotonic seconds, and waiting on them."""

    def now(self) -> float: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait `seconds` of this clock's time, or until `event` is set; True if it was."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic()``, and ``Event.wait``."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds)


MONOTONIC = MonotonicClock()


class StreamClock:
    """Maps stream seconds to wall seconds for one connection."""

    def __init__(self, window: float = WINDOW):
        self.window = window
        self.reset()

    def reset(self) -> None:
        """A new connection: its timestamps start anew."""
        self._previous = math.inf
        self._current = math.inf
        self._window_start: float | None = None

    def observe(self, arrival: float, stream: float) -> float:
        """Take one arrival (wall seconds) of a packet at `stream` seconds; its wall time."""
        if self._window_start is None or stream < self._window_start:
            self.reset()  # a first packet, or timestamps that went back: old anchors are void
            self._window_start = stream
        elif stream - self._window_start >= self.window:
            self._previous, self._current = self._current, math.inf
            self._window_start = stream
        self._current = min(self._current, arrival - stream)
        return stream + min(self._previous, self._current)

    def wall(self, stream: float) -> float | None:
        """The wall time of `stream` seconds, without taking an arrival; None before any."""
        anchor = min(self._previous, self._current)
        return None if math.isinf(anchor) else stream + anchor
