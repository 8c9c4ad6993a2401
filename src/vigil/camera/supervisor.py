"""The supervisor of one camera: its threads, its state, the stall watchdog and its figures.

It starts and stops the camera's inputs (a reader thread each, :mod:`vigil.camera.reader`)
and its consumers: the recorder, the detector and live view (:mod:`vigil.camera.live_view`).
Once a second it restarts an input that stalled, and replaces a consumer that is stuck
(:mod:`vigil.camera.watchdog`).
It answers for the camera to the governor, and builds its status
(:mod:`vigil.camera.status`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import av

from vigil.camera.backoff import RetryPolicy, default_retry_delay
from vigil.camera.input import CameraInput
from vigil.camera.live_view import LiveView
from vigil.camera.reader import Timing
from vigil.camera.state import State, worst
from vigil.camera.status import CameraStatus, camera_status
from vigil.camera.watchdog import PartWatchdog
from vigil.config import CameraConfig, Role
from vigil.const import SOURCE_OPEN_TIMEOUT, SOURCE_STALL, STOP_TIMEOUT
from vigil.errors import RequestError, SourceError
from vigil.media.clock import MONOTONIC, Clock
from vigil.media.cpu import CpuMeter
from vigil.media.failures import Failures
from vigil.pipeline.detector import MAX_LEVEL, Detector
from vigil.recording.recorder import Recorder, RecordingContext
from vigil.sources.network import Network
from vigil.streaming.live import FRAMES


class CameraSupervisor:
    """Owns one camera's reader threads; start/stop are idempotent and never block long."""

    def __init__(
        self,
        name: str,
        config: CameraConfig,
        *,
        retry_policy: RetryPolicy = default_retry_delay,
        timing: Timing | None = None,
        recording: RecordingContext | None = None,
        clock: Clock = MONOTONIC,
        networks: tuple[Network, ...] = (),
    ):
        self.name = name
        self.recording = recording
        self.recorder: Recorder | None = None
        self.detector: Detector | None = None
        self.config = config
        self.log = make_logger(name)
        self.timing = timing or Timing(open_timeout=SOURCE_OPEN_TIMEOUT, stall=SOURCE_STALL)
        self.inputs = [
            CameraInput(name, i, item.source(), item.roles, retry_policy, self.log, clock, networks)
            for i, item in enumerate(config.inputs)
        ]
        self.cpu = CpuMeter()
        self.failures = {"recorder": Failures("recorder"), "detector": Failures("detector")}
        self.watchdog = PartWatchdog(self.log, self.timing.part_stall)
        self.recorded_bytes = 0  # of the segments closed, over every recorder of the camera
        self._live_view = LiveView(name, config, self.cpu, self.log, clock)
        self.live = self._live_view.feed  # MJPEG, snapshots and WebRTC count their viewers here
        self.live.hook = self._live_hook
        self._connected = False  # inputs started (an on-demand camera connects for viewers)
        self._running = False
        self._lock = threading.RLock()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def state(self) -> State:
        return worst(i.state for i in self.inputs)

    @property
    def on_demand(self) -> bool:
        """Live view only (every input's only role is ``live``, detection off): it connects
        for viewers only. A camera that records or detects never idles."""
        config = self.config
        live_only = all(item.roles == [Role.LIVE] for item in config.inputs)
        return live_only and not config.detect.enabled

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
            self._start_recorder()
            self._start_detector()
            if self.on_demand and not self.live.viewers:
                self._park()
            else:
                self._connect()
            if self.live.wants_frames:
                self._live_view.start_frames(self.live_input().hub, self.detector)
        self.log.info(
            "started with %d input(s)%s",
            len(self.inputs),
            "; connects when watched" if not self._connected else "",
        )

    def _connect(self) -> None:
        for item in self.inputs:
            item.start(self.timing)
        self._connected = True

    def _park(self) -> None:
        """An on-demand camera without viewers: disconnected, state ``idle``."""
        for item in self.inputs:
            item.stop()
            item.state = State.IDLE
        self._connected = False

    # ---- live view -------------------------------------------------------------------------

    def _live_hook(self, kind: str, wanted: bool) -> None:
        """The first viewer of a kind came (`wanted`) or the last one left."""
        with self._lock:
            if not self._running:
                return
            if wanted and not self._connected:
                self.log.info("a viewer came: connecting")
                self._connect()
            if kind == FRAMES:
                if wanted:
                    self._live_view.start_frames(self.live_input().hub, self.detector)
                else:
                    self._live_view.stop_frames(self.detector)
            # WebRTC viewers (PACKETS) need the connection only: their relay taps the
            # live input's hub while they have sessions (vigil.streaming.webrtc)

    def live_input(self) -> CameraInput:
        """The input live view shows: the ``live`` one, else the one detection decodes."""
        source = self.config.input_for(Role.LIVE)
        if source is not None:
            return self.inputs[self.config.inputs.index(source)]
        detector = self.detector
        return self._input_of(detector.hub) if detector is not None else self.inputs[0]

    def last_frame(self) -> tuple[av.VideoFrame, float] | None:
        """The last frame detection decoded (colour), for snapshots; None if it decodes none."""
        detector = self.detector
        return detector.last_frame() if detector is not None and self._running else None

    def _start_recorder(self) -> None:
        source = self.config.input_for(Role.RECORD)
        if self.recording is None or source is None or self.config.record.mode == "off":
            return
        hub = self.inputs[self.config.inputs.index(source)].hub
        self.recorder = Recorder(
            self.name,
            hub,
            self.config.record,
            self.recording,
            self.log,
            failures=self.failures["recorder"],
        )
        self.recorder.on_segment = self._recorded
        self.recorder.start()

    def _recorded(self, size: int) -> None:
        self.recorded_bytes += size

    def _start_detector(self) -> None:
        if not self.config.detect.enabled:
            return
        recording = self.recording
        self.detector = Detector(
            self.name,
            self._detect_input().hub,
            self.config.detect,
            hwaccel=self.config.hwaccel,
            cpu=self.cpu,
            log=self.log,
            index=recording.index if recording is not None else None,
            trigger=self._trigger_target,
            bus_root=recording.root if recording is not None else None,
            failures=self.failures["detector"],
        )
        self.detector.start()

    def _trigger_target(self) -> Callable[[float], object] | None:
        recorder = self.recorder
        return recorder.trigger if recorder is not None else None

    def _detect_input(self) -> CameraInput:
        """The input with the detect role; else the lowest-resolution one known so far."""
        source = self.config.input_for(Role.DETECT)
        if source is not None:
            return self.inputs[self.config.inputs.index(source)]
        return min(self.inputs, key=_pixels)

    def _lower_input(self, than: CameraInput) -> CameraInput | None:
        """An input of fewer pixels than `than`, if the camera has one (and it streams)."""
        mine = _pixels(than)
        lower = [i for i in self.inputs if i.info is not None and _pixels(i) < mine]
        return min(lower, key=_pixels) if lower else None

    def _input_of(self, hub: object) -> CameraInput:
        return next(i for i in self.inputs if i.hub is hub)

    # ---- the governor's handles -----------------------------------------------------------

    def cpu_percent(self) -> float | None:
        """This camera's CPU, % of one core, over the last window."""
        return self.cpu.percent()

    def detect_level(self) -> int | None:
        """The detection level (0 = as configured), or None if the camera doesn't detect."""
        detector = self.detector
        return detector.level if detector is not None else None

    def max_detect_level(self) -> int:
        """The lowest step this camera has: 3 only where a lower-resolution input exists."""
        detector = self.detector
        if detector is None:
            return 0
        home = self._detect_input()
        return MAX_LEVEL if self._lower_input(home) is not None else MAX_LEVEL - 1

    def set_detect_level(self, level: int, reason: str) -> None:
        """Step detection to `level` (see :mod:`vigil.pipeline.detector`); never recording."""
        detector = self.detector
        if detector is None:
            return
        home = self._detect_input()
        target = self._lower_input(home) if level >= MAX_LEVEL else None
        detector.switch((target or home).hub)
        detector.set_level(level, reason)  # the governor logs the step and its reason

    def trigger_event(self, at: float) -> tuple[float, float]:
        """An outside trigger (doorbell, alarm panel): mark or record the footage around `at`."""
        recorder = self.recorder
        if recorder is None:
            raise RequestError(f"camera {self.name!r} is not recording", code="E606")
        return recorder.trigger(at)

    def request_stop(self) -> list[threading.Thread]:
        """Tell every input to stop and end its subscriptions; return the threads to join.

        Closing the hubs tells consumers to finish: the recorder closes its segment.
        """
        with self._lock:
            self._running = False
            workers: list[threading.Thread] = [
                w for w in (item.stop() for item in self.inputs) if w is not None
            ]
            for item in self.inputs:
                item.hub.close()
            self._connected = False
            decoder = self._live_view.stop_frames(None)
            if decoder is not None:
                workers.append(decoder)
            if self.recorder is not None:
                workers.append(self.recorder)
                self.recorder = None
            if self.detector is not None:
                self.detector.stop()
                workers.append(self.detector)
                self.detector = None
        return workers

    def stop(self, timeout: float = STOP_TIMEOUT) -> list[threading.Thread]:
        """Stop every input; wait up to `timeout` s. Returns threads left behind (abandoned)."""
        abandoned = join_all(self.request_stop(), timeout)
        self.stopped(abandoned, timeout)
        return abandoned

    def stopped(self, abandoned: list[threading.Thread], timeout: float) -> None:
        """Log the end of a stop."""
        for worker in abandoned:
            self.log.warning(
                "thread %s still blocked after %.1f s; abandoned (it publishes nothing more)",
                worker.name,
                timeout,
            )
        self.log.info("stopped")

    def thread_ids(self) -> list[int]:
        tids = [i.thread_id for i in self.inputs]
        if self.recorder is not None:
            tids.append(self.recorder.native_id)
        if self.detector is not None:
            tids.append(self.detector.native_id)
        tids.append(self._live_view.thread_id)
        return [tid for tid in tids if tid is not None]

    def tick(self, now: float) -> None:
        """Once a second from the monitor: sample figures and run the stall watchdog."""
        for item in self.inputs:
            item.rates.sample(now, item.counters)
        self.cpu.sample(now, self.thread_ids())
        if not self._running:
            return
        if self.on_demand and self._connected and self._live_view.idle():
            with self._lock:
                if self._running and self._connected and not self.live.viewers:
                    self.log.info(
                        "no viewer for %.0f s: disconnecting (idle)",
                        self.config.live.idle_stop_seconds,
                    )
                    self._park()
            return
        detector = self.detector
        if detector is not None:
            detector.sample(now)
            if detector.level < MAX_LEVEL and self.config.input_for(Role.DETECT) is None:
                detector.switch(self._detect_input().hub)  # resolutions became known
        self._watch_parts(now)
        grace = self.timing.stall * 1.5  # the reader's own read timeout should fire first
        for item in self.inputs:
            if item.state is State.STREAMING and now - item.counters.last_packet > grace:
                error = SourceError(
                    f"stream stalled: no packet for {now - item.counters.last_packet:.0f} s "
                    f"from {item.spec.display}",
                    code="E205",
                )
                with self._lock:  # a stop (or removal) under way wins: no reader restarted
                    if not self._running:
                        return
                    self.log.warning("%s; restarting the input", error)
                    item.restart(self.timing, error)

    def _watch_parts(self, now: float) -> None:
        """Replace the recorder, detector or live decoder if it is stuck (see
        :mod:`vigil.camera.watchdog`); under the lock, so a stop under way wins."""
        watchdog, recorder, detector = self.watchdog, self.recorder, self.detector
        if recorder is not None and watchdog.check(
            "recorder", recorder, self.failures["recorder"], now
        ):
            with self._lock:
                if self._running and self.recorder is recorder:
                    recorder.hub.unsubscribe(recorder.subscription)  # it ends if ever free
                    self._start_recorder()
        if detector is not None and watchdog.check(
            "detector", detector, self.failures["detector"], now
        ):
            with self._lock:
                if self._running and self.detector is detector:
                    detector.set_tap(None)
                    detector.stop()
                    self._start_detector()
                    if self.live.wants_frames:
                        self._live_view.start_frames(self.live_input().hub, self.detector)
        decoder = self._live_view.decoder
        if decoder is not None and watchdog.check("live", decoder, self.live.failures, now):
            with self._lock:
                if self._running and self._live_view.decoder is decoder:
                    self._live_view.stop_frames(None)
                    self._live_view.start_frames(self.live_input().hub, self.detector)

    def status(self, now: float | None = None) -> CameraStatus:
        now = time.monotonic() if now is None else now
        detector = self.detector
        return camera_status(
            self.name,
            self.config.enabled,
            self.config.hwaccel,
            [item.status(now) for item in self.inputs],
            cpu=self.cpu.percent(),
            detector=detector,
            detect_input=self._input_of(detector.hub).index if detector is not None else None,
            viewers=self.live.viewers,
            now=now,
            failures=[*self.failures.values(), self.live.failures],
            stalls=self.watchdog.stalls,
            max_level=self.max_detect_level(),
        )


def make_logger(camera: str) -> logging.Logger:
    """The camera's own logger, a child of ``vigil.camera``."""
    return logging.getLogger("vigil.camera").getChild(camera)


def _pixels(item: CameraInput) -> int:
    """An input's frame size; unknown (not connected yet) counts as the largest."""
    info = item.info
    return info.width * info.height if info is not None else 1 << 62


def join_all(workers: list[threading.Thread], timeout: float) -> list[threading.Thread]:
    """Join threads against one shared deadline; return those still alive."""
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    return [w for w in workers if w.is_alive()]
