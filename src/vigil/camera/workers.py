"""The main process's side of the workers: ``server.workers`` processes, each running a shard
of the cameras (:mod:`vigil.camera.worker`), and one object the API uses as it uses a
:class:`~vigil.camera.manager.CameraManager`.

    WorkerPool ──leases──> which worker runs which camera (by measured cost)
       │ per worker: a process, its channel, a reader thread, the last Report
       ├── commands: add / replace / remove / start / stop / trigger, answered in order
       └── reads: status and figures from the last Report, never a round trip

The pool keeps every camera's config and whether it should run: that record is the truth.
A command updates it first and then tells the worker. When a worker dies (segfault, OOM
kill, SIGKILL), its reader thread sees the channel end, logs E701, and starts the worker
again with its cameras from the record, under new lease tokens: so a change made while a
worker restarts is neither lost nor applied twice. A worker that keeps dying is restarted
after a growing pause (:data:`RESTART_BACKOFF`), never given up on: it holds cameras.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout

from vigil.camera.cameras import WorkerInfo
from vigil.camera.channel import (
    Action,
    Add,
    DiskFull,
    Quit,
    Remove,
    Replace,
    Reply,
    Report,
    Start,
    Stop,
    Trigger,
)
from vigil.camera.leases import Leases, LocalLeases
from vigil.camera.state import State
from vigil.camera.status import CameraFigures, CameraStatus
from vigil.camera.supervisor import CameraSupervisor
from vigil.camera.worker import WorkerSettings
from vigil.camera.worker_link import WorkerLink
from vigil.config import CameraConfig
from vigil.const import SHUTDOWN_STOP_TIMEOUT
from vigil.errors import CameraNotFound, RequestError, VigilError
from vigil.recording.recorder import RecordingContext
from vigil.recording.recovery import reconcile

_log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 15.0  # seconds a worker may take to answer (a camera's stop is at most 2)
RESTART_BACKOFF = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)  # pause before restart n of a quick crash
STABLE_SECONDS = 60.0  # a worker up this long that dies again starts from the first pause


class WorkerPool:
    """Cameras spread over worker processes, behind the camera manager's methods."""

    def __init__(
        self,
        cameras: dict[str, CameraConfig] | None,
        settings: WorkerSettings,
        *,
        workers: int,
        recording: RecordingContext | None = None,
        leases: Leases | None = None,
        on_disk_full: Callable[[], None] | None = None,
    ):
        self.settings = settings  # number is set per worker
        self.recording = recording
        self.leases = leases if leases is not None else LocalLeases(workers)
        self.count = workers
        self.on_disk_full = on_disk_full
        self._configs: dict[str, CameraConfig] = dict(cameras or {})
        self._stopped: set[str] = set()  # stopped through the API (the config says enabled)
        # (when, status) as a command's answer gave it; the newer of it and the report wins
        self._statuses: dict[str, tuple[float, CameraStatus]] = {}
        self._workers: dict[int, WorkerLink] = {}
        self._lock = threading.RLock()  # the record
        self._closing = threading.Event()
        self.deaths = 0  # worker processes that died, in all
        self.restarts = 0
        self._quick_deaths: dict[int, int] = {}
        self._restarts: dict[int, int] = {}  # by worker number

    # ---- workers -------------------------------------------------------------------------

    def _spawn(self, number: int) -> WorkerLink:
        settings = dataclasses.replace(
            self.settings, number=number, records_clock_steps=number == 0
        )
        return WorkerLink.spawn(settings, self._message, self._gone)

    def _message(self, handle: WorkerLink, message: object) -> None:
        match message:
            case Report():
                self.leases.measured(
                    {s.name: s.cpu_pct for s in message.statuses if s.cpu_pct is not None}
                )
            case DiskFull():
                if self.on_disk_full is not None:
                    self.on_disk_full()

    def _gone(self, handle: WorkerLink) -> None:
        """`handle`'s channel ended: a shutdown, or a death to recover from."""
        if self._closing.is_set():
            return
        self.deaths += 1
        code = handle.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        cams = self.leases.held_by(handle.number)
        _log.error(
            "[E701] worker %d (pid %s) died (%s); restarting it with its %d camera(s)",
            handle.number,
            handle.process.pid,
            how,
            len(cams),
        )
        up_for = time.monotonic() - handle.started
        quick = 0 if up_for >= STABLE_SECONDS else self._quick_deaths.get(handle.number, 0)
        self._quick_deaths[handle.number] = quick + 1
        pause = RESTART_BACKOFF[min(quick, len(RESTART_BACKOFF) - 1)]
        if pause and self._closing.wait(pause):
            return
        with handle.lock, self._lock:  # commands for its cameras wait for the restart
            if self._closing.is_set():
                return
            self._recover(self.leases.held_by(handle.number))
            fresh = self._spawn(handle.number)
            fresh.lock = handle.lock
            self._workers[handle.number] = fresh
            self.restarts += 1
            self._restarts[handle.number] = self._restarts.get(handle.number, 0) + 1
            for lease in self.leases.renewed(handle.number):
                self._statuses.pop(lease.camera, None)
                fresh.post(self._add_action(lease.camera, lease.token))

    def _recover(self, cameras: list[str]) -> None:
        """The dead worker's open segments: cut to their last whole fragment and indexed,
        before its cameras record again (the others' are left alone)."""
        if self.recording is None or not cameras:
            return
        try:
            result = reconcile(self.recording.root, self.recording.index, cameras=cameras)
        except Exception:  # a restart must not wait on a bug here
            _log.exception("[E600] recovery after a worker's death failed")
            return
        _log.info(
            "after the worker's death: recovered %d segment(s), quarantined %d",
            result.recovered,
            result.quarantined,
        )

    def _add_action(self, name: str, token: int) -> Add:
        config = self._configs[name]
        return Add(name, config, start=config.enabled and name not in self._stopped, token=token)

    def _current(self, name: str) -> WorkerLink:
        """The worker that holds `name` now (called under the record's lock)."""
        lease = self.leases.lease(name)
        if lease is None:
            raise CameraNotFound(name)
        return self._workers[lease.holder]

    def _call(self, name: str, handle: WorkerLink, action: Action) -> Reply:
        """Send `action` to `handle`, the worker that held `name` when the record changed, and
        wait for its answer. If that worker was restarted since, the restart applied the
        record already: nothing is sent (a trigger, which is not in the record, is refused)."""
        with handle.lock:
            if self._workers.get(handle.number) is not handle:
                if isinstance(action, Trigger):
                    raise VigilError(f"camera {name!r}'s worker restarted: try again", code="E702")
                return Reply(-1)
            future = handle.post(action)
        try:
            reply = future.result(COMMAND_TIMEOUT)
        except FutureTimeout:
            raise VigilError(
                f"worker {handle.number} did not answer within {COMMAND_TIMEOUT:.0f} s",
                code="E702",
            ) from None
        if reply.error is not None:
            raise VigilError(reply.error.message, code=reply.error.code, camera=name)
        if reply.status is not None:
            with self._lock:
                self._statuses[name] = (reply.at, reply.status)
        return reply

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start every worker, and every camera on the worker its lease names."""
        self._closing.clear()
        with self._lock:
            for number in range(self.count):
                self._workers[number] = self._spawn(number)
            for name in sorted(self._configs):
                lease = self.leases.grant(name)
                self._workers[lease.holder].post(self._add_action(name, lease.token))

    def shutdown(self, timeout: float = SHUTDOWN_STOP_TIMEOUT) -> None:
        """Every worker stops its cameras (closing their segments) at once; one deadline."""
        self._closing.set()
        handles = list(self._workers.values())
        for handle in handles:
            handle.post(Quit())
        deadline = time.monotonic() + timeout
        for handle in handles:
            handle.process.join(max(0.0, deadline - time.monotonic()))
            if handle.process.is_alive():
                _log.warning("[E701] worker %d did not stop in time: killed", handle.number)
                handle.process.kill()
                handle.process.join(1.0)

    # ---- queries ------------------------------------------------------------------------

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._configs)

    def configs(self) -> dict[str, CameraConfig]:
        with self._lock:
            return dict(self._configs)

    def config(self, name: str) -> CameraConfig:
        with self._lock:
            config = self._configs.get(name)
        if config is None:
            raise CameraNotFound(name)
        return config

    def local(self, name: str) -> CameraSupervisor:
        self.config(name)  # 404 first
        raise VigilError(
            f"camera {name!r} runs in worker {self.worker_of(name)}: live view (MJPEG, "
            "snapshots, WebRTC) of a camera in a worker process isn't built yet; set "
            "server.workers: 1 to watch it",
            code="E703",
            camera=name,
        )

    def workers(self) -> list[WorkerInfo]:
        out = []
        for number, handle in sorted(self._workers.items()):
            report = handle.report
            out.append(
                WorkerInfo(
                    number=number,
                    pid=handle.process.pid,
                    alive=handle.process.is_alive(),
                    cameras=self.leases.held_by(number),
                    cpu_seconds=round(report.cpu_seconds, 2) if report is not None else 0.0,
                    rss_bytes=report.rss_bytes if report is not None else 0,
                    restarts=self._restarts.get(number, 0),
                )
            )
        return out

    @property
    def worker_deaths(self) -> int:
        return self.deaths

    def worker_of(self, name: str) -> int:
        lease = self.leases.lease(name)
        if lease is None:
            raise CameraNotFound(name)
        return lease.holder

    def pid(self, number: int) -> int | None:
        return self._workers[number].process.pid

    def reports(self) -> list[Report]:
        return [h.report for h in self._workers.values() if h.report is not None]

    def figures(self, name: str) -> CameraFigures | None:
        for report in self.reports():
            if name in report.figures:
                return report.figures[name]
        return None

    @property
    def clock_steps(self) -> int:
        return max((r.clock_steps for r in self.reports()), default=0)

    def status(self, name: str) -> CameraStatus:
        with self._lock:
            config = self._configs.get(name)
            if config is None:
                raise CameraNotFound(name)
            lease = self.leases.lease(name)
            handle = self._workers.get(lease.holder) if lease is not None else None
            report = handle.report if handle is not None else None
            answered = self._statuses.get(name)
        reported = None
        if report is not None:
            reported = next((s for s in report.statuses if s.name == name), None)
        if answered is not None and (reported is None or answered[0] > report.at):  # type: ignore[union-attr]
            return answered[1]
        if reported is not None:
            return reported
        return self._placeholder(name, config)

    def statuses(self) -> list[CameraStatus]:
        return [self.status(name) for name in self.names()]

    def _placeholder(self, name: str, config: CameraConfig) -> CameraStatus:
        """A camera whose worker has not reported it yet: starting, or stopped."""
        status = CameraSupervisor(name, config).status()
        running = config.enabled and name not in self._stopped
        return dataclasses.replace(status, state=State.STARTING) if running else status

    # ---- changes ------------------------------------------------------------------------

    def add(self, name: str, config: CameraConfig, *, start: bool = True) -> CameraStatus:
        with self._lock:
            if name in self._configs:
                raise RequestError(f"camera {name!r} already exists", code="E603")
            self._configs[name] = config
            if not start:
                self._stopped.add(name)
            lease = self.leases.grant(name)
            handle = self._workers[lease.holder]
            action = self._add_action(name, lease.token)
        try:
            self._call(name, handle, action)
        except VigilError:
            with self._lock:
                self._forget(name)
            raise
        return self.status(name)

    def _forget(self, name: str) -> None:
        self._configs.pop(name, None)
        self._stopped.discard(name)
        self._statuses.pop(name, None)
        self.leases.release(name)

    def remove(self, name: str) -> None:
        with self._lock:
            handle = self._current(name)
            self._forget(name)
        self._call(name, handle, Remove(name))

    def replace(self, name: str, config: CameraConfig) -> CameraStatus:
        with self._lock:
            handle = self._current(name)
            old, self._configs[name] = self._configs[name], config
            stopped = name in self._stopped
            self._stopped.discard(name)
        try:
            self._call(name, handle, Replace(name, config))
        except VigilError:
            with self._lock:
                if name in self._configs:
                    self._configs[name] = old
                    if stopped:
                        self._stopped.add(name)
            raise
        return self.status(name)

    def start_camera(self, name: str) -> None:
        with self._lock:
            handle = self._current(name)
            self._stopped.discard(name)
        self._call(name, handle, Start(name))

    def stop_camera(self, name: str) -> None:
        with self._lock:
            handle = self._current(name)
            self._stopped.add(name)
        self._call(name, handle, Stop(name))

    def trigger_event(self, name: str, at: float) -> tuple[float, float]:
        with self._lock:
            handle = self._current(name)
        reply = self._call(name, handle, Trigger(name, at))
        if reply.value is None:
            raise VigilError(f"camera {name!r}'s worker restarted: try again", code="E702")
        return reply.value
