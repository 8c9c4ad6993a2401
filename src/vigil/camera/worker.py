"""A worker process: one shard of the cameras, run by today's threads, told what to do over
its control channel (:mod:`vigil.camera.channel`).

The main process starts it with :func:`run` as a spawned process's target. Inside, a plain
:class:`~vigil.camera.manager.CameraManager` runs the worker's cameras: ingest, recording
(into the same storage root, indexing in the same SQLite file, which WAL lets several
processes write), detection and live view. The worker owns no HTTP, no retention and no
auth: those stay in the main process.

- The main thread reads commands and answers each, in order.
- The camera manager's monitor sends a :class:`~vigil.camera.channel.Report` after each
  pass (every :data:`~vigil.const.STATS_INTERVAL` while the worker has cameras, once at
  each change when it has none), so the main process never waits on a worker to read, and
  an idle worker never wakes.
- When the channel ends (the main process quit, or was killed), the worker stops its
  cameras, closing their segments, and exits: it never outlives the main process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing import reduction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import psutil

from vigil.camera.channel import (
    Action,
    Add,
    Command,
    DiskFull,
    LiveJpeg,
    Quit,
    Remove,
    Replace,
    Reply,
    Report,
    SetLevel,
    Snapshot,
    Start,
    Stop,
    Trigger,
    Watch,
    WebRtcClose,
    WebRtcOffer,
)
from vigil.camera.manager import CameraManager
from vigil.camera.status import CameraStatus
from vigil.camera.supervisor import CameraSupervisor
from vigil.camera.webrtc import WorkerWebRtc
from vigil.config import GovernorConfig
from vigil.errors import VigilError
from vigil.malloc import limit_arenas
from vigil.recording.recorder import RecordingContext
from vigil.storage.index import Index
from vigil.streaming.live import FRAMES, LiveFrame
from vigil.streaming.webrtc import WebRtcSessions

_log = logging.getLogger(__name__)


class HeldFd:
    """A descriptor the worker keeps open for its whole life: the instance lock's. Pickled
    for a spawned process, it passes the descriptor itself (not its number), so the worker
    holds the same ``flock`` as the main process: a new vigil can't start on this storage
    while an old worker still closes its segments."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self) -> tuple[Callable[[_Detachable], HeldFd], tuple[_Detachable]]:
        return (_held, (reduction.DupFd(self.fd),))


class _Detachable(Protocol):
    def detach(self) -> int: ...


