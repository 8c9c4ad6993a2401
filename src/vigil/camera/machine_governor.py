"""The CPU governor over every worker's cameras at once, in the main process.

Each worker used to run a governor of its own over its own cameras, each reading the whole
machine's CPU: above ``cpu_high``, every worker stepped its busiest camera down at once, so
N workers took N steps where one would do, and the busiest camera of the machine was not
the first to step. Here one :class:`~vigil.pipeline.governor.Governor` decides for the
machine, with its rules and reasons unchanged; workers run none.

    worker Report (each camera: cpu_pct, governor {level, reason, max_level})
        └──> MachineGovernor.reported ──(at most once a STATS_INTERVAL)──> Governor.tick
                                                                              │
    worker <── SetLevel(name, level, reason) <── RemoteCamera.set_detect_level ┘

It ticks on the workers' reports, not a timer of its own: a server with no camera, whose
workers don't report, wakes for nothing. A step is sent, not waited for; the camera's next
report shows it, and the governor's hold (``hold_seconds``) is far longer than a report's
second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from vigil.camera.channel import Action, SetLevel
from vigil.camera.state import State
from vigil.camera.status import CameraStatus
from vigil.config import GovernorConfig
from vigil.const import STATS_INTERVAL
from vigil.pipeline.governor import Governor, system_cpu

_log = logging.getLogger("vigil.pipeline.governor")


class RemoteCamera:
    """A camera in a worker as the governor sees it: its last reported status, and a way to
    send it a step."""

    def __init__(self, status: CameraStatus, send: Callable[[str, Action], None]):
        self.name = status.name
        self.status = status
        self._send = send

    def detect_level(self) -> int | None:
        governor = self.status.governor
        return governor.level if governor is not None else None

    def max_detect_level(self) -> int:
        governor = self.status.governor
        return governor.max_level if governor is not None else 0

    def cpu_percent(self) -> float | None:
        return self.status.cpu_pct

    def set_detect_level(self, level: int, reason: str) -> None:
        self._send(self.name, SetLevel(self.name, level, reason))


class MachineGovernor:
    """One governor for the cameras of every worker, ticked by their reports."""

    def __init__(
        self,
        config: GovernorConfig,
        statuses: Callable[[], Sequence[CameraStatus]],
        send: Callable[[str, Action], None],
        sampler: Callable[[], float] = system_cpu,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.statuses = statuses
        self.send = send
        self.clock = clock
        self.governor = Governor(config, self._cameras, sampler, log=_log)
        self._last: float | None = None
        self._lock = threading.Lock()  # reports arrive on every worker's reader thread

    def _cameras(self) -> list[RemoteCamera]:
        return [
            RemoteCamera(s, self.send)
            for s in self.statuses()
            if s.enabled and s.state is not State.STOPPED
        ]

    def reported(self) -> None:
        """A worker reported: tick, if a tick is due (never twice within a STATS_INTERVAL)."""
        if not self._lock.acquire(blocking=False):
            return  # another reader thread ticks now
        try:
            now = self.clock()
            if self._last is not None and now - self._last < STATS_INTERVAL * 0.9:
                return
            self._last = now
            try:
                self.governor.tick(now)
            except Exception:
                _log.exception("[E600] governor tick failed")
        finally:
            self._lock.release()
