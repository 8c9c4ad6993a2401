"""The main process's side of the workers: ``server.workers`` processes, each running a shard
of the cameras (:mod:`vigil.camera.worker`), and one object the API uses as it uses a
:class:`~vigil.camera.manager.CameraManager`.

    WorkerPool ──leases──> which worker runs which camera (by measured cost)
       │ per worker: a process, its channel, a reader thread, the last Report
       ├── commands: add / replace / remove / start / stop / trigger, answered in order
       ├── WebRTC: the offer and its answer cross; the session and media stay in the worker
       ├── the governor: one for every worker's cameras (vigil.camera.machine_governor)
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
    LiveJpeg,
    Quit,
    Remove,
    Replace,
    Reply,
    Report,
    Snapshot,
    Start,
    Stop,
    Trigger,
    Watch,
)
from vigil.camera.leases import Leases, LocalLeases, Move
from vigil.camera.machine_governor import MachineGovernor
from vigil.camera.remote_feeds import RemoteFeeds
from vigil.camera.reported import Reported
from vigil.camera.status import CameraFigures, CameraStatus
from vigil.camera.supervisor import CameraSupervisor
from vigil.camera.webrtc import PooledWebRtc, WebRtc
from vigil.camera.worker import WorkerSettings
from vigil.camera.worker_link import WorkerLink
from vigil.config import CameraConfig
from vigil.const import SHUTDOWN_STOP_TIMEOUT
from vigil.errors import CameraNotFound, RequestError, VigilError
from vigil.recording.recorder import RecordingContext
from vigil.recording.recovery import recover_cameras
from vigil.streaming.live import FRAMES, FRESH, LiveFeed, LiveFrame

_log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 15.0  # seconds a worker may take to answer (a camera's stop is at most 2)


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
        self.feeds = RemoteFeeds(lambda name, kind, on: self._post(name, Watch(name, kind, on)))
        self.governor = MachineGovernor(settings.governor, self.statuses, self._post)
        self.webrtc: WebRtc | None = PooledWebRtc(self)  # signalling here, media there
        for name, config in self._configs.items():
            self.feeds.open(name, config)
        self._stopped: set[str] = set()  # stopped through the API (the config says enabled)
        self.reported = Reported(self.feeds)  # statuses, from reports and answers
        self._workers: dict[int, WorkerLink] = {}
        self._lock = threading.RLock()  # the record
        self._closing = threading.Event()
        self._rebalancing = threading.Lock()  # one rebalance at a time
        self.worker_deaths = 0  # worker processes that died, in all
        self.restarts = 0

    # ---- workers -------------------------------------------------------------------------

    def _spawn(self, number: int) -> WorkerLink:
        settings = dataclasses.replace(self.settings, number=number, records_clock_steps=not number)
        return WorkerLink.spawn(settings, self._message, self._gone)

    def _post(self, name: str, action: Action) -> None:
        """`action` to the worker that holds `name`, not waited for, nor its command lock (a
        first or last viewer's Watch, on the event loop; a move or a restart sends it again)."""
        with self._lock:
            handle = self._workers[lease.holder] if (lease := self.leases.lease(name)) else None
        if handle is not None:  # else removed meanwhile
            handle.post(action)

    def _message(self, handle: WorkerLink, message: object) -> None:
        match message:
            case LiveJpeg(name, frame):
                self.feeds.publish(name, frame)
            case Report():
                self.leases.measured(message.costs())
                self.governor.reported()
            case DiskFull():
                if self.on_disk_full is not None:
                    self.on_disk_full()

    def _gone(self, handle: WorkerLink) -> None:
        """`handle`'s channel ended: a shutdown, or a death to recover from."""
        if self._closing.is_set():
            return
        self.worker_deaths += 1
        _log.error(
            "[E701] worker %d (pid %s) died (%s); restarting it with its %d camera(s)",
            handle.number,
            handle.process.pid,
            handle.how_it_ended(),
            len(self.leases.held_by(handle.number)),
        )
        pause = handle.pause_before_restart()
        if pause and self._closing.wait(pause):
            return
        with handle.lock, self._lock:  # commands for its cameras wait for the restart
            if self._closing.is_set():
                return
            if self.recording is not None:  # its open segments, before they record again
                recover_cameras(self.recording, self.leases.held_by(handle.number))
            fresh = handle.succeeded_by(self._spawn(handle.number))
            self._workers[handle.number] = fresh
            self.restarts += 1
            for lease in self.leases.renewed(handle.number):
                self.reported.forget(lease.camera)
                fresh.post(self._add_action(lease.camera, lease.token))
                if self.feeds.watched(lease.camera):  # its viewers watch on
                    fresh.post(Watch(lease.camera, FRAMES, True))

    def _add_action(self, name: str, token: int) -> Add:
        config = self._configs[name]
        return Add(name, config, start=config.enabled and name not in self._stopped, token=token)

    def _current(self, name: str) -> WorkerLink:
        """The worker that holds `name` now (called under the record's lock)."""
        lease = self.leases.lease(name)
        if lease is None:
            raise CameraNotFound(name)
        return self._workers[lease.holder]

    def command(self, name: str, action: Action, timeout: float = COMMAND_TIMEOUT) -> Reply:
        """`action` for camera `name`, on the worker that holds it; its answer."""
        with self._lock:
            handle = self._current(name)
        return self._call(name, handle, action, timeout)

    def _call(
        self, name: str, handle: WorkerLink, action: Action, timeout: float = COMMAND_TIMEOUT
    ) -> Reply:
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
            reply = future.result(timeout)
        except FutureTimeout:
            raise VigilError(
                f"worker {handle.number} did not answer within {timeout:.0f} s", code="E702"
            ) from None
        if reply.error is not None:
            error = reply.error
            raise VigilError(error.message, code=error.code, camera=name, status=reply.error_status)
        if reply.status is not None:
            self.reported.answered(name, reply.at, reply.status)
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
            f"camera {name!r} runs in worker {self.worker_of(name)}, not in this process",
            code="E703",
            camera=name,
        )

    def live_feed(self, name: str) -> LiveFeed:
        feed = self.feeds.get(name)
        if feed is None:
            raise CameraNotFound(name)
        return feed

    def running(self, name: str) -> bool:
        config = self.config(name)
        return config.enabled and name not in self._stopped

    def still(self, name: str, max_age: float | None = FRESH) -> LiveFrame | None:
        return self.command(name, Snapshot(name, max_age)).frame

    def workers(self) -> list[WorkerInfo]:
        return [h.info(self.leases.held_by(n)) for n, h in sorted(self._workers.items())]

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
            running = config.enabled and name not in self._stopped
        report = handle.report if handle is not None else None
        return self.reported.status(name, config, report, running)

    def statuses(self) -> list[CameraStatus]:
        return [self.status(name) for name in self.names()]

    # ---- changes ------------------------------------------------------------------------

    def add(self, name: str, config: CameraConfig, *, start: bool = True) -> CameraStatus:
        with self._lock:
            if name in self._configs:
                raise RequestError(f"camera {name!r} already exists", code="E603")
            self._configs[name] = config
            self.feeds.open(name, config)
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
        self.feeds.close(name)  # its viewers' streams end
        self._configs.pop(name, None)
        self._stopped.discard(name)
        self.reported.forget(name)
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
            self.feeds.open(name, config)  # the old feed's viewers reconnect to the new one
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

    def rebalance(self) -> list[Move]:
        """Spread the cameras again by measured cost (an admin asks: nothing moves on its own).
        A moving camera stops on its old worker, closing its segment, before it starts on the
        new one (never two recorders); a command for it meanwhile waits for the new one."""
        with self._rebalancing:
            with self._lock:
                moves = self.leases.rebalance()
            for move in moves:
                self._move(move)
            if moves:
                _log.info(
                    "rebalanced: %s", ", ".join(f"{m.camera} {m.before}->{m.after}" for m in moves)
                )
            return moves

    def _move(self, move: Move) -> None:
        new = self._workers[move.after]
        with new.lock:  # commands for the camera, sent to its new worker, wait behind its Add
            try:
                self._call(move.camera, self._workers[move.before], Remove(move.camera))
            except VigilError as err:  # the old worker restarted, or lost it: it runs nothing
                _log.warning("rebalance: %s on worker %d: %s", move.camera, move.before, err)
            with self._lock:
                lease = self.leases.lease(move.camera)
                if lease is None or lease.holder != move.after:
                    return  # removed (or its worker restarted and started it) meanwhile
                self.reported.forget(move.camera)
                action = self._add_action(move.camera, lease.token)
                watched = self.feeds.watched(move.camera)
            self._call(move.camera, new, action)
            if watched:  # its viewers watch on
                new.post(Watch(move.camera, FRAMES, True))

    def trigger_event(self, name: str, at: float) -> tuple[float, float]:
        reply = self.command(name, Trigger(name, at))
        if reply.value is None:
            raise VigilError(f"camera {name!r}'s worker restarted: try again", code="E702")
        return reply.value
