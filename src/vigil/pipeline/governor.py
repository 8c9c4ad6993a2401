"""The CPU governor: steps detection down when the machine is busy, and back up after.

Units. The thresholds (``governor.cpu_high`` ...) are % of the *whole machine*, psutil's
system-wide figure (100 = every core busy); a camera's ``cpu_pct`` is % of *one core*.

Rules, checked once a second on the mean of the last :data:`SMOOTHING` seconds:

- Above ``cpu_high`` for ``hold_seconds``: cameras step one level down, busiest first
  (see :mod:`vigil.pipeline.motion_pipeline`): 1 fewer frames processed, 2 key frames only, and,
  only while above ``cpu_critical``, 3 a lower-resolution input where the camera has one.
  As many cameras step as together use the excess (``cpu - cpu_high``, their ``cpu_pct``
  divided by the number of cores), at least one; then the hold starts again, and the
  governor looks at what the steps saved before it moves more.
- Below ``cpu_low`` for ``hold_seconds``: cameras at the lowest level (the least busy of
  them first) step one level up, as many as fit in the headroom (``cpu_low - cpu``) if each
  were to cost four times what it uses now, at least one; then a full hold again.
- Between ``cpu_low`` and ``cpu_high`` nothing moves, and every change waits a full hold
  after the last one, so it never flaps.
- Recording is never touched: only detection has levels.

Each step is logged with its reason, shown as ``governor: {level, reason}`` in the camera's
status, and counted (:attr:`Governor.steps_down`, :attr:`Governor.steps_up`).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from vigil.config import GovernorConfig
from vigil.pipeline.motion_pipeline import KEYFRAMES_LEVEL

SMOOTHING = 5.0  # seconds of CPU samples averaged

_log = logging.getLogger(__name__)


class Governed(Protocol):
    """What the governor needs of a camera (the supervisor provides it)."""

    name: str

    def detect_level(self) -> int | None: ...

    def max_detect_level(self) -> int: ...

    def set_detect_level(self, level: int, reason: str) -> None: ...

    def cpu_percent(self) -> float | None: ...


def system_cpu() -> float:
    """% of the whole machine busy since the last call (psutil; the first call says 0)."""
    import psutil

    return float(psutil.cpu_percent(interval=None))


class Governor:
    """One per service; :meth:`tick` is called by the camera manager's monitor thread."""

    def __init__(
        self,
        config: GovernorConfig,
        cameras: Callable[[], Sequence[Governed]],
        sampler: Callable[[], float] = system_cpu,
        log: logging.Logger = _log,
        cores: int | None = None,
    ):
        self.config = config
        self.cameras = cameras
        self.sampler = sampler
        self.log = log
        self.cores = cores or os.cpu_count() or 1
        self.steps_down = 0
        self.steps_up = 0
        self.cpu: float | None = None  # the smoothed figure last used
        self._samples: deque[tuple[float, float]] = deque()
        self._above_since: float | None = None
        self._below_since: float | None = None

    def tick(self, now: float) -> None:
        cpu = self._smoothed(now, self.sampler())
        self.cpu = cpu
        config = self.config
        if cpu > config.cpu_high:
            self._below_since = None
            if self._above_since is None:
                self._above_since = now
            if now - self._above_since >= config.hold_seconds and self._step_down(cpu):
                self._above_since = now  # the next step waits a full hold
        elif cpu < config.cpu_low:
            self._above_since = None
            if self._below_since is None:
                self._below_since = now
            if now - self._below_since >= config.hold_seconds and self._step_up(cpu):
                self._below_since = now
        else:
            self._above_since = self._below_since = None

    def _smoothed(self, now: float, sample: float) -> float:
        self._samples.append((now, sample))
        while now - self._samples[0][0] >= SMOOTHING:
            self._samples.popleft()
        return sum(s for _, s in self._samples) / len(self._samples)

    def _share(self, cam: Governed) -> float:
        """A camera's CPU in the governor's unit: % of the whole machine."""
        return (cam.cpu_percent() or 0.0) / self.cores

    def _step_down(self, cpu: float) -> bool:
        config = self.config
        critical = cpu > config.cpu_critical
        candidates: list[tuple[float, Governed, int]] = []
        for cam in self.cameras():
            level = cam.detect_level()
            if level is None:
                continue
            floor = (
                cam.max_detect_level() if critical else min(cam.max_detect_level(), KEYFRAMES_LEVEL)
            )
            if level < floor:
                candidates.append((self._share(cam), cam, level))
        if not candidates:
            return False
        candidates.sort(key=lambda c: c[0], reverse=True)  # the busiest first
        excess = cpu - config.cpu_high
        moved = 0.0
        for share, cam, level in candidates:
            limit = (
                config.cpu_critical if critical and level + 1 > KEYFRAMES_LEVEL else config.cpu_high
            )
            reason = f"machine CPU {cpu:.0f} % above {limit:.0f} % for {config.hold_seconds:.0f} s"
            cam.set_detect_level(level + 1, reason)
            self.steps_down += 1
            self.log.warning("governor: %s steps down to level %d: %s", cam.name, level + 1, reason)
            moved += share
            if moved >= excess:
                break  # these cameras together use the excess: see what their step saves
        return True

    def _step_up(self, cpu: float) -> bool:
        candidates: list[tuple[int, float, Governed]] = []
        for cam in self.cameras():
            level = cam.detect_level()
            if level:
                candidates.append((level, self._share(cam), cam))
        if not candidates:
            return False
        candidates.sort(key=lambda c: (-c[0], c[1]))  # the lowest level, least busy first
        headroom = self.config.cpu_low - cpu
        spent = 0.0
        for level, share, cam in candidates:
            # a step up may cost a few times what the camera uses now: count it 4 times
            if spent and spent + 4 * share > headroom:
                break
            spent += 4 * share
            reason = (
                f"machine CPU {cpu:.0f} % below {self.config.cpu_low:.0f} % "
                f"for {self.config.hold_seconds:.0f} s"
            )
            if level - 1 == 0:
                reason = f"as configured ({reason})"
            cam.set_detect_level(level - 1, reason)
            self.steps_up += 1
            self.log.info("governor: %s steps up to level %d: %s", cam.name, level - 1, reason)
        return True
