"""CPU used for a camera: its own threads' ticks from /proc, plus its share of shared pools.

Sampled once a second by the manager's monitor thread; :meth:`CpuMeter.charge` may be called
from any thread (a pool job done for the camera).
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

from vigil.const import STATS_WINDOW

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_ticks(tid: int) -> int | None:
    """CPU ticks (user + system) a thread of this process has used, or None if it is gone."""
    try:
        with open(f"/proc/self/task/{tid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


@dataclass(slots=True)
class CpuMeter:
    """% of one core used by a changing set of threads, averaged over the window.

    The kernel counts in 10 ms ticks, so shorter windows are too coarse to mean much.
    Work done for the camera on shared pool threads is added with :meth:`charge`.
    """

    window: float = STATS_WINDOW
    _last: dict[int, int] = field(default_factory=dict)
    _total: int = 0
    _charged: float = 0.0  # CPU seconds of pool jobs done for this camera
    _samples: deque[tuple[float, float]] = field(default_factory=deque)

    def charge(self, seconds: float) -> None:
        """Add CPU time spent for this camera on a shared thread (any thread may call)."""
        self._charged += seconds

    def sample(self, now: float, tids: list[int]) -> None:
        seen: dict[int, int] = {}
        for tid in tids:
            ticks = thread_ticks(tid)
            if ticks is None:
                continue
            self._total += ticks - self._last.get(tid, ticks)
            seen[tid] = ticks
        self._last = seen
        self._samples.append((now, self._total / CLOCK_TICKS + self._charged))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def seconds(self) -> float:
        """CPU seconds used so far (as of the last sample), pool work included."""
        return self._total / CLOCK_TICKS + self._charged

    def percent(self) -> float | None:
        """None until a full window has been sampled."""
        if len(self._samples) < 2:
            return None
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        if t1 - t0 < self.window * 0.9:
            return None
        return 100.0 * (c1 - c0) / (t1 - t0)
