"""The services the routes reach, in one typed object: ``app.state.services``.

Routers never read ``app.state`` themselves; they take what they need through the typed
dependencies in :mod:`vigil.api.deps`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from vigil.camera.changes import CameraChanges
from vigil.camera.manager import CameraManager
from vigil.recording.recorder import RecordingContext
from vigil.streaming.webrtc import WebRtcSessions


@dataclass(slots=True)
class Services:
    """What one app serves: the cameras, their changes, WebRTC sessions, the export pool."""

    manager: CameraManager
    changes: CameraChanges
    webrtc: WebRtcSessions
    started: float  # time.monotonic() when the app was built, for the health's uptime
    exports: ThreadPoolExecutor | None = None  # made by the lifespan, shut down by it

    @property
    def recording(self) -> RecordingContext | None:
        """Where footage goes and its index; None for a server that records nothing."""
        return self.manager.recording
