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

:class:`WallClockWatch` notices the wall clock being stepped (by NTP at boot, by hand): its
offset from the monotonic clock moves at once by more than :data:`CLOCK_STEP`, where
slewing moves it by half a millisecond a second at most.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

WINDOW = 30.0  # seconds of stream time per window
# seconds the wall clock must jump, against the monotonic one, to count as a step: NTP's
# slewing moves it 0.5 ms a second at most, a busy machine's late check not at all
CLOCK_STEP = 2.0


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


@dataclass(frozen=True)
class ClockStep:
    """The wall clock jumped from `before` to `after` (wall seconds, the same instant)."""

    before: float
    after: float

    @property
    def seconds(self) -> float:
        return self.after - self.before


class WallClockWatch:
    """Compares the wall clock with the monotonic one at each :meth:`check`."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        threshold: float = CLOCK_STEP,
    ):
        self.wall = wall
        self.monotonic = monotonic
        self.threshold = threshold
        self._offset = wall() - monotonic()

    def check(self) -> ClockStep | None:
        """The step since the last check, if the wall clock was stepped; slewing is followed
        without a word."""
        now = self.monotonic()
        offset = self.wall() - now
        before, self._offset = self._offset, offset
        if abs(offset - before) < self.threshold:
            return None
        return ClockStep(before=before + now, after=offset + now)