def _held(dup: _Detachable) -> HeldFd:
    return HeldFd(dup.detach())


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What a worker needs to run cameras, as the main process loaded it."""

    number: int
    storage_root: Path | None  # None: this server records nothing (the storage was refused)
    database: Path | None
    governor: GovernorConfig = field(default_factory=GovernorConfig)  # the pool's, not a worker's
    camera_networks: tuple[str, ...] = ()
    log_level: int = logging.INFO
    nice: int = 0
    records_clock_steps: bool = False  # one worker writes a wall-clock step to the index
    held: tuple[HeldFd, ...] = ()  # the instance lock's descriptors
    webrtc_ice_servers: tuple[str, ...] = ()
    webrtc_addresses: tuple[str, ...] | None = None  # where media binds; None: everywhere


class Worker:
    """The worker's side of the channel, around its camera manager."""

    def __init__(self, conn: Connection, settings: WorkerSettings):
        self.conn = conn
        self.settings = settings
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        context = None
        if settings.storage_root is not None and settings.database is not None:
            context = RecordingContext(
                settings.storage_root, Index(settings.database), on_disk_full=self._disk_full
            )
        self.manager = CameraManager(
            recording=context,
            camera_networks=settings.camera_networks,
            records_clock_steps=settings.records_clock_steps,
            governs=False,  # the main process governs every worker's cameras as one machine
        )
        addresses = settings.webrtc_addresses
        self.webrtc = WorkerWebRtc(
            self.manager.local,
            WebRtcSessions(
                list(settings.webrtc_ice_servers),
                addresses=list(addresses) if addresses is not None else None,
            ),
        )
        self._process = psutil.Process()
        self._watched: set[tuple[str, str]] = set()  # (camera, kind) the main process watches

    def send(self, message: object) -> None:
        with self._send_lock:
            self.conn.send(message)

    def _disk_full(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.send(DiskFull())

    def report(self) -> Report:
        manager = self.manager
        figures = {n: f for n in manager.names() if (f := manager.figures(n)) is not None}
        times = self._process.cpu_times()
        at = time.monotonic()
        return Report(
            worker=self.settings.number,
            pid=os.getpid(),
            at=at,
            statuses=[self._own(status) for status in manager.statuses()],
            figures=figures,
            clock_steps=manager.clock_steps,
            cpu_seconds=times.user + times.system,
            rss_bytes=self._process.memory_info().rss,
        )

    def _send_report(self) -> None:
        """After each of the monitor's passes, on its thread: once a second while the worker
        has cameras; with none, once at each change (nothing else to say, no wake-up)."""
        with contextlib.suppress(OSError, ValueError):  # the channel is gone: serve ends too
            self.send(self.report())

    def _send_frame(self, name: str, frame: LiveFrame) -> None:
        with contextlib.suppress(OSError, ValueError):  # the main process is gone
            self.send(LiveJpeg(name, frame))

    def _feeds(self, name: str, cam: CameraSupervisor) -> None:
        """A new (or replaced) camera: its JPEGs go to the main process; nobody watches yet."""
        cam.live.on_publish = lambda frame: self._send_frame(name, frame)
        self._watched = {(n, kind) for n, kind in self._watched if n != name}

    def _watch(self, name: str, kind: str, wanted: bool) -> None:
        feed = self.manager.local(name).live
        if wanted and (name, kind) not in self._watched:
            self._watched.add((name, kind))
            feed.add_viewer(kind)
        elif not wanted and (name, kind) in self._watched:
            self._watched.discard((name, kind))
            feed.remove_viewer(kind)

    def handle(self, action: Action) -> tuple[float, float] | LiveFrame | Future[Any] | None:
        """Do `action`; what it gives. A future is answered when it is done (WebRTC), while
        later commands go on."""
        manager = self.manager
        match action:
            case Add(name, config, start):
                self._feeds(name, manager.add(name, config, start=start))
            case Replace(name, config):
                self._feeds(name, manager.replace(name, config))
            case Remove(name):
                manager.remove(name)
                self._watched = {(n, kind) for n, kind in self._watched if n != name}
            case Watch(name, kind, wanted):
                self._watch(name, kind, wanted)
            case Snapshot(name, max_age):
                return manager.still(name, max_age)
            case Start(name):
                manager.start_camera(name)
            case Stop(name):
                manager.stop_camera(name)
            case Trigger(name, at):
                return manager.trigger_event(name, at)
            case WebRtcOffer(name, sdp, owner):
                return self.webrtc.offer(name, sdp, owner)
            case WebRtcClose(name, session, user, admin):
                return self.webrtc.close(name, session, user, admin)
            case SetLevel(name, level, reason):
                manager.local(name).set_detect_level(level, reason)
            case Quit():
                self._stop.set()
        return None

    def _status(self, action: Action) -> CameraStatus | None:
        name = getattr(action, "name", None)
        if name is None or name not in self.manager.names():
            return None
        return self._own(self.manager.status(name))

    def _own(self, status: CameraStatus) -> CameraStatus:
        """`status` with the viewers here (WebRTC's), not the main process's watch of its
        frames: the main process adds its own MJPEG and snapshot viewers."""
        if (status.name, FRAMES) not in self._watched:
            return status
        return dataclasses.replace(status, viewers=status.viewers - 1)

    def serve(self) -> None:
        self.manager.on_tick = self._send_report
        self.manager.start()
        try:
            while not self._stop.is_set():
                try:
                    command: Command = self.conn.recv()
                except (EOFError, OSError):
                    break  # the main process is gone
                try:
                    result = self.handle(command.action)
                except Exception as err:
                    self._failed(command, err)
                else:
                    if isinstance(result, Future):
                        result.add_done_callback(functools.partial(self._later, command))
                        continue
                    at = time.monotonic()
                    status = self._status(command.action)
                    frame = result if isinstance(result, LiveFrame) else None
                    value = result if isinstance(result, tuple) else None
                    self.send(Reply(command.id, value=value, status=status, at=at, frame=frame))
        finally:
            self._stop.set()
            self.webrtc.shutdown()
            self.manager.shutdown()

    def _failed(self, command: Command, err: BaseException) -> None:
        if not isinstance(err, VigilError):  # a bug: say so, keep the worker
            action = command.action  # named, never shown: an Add holds the camera's credentials
            _log.error(
                "[E600] worker %d: %s of camera %r failed",
                self.settings.number,
                type(action).__name__,
                getattr(action, "name", None),
                exc_info=err,
            )
            err = VigilError(f"{type(err).__name__} in worker {self.settings.number}: see its log")
        with contextlib.suppress(OSError, ValueError):
            self.send(Reply(command.id, err.detail(), error_status=err.status))

    def _later(self, command: Command, done: Future[Any]) -> None:
        """A command answered off the main thread (a WebRTC offer: the connect, ICE)."""
        if done.cancelled():  # the worker is stopping
            return
        err = done.exception()
        if err is not None:
            self._failed(command, err)
            return
        result = done.result()
        with contextlib.suppress(OSError, ValueError):
            self.send(Reply(command.id, answer=result if isinstance(result, tuple) else None))


def run(conn: Connection, settings: WorkerSettings) -> None:
    """The worker process's target (spawned, so nothing is inherited but its arguments)."""
    from vigil.log import setup_logging

    setup_logging(settings.log_level)
    limit_arenas()  # before the cameras' threads, as in the main process (vigil.malloc)
    # Ctrl-C reaches the whole process group: the main process decides when workers stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if settings.nice:
        os.nice(settings.nice)
    Worker(conn, settings).serve()
