"""The services the routes reach, in one typed object: ``app.state.services``.

Routers never read ``app.state`` themselves; they take what they need through the typed
dependencies in :mod:`vigil.api.deps`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from vigil.api.policy import HttpPolicy
from vigil.auth import Access
from vigil.camera.cameras import Cameras
from vigil.camera.changes import CameraChanges
from vigil.camera.webrtc import WebRtc
from vigil.errors import ErrorDetail
from vigil.recording.recorder import RecordingContext
from vigil.streaming.webrtc import WebRtcSessions


class ViewerSlots:
    """MJPEG viewers counted per camera and in all, against their caps."""

    def __init__(self, total: int):
        self.total = total
        self._by_camera: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, camera: str, per_camera: int) -> bool:
        with self._lock:
            here = self._by_camera.get(camera, 0)
            if here >= per_camera or sum(self._by_camera.values()) >= self.total:
                return False
            self._by_camera[camera] = here + 1
            return True

    def release(self, camera: str) -> None:
        with self._lock:
            self._by_camera[camera] -= 1
            if not self._by_camera[camera]:
                del self._by_camera[camera]


@dataclass(slots=True)
class Services:
    """What one app serves: the cameras, their changes, WebRTC sessions, the export pool,
    and who may use them."""

    manager: Cameras
    changes: CameraChanges
    webrtc: WebRtcSessions  # this process's sessions (of cameras in this process)
    rtc: WebRtc  # where offers go: those sessions, or the cameras' workers
    started: float  # time.monotonic() when the app was built, for the health's uptime
    exports: ThreadPoolExecutor | None = None  # made by the lifespan, shut down by it
    access: Access | None = None  # None: auth.enabled is false (loopback only)
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    mjpeg_slots: ViewerSlots = field(default_factory=lambda: ViewerSlots(64))
    storage_error: ErrorDetail | None = None  # the storage was refused at start (E409)

    @property
    def recording(self) -> RecordingContext | None:
        """Where footage goes and its index; None for a server that records nothing."""
        return self.manager.recording
