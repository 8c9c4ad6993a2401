"""Live figures of an input: rates over a window.

Counters are bumped by the reader thread (plain ints under the GIL); the manager's monitor
thread samples them once a second and derives rates over :data:`STATS_WINDOW`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from vigil.const import STATS_WINDOW


@dataclass(slots=True)
class InputCounters:
    """Monotonic counters of one input, written by its reader thread."""

    packets: int = 0
    bytes: int = 0
    video_packets: int = 0
    reconnects: int = 0
    last_packet: float = 0.0  # monotonic time of the last video packet
    connected_at: float | None = None  # monotonic time the current connection began


@dataclass(slots=True)
class Rates:
    packets_per_s: float = 0.0
    bytes_per_s: float = 0.0
    fps: float = 0.0


@dataclass(slots=True)
class RateWindow:
    """Samples of counters over time, giving their rates over the window."""

    window: float = STATS_WINDOW
    _samples: deque[tuple[float, int, int, int]] = field(default_factory=deque)

    def sample(self, now: float, counters: InputCounters) -> None:
        self._samples.append((now, counters.packets, counters.bytes, counters.video_packets))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def rates(self) -> Rates:
        if len(self._samples) < 2:
            return Rates()
        (t0, p0, b0, f0), (t1, p1, b1, f1) = self._samples[0], self._samples[-1]
        dt = t1 - t0
        if dt <= 0:
            return Rates()
        return Rates((p1 - p0) / dt, (b1 - b0) / dt, (f1 - f0) / dt)

    def reset(self) -> None:
        self._samples.clear()
