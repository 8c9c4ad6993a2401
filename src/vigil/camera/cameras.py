"""What the API asks of the cameras, wherever they run: one interface, two implementations.

- :class:`~vigil.camera.manager.CameraManager`: every camera in this process
  (``server.workers: 1``, today's single process).
- :class:`~vigil.camera.workers.WorkerPool`: cameras spread over worker processes; reads
  come from the workers' last reports, changes go over their control channels.

MJPEG and snapshots read the camera's :meth:`Cameras.live_feed` in this process (fed from
the worker when the camera runs in one). WebRTC sessions live beside the camera's packets:
:attr:`Cameras.webrtc` is None where every camera is here (the app's own sessions answer,
from :meth:`Cameras.local`'s supervisor), else where the offers go
(:mod:`vigil.camera.webrtc`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vigil.camera.leases import Move
from vigil.camera.status import CameraFigures, CameraStatus
from vigil.camera.supervisor import CameraSupervisor
from vigil.camera.webrtc import WebRtc
from vigil.config import CameraConfig
from vigil.recording.recorder import RecordingContext
from vigil.streaming.live import LiveFeed, LiveFrame


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One worker process, as ``GET /api/system`` shows it."""

    number: int
    pid: int | None
    alive: bool
    cameras: list[str]
    cpu_seconds: float  # the process's own, user + system, at its last report
    rss_bytes: int
    restarts: int


class Cameras(Protocol):
    recording: RecordingContext | None
    webrtc: WebRtc | None  # None: the cameras are in this process, and so are their sessions

    @property
    def clock_steps(self) -> int: ...

    def start(self) -> None: ...

    def shutdown(self, timeout: float = ...) -> None: ...

    def names(self) -> list[str]: ...

    def configs(self) -> dict[str, CameraConfig]: ...

    def config(self, name: str) -> CameraConfig:
        """The camera's config now; 404 (E601) if there is no such camera."""
        ...

    def status(self, name: str) -> CameraStatus: ...

    def statuses(self) -> list[CameraStatus]: ...

    def figures(self, name: str) -> CameraFigures | None: ...

    def add(self, name: str, config: CameraConfig, *, start: bool = True) -> object: ...

    def remove(self, name: str) -> None: ...

    def replace(self, name: str, config: CameraConfig) -> object: ...

    def start_camera(self, name: str) -> None: ...

    def stop_camera(self, name: str) -> None: ...

    def trigger_event(self, name: str, at: float) -> tuple[float, float]: ...

    def local(self, name: str) -> CameraSupervisor:
        """The camera's supervisor in this process, for WebRTC (its packets)."""
        ...

    def live_feed(self, name: str) -> LiveFeed:
        """The camera's JPEG feed, as MJPEG and snapshots read it here."""
        ...

    def running(self, name: str) -> bool:
        """Started, and not stopped through the API."""
        ...

    def still(self, name: str, max_age: float | None = ...) -> LiveFrame | None:
        """The last frame detection decoded, as JPEG, if it is at most `max_age` seconds old
        (any age: None); it may block for the encode."""
        ...

    def workers(self) -> list[WorkerInfo]:
        """The worker processes; none when every camera runs in this process."""
        ...

    @property
    def worker_deaths(self) -> int: ...

    def rebalance(self) -> list[Move]:
        """Spread the cameras over the workers again by measured cost; the moves made."""
        ...
