"""The supervisor of one camera: its inputs' threads, state, stall watchdog and figures."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from vigil.camera.backoff import RetryPolicy, default_retry_delay
from vigil.camera.input import CameraInput, InputStatus
from vigil.camera.state import State, worst
from vigil.camera.stats import CpuMeter
from vigil.camera.worker import Timing, make_logger
from vigil.config import CameraConfig, Role
from vigil.const import SOURCE_OPEN_TIMEOUT, SOURCE_STALL, STOP_TIMEOUT
from vigil.errors import ApiError, SourceError
from vigil.recording.recorder import Recorder, RecordingContext


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A snapshot of a camera for the API."""

    name: str
    enabled: bool
    state: State
    inputs: list[InputStatus]
    fps_in: float
    fps_detect: float | None
    cpu_pct: float | None
    reconnects: int
    dropped: int
    uptime: float | None
    last_error: dict[str, str] | None
    governor: dict[str, object] | None
    hwaccel: str


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
    ):
        self.name = name
        self.recording = recording
        self.recorder: Recorder | None = None
        self.config = config
        self.log = make_logger(name)
        self.timing = timing or Timing(open_timeout=SOURCE_OPEN_TIMEOUT, stall=SOURCE_STALL)
        self.inputs = [
            CameraInput(name, i, item.source(), item.roles, retry_policy, self.log)
            for i, item in enumerate(config.inputs)
        ]
        self.cpu = CpuMeter()
        self._running = False
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def state(self) -> State:
        return worst(i.state for i in self.inputs)

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
            self._start_recorder()
            for item in self.inputs:
                item.start(self.timing)
        self.log.info("started with %d input(s)", len(self.inputs))

    def _start_recorder(self) -> None:
        source = self.config.input_for(Role.RECORD)
        if self.recording is None or source is None or self.config.record.mode == "off":
            return
        hub = self.inputs[self.config.inputs.index(source)].hub
        self.recorder = Recorder(self.name, hub, self.config.record, self.recording, self.log)
        self.recorder.start()

    def trigger_event(self, at: float) -> tuple[float, float]:
        """An outside trigger (doorbell, alarm panel): mark or record the footage around `at`."""
        recorder = self.recorder
        if recorder is None:
            raise ApiError(f"camera {self.name!r} is not recording", status=409, code="E606")
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
            if self.recorder is not None:
                workers.append(self.recorder)
                self.recorder = None
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
        return [tid for tid in tids if tid is not None]

    def tick(self, now: float) -> None:
        """Once a second from the monitor: sample figures and run the stall watchdog."""
        for item in self.inputs:
            item.rates.sample(now, item.counters)
        self.cpu.sample(now, self.thread_ids())
        if not self._running:
            return
        grace = self.timing.stall * 1.5  # the reader's own read timeout should fire first
        for item in self.inputs:
            if item.state is State.STREAMING and now - item.counters.last_packet > grace:
                error = SourceError(
                    f"stream stalled: no packet for {now - item.counters.last_packet:.0f} s "
                    f"from {item.spec.display}",
                    code="E205",
                )
                self.log.warning("%s; restarting the input", error)
                item.restart(self.timing, error)

    def status(self, now: float | None = None) -> CameraStatus:
        now = time.monotonic() if now is None else now
        inputs = [item.status(now) for item in self.inputs]
        primary = next((s for s in inputs if "detect" in s.roles), inputs[0])
        errors = [s.last_error for s in inputs if s.last_error and s.state is not State.STREAMING]
        uptimes = [s.uptime for s in inputs if s.uptime is not None]
        cpu = self.cpu.percent()
        return CameraStatus(
            name=self.name,
            enabled=self.config.enabled,
            state=worst(s.state for s in inputs),
            inputs=inputs,
            fps_in=primary.fps,
            fps_detect=None,
            cpu_pct=round(cpu, 2) if cpu is not None else None,
            reconnects=sum(s.reconnects for s in inputs),
            dropped=sum(s.dropped for s in inputs),
            uptime=min(uptimes) if len(uptimes) == len(inputs) else None,
            last_error=errors[0] if errors else None,
            governor=None,
            hwaccel=self.config.hwaccel,
        )


def join_all(workers: list[threading.Thread], timeout: float) -> list[threading.Thread]:
    """Join threads against one shared deadline; return those still alive."""
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    return [w for w in workers if w.is_alive()]
