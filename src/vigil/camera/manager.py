"""The camera manager: start, stop, add, remove and replace cameras at runtime.

It owns the supervisors and one monitor thread (``vigil-monitor``) that samples figures,
runs the stall watchdogs and watches the wall clock once a second: a step of it is logged
(E416), recorded in the index for retention, and each recorder places its next segment by
the clock again. Calls may come from any thread; they are serialised by one lock, and a
slow camera stop never holds it (threads are joined outside it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from vigil.camera.backoff import RetryPolicy, default_retry_delay
from vigil.camera.cameras import WorkerInfo
from vigil.camera.leases import Move
from vigil.camera.reader import Timing
from vigil.camera.status import CameraFigures, CameraStatus
from vigil.camera.supervisor import CameraSupervisor, join_all
from vigil.camera.webrtc import WebRtc
from vigil.config import CameraConfig, GovernorConfig
from vigil.const import SHUTDOWN_STOP_TIMEOUT, STATS_INTERVAL
from vigil.errors import CameraNotFound, RequestError, StorageError
from vigil.media.clock import MONOTONIC, Clock, ClockStep, WallClockWatch
from vigil.pipeline.governor import Governor, system_cpu
from vigil.recording.recorder import RecordingContext
from vigil.sources.network import parse_networks
from vigil.streaming.live import FRESH, LiveFeed, LiveFrame

_log = logging.getLogger(__name__)


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


class CameraManager:
    """All cameras of the service."""

    def __init__(
        self,
        cameras: dict[str, CameraConfig] | None = None,
        *,
        retry_policy: RetryPolicy = default_retry_delay,
        timing: Timing | None = None,
        clock: Clock = MONOTONIC,
        recording: RecordingContext | None = None,
        governor: GovernorConfig | None = None,
        cpu_sampler: Callable[[], float] | None = None,
        camera_networks: Sequence[str] = (),
        records_clock_steps: bool = True,
        governs: bool = True,
    ):
        self._retry_policy = retry_policy
        self._networks = tuple(parse_networks(camera_networks))
        self.recording = recording
        self.webrtc: WebRtc | None = None  # its sessions are the app's: the cameras are here
        self._timing = timing
        self._clock = clock
        self._lock = threading.RLock()
        self._cameras: dict[str, CameraSupervisor] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()  # a camera was added, or the monitor should stop
        self._monitor: threading.Thread | None = None
        # called after each monitor pass, on its thread (a worker sends its report there)
        self.on_tick: Callable[[], None] | None = None
        self.ticks = 0  # the monitor's passes over every camera so far
        self.wall_clock = WallClockWatch(recording.wall if recording is not None else time.time)
        self.clock_steps = 0  # steps of the wall clock seen since the start
        self._records_clock_steps = records_clock_steps  # False in all workers but one
        for name, config in (cameras or {}).items():
            self._cameras[name] = self._supervisor(name, config)
        self.governor = Governor(
            governor or GovernorConfig(), self._running_cameras, cpu_sampler or system_cpu
        )
        self.governs = governs  # False in a worker: the main process governs every camera

    def _running_cameras(self) -> list[CameraSupervisor]:
        with self._lock:
            return [cam for cam in self._cameras.values() if cam.running]

    def _supervisor(self, name: str, config: CameraConfig) -> CameraSupervisor:
        return CameraSupervisor(
            name,
            config,
            retry_policy=self._retry_policy,
            timing=self._timing,
            recording=self.recording,
            clock=self._clock,
            networks=self._networks,
        )

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the monitor and every enabled camera."""
        self._stop.clear()
        self._wake.clear()
        self._monitor = threading.Thread(
            target=self._run_monitor, name="vigil-monitor", daemon=True
        )
        self._monitor.start()
        with self._lock:
            for cam in self._cameras.values():
                if cam.config.enabled:
                    cam.start()

    def shutdown(self, timeout: float = SHUTDOWN_STOP_TIMEOUT) -> None:
        """Stop every camera at once (one shared deadline) and the monitor."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            cams = list(self._cameras.values())
        workers = {cam.name: cam.request_stop() for cam in cams}
        left = set(join_all([w for ws in workers.values() for w in ws], timeout))
        for cam in cams:
            cam.stopped([w for w in workers[cam.name] if w in left], timeout)
        if self._monitor is not None:
            self._monitor.join(timeout)

    def _rest(self) -> bool:
        """Wait for the next pass: a second, or with no camera until one is added (a server
        with nothing to watch doesn't wake up to find that out). True once stopping."""
        with self._lock:
            watching = bool(self._cameras)
        if watching:
            return self._stop.wait(STATS_INTERVAL)
        self._wake.wait()
        self._wake.clear()
        return self._stop.is_set()

    def _run_monitor(self) -> None:
        # the first pass at once (a worker's first report), then one a second while there
        # are cameras; a wall-clock step while asleep is seen at the next pass (the watch
        # compares the offset between the clocks, not the time since the last check)
        stopping = False
        while not stopping:
            self._pass()
            stopping = self._rest()

    def _pass(self) -> None:
        """One look at every camera, the governor and the wall clock."""
        now = time.monotonic()  # figures and the stall watchdog: packets' own time
        with self._lock:
            cams = list(self._cameras.values())
        for cam in cams:
            try:
                cam.tick(now)
            except Exception:  # the monitor must outlive any one camera's bug
                cam.log.exception("[E600] monitor tick failed")
        try:
            if self.governs:
                self.governor.tick(self._clock.now())  # its hold runs on the clock
        except Exception:
            _log.exception("[E600] governor tick failed")
        step = self.wall_clock.check()
        if step is not None:
            self._clock_stepped(step, cams)
        self.ticks += 1
        if self.on_tick is not None:
            try:
                self.on_tick()
            except Exception:
                _log.exception("[E600] the monitor's tick hook failed")

    def _clock_stepped(self, step: ClockStep, cams: list[CameraSupervisor]) -> None:
        """The wall clock jumped: say so, keep it for retention, and re-place recordings."""
        self.clock_steps += 1
        way = "forward" if step.seconds > 0 else "back"
        error = StorageError(
            f"the wall clock was stepped {way} {abs(step.seconds):.1f} s, from "
            f"{_utc(step.before)} to {_utc(step.after)} UTC",
            code="E416",
        )
        _log.warning("%s", error)
        for cam in cams:
            if cam.recorder is not None:
                cam.recorder.restamp()
        if self.recording is not None and self._records_clock_steps:
            try:
                self.recording.index.add_clock_step(step.before, step.after)
            except Exception:
                _log.exception("[E600] the clock's step could not be recorded in the index")

    # ---- queries -------------------------------------------------------------------------

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._cameras)

    def configs(self) -> dict[str, CameraConfig]:
        """Every camera's config as it is now (API changes included): retention's rules."""
        with self._lock:
            return {name: cam.config for name, cam in self._cameras.items()}

    def get(self, name: str) -> CameraSupervisor:
        with self._lock:
            cam = self._cameras.get(name)
        if cam is None:
            raise CameraNotFound(name)
        return cam

    def config(self, name: str) -> CameraConfig:
        return self.get(name).config

    def local(self, name: str) -> CameraSupervisor:
        return self.get(name)

    def live_feed(self, name: str) -> LiveFeed:
        return self.get(name).live

    def running(self, name: str) -> bool:
        return self.get(name).running

    def still(self, name: str, max_age: float | None = FRESH) -> LiveFrame | None:
        cam = self.get(name)
        decoded = cam.last_frame()
        if decoded is None or (max_age is not None and time.monotonic() - decoded[1] >= max_age):
            return None
        return cam.live.still_now(*decoded)

    def figures(self, name: str) -> CameraFigures | None:
        try:
            cam = self.get(name)
        except CameraNotFound:
            return None
        return CameraFigures(
            cpu_seconds=round(cam.cpu.seconds(), 3),
            recorded_bytes=cam.recorded_bytes,
            dropped=cam.failures["recorder"].dropped,
            running=cam.running,
        )

    def workers(self) -> list[WorkerInfo]:
        return []  # every camera runs in this process

    def rebalance(self) -> list[Move]:
        return []  # one process: nothing to move

    worker_deaths = 0

    def status(self, name: str) -> CameraStatus:
        return self.get(name).status(time.monotonic())

    def statuses(self) -> list[CameraStatus]:
        now = time.monotonic()
        with self._lock:
            cams = [self._cameras[n] for n in sorted(self._cameras)]
        return [cam.status(now) for cam in cams]

    # ---- changes -------------------------------------------------------------------------

    def add(self, name: str, config: CameraConfig, *, start: bool = True) -> CameraSupervisor:
        with self._lock:
            if name in self._cameras:
                raise RequestError(f"camera {name!r} already exists", code="E603")
            cam = self._cameras[name] = self._supervisor(name, config)
        self._wake.set()
        if start and config.enabled:
            cam.start()
        return cam

    def remove(self, name: str) -> None:
        with self._lock:
            cam = self._cameras.pop(name, None)
        if cam is None:
            raise CameraNotFound(name)
        self._wake.set()  # one more pass (a worker's report without it), then maybe rest
        cam.live.close()
        cam.stop()

    def replace(self, name: str, config: CameraConfig) -> CameraSupervisor:
        """Swap a camera's config: stop the old one, start the new one; others untouched."""
        with self._lock:
            old = self._cameras.get(name)
            if old is None:
                raise CameraNotFound(name)
            new = self._cameras[name] = self._supervisor(name, config)
        old.live.close()  # its viewers' streams end; they reconnect to the new camera
        old.stop()
        if config.enabled:
            new.start()
        return new

    def start_camera(self, name: str) -> None:
        self.get(name).start()

    def stop_camera(self, name: str) -> None:
        self.get(name).stop()

    def trigger_event(self, name: str, at: float) -> tuple[float, float]:
        return self.get(name).trigger_event(at)
