"""A camera's status in the main process, when it runs in a worker: the newer of what the
worker's last :class:`~vigil.camera.channel.Report` said and what its last command's answer
said, with this process's own viewers added. Nothing here waits on a worker."""

from __future__ import annotations

import dataclasses
import threading

from vigil.camera.channel import Report
from vigil.camera.remote_feeds import RemoteFeeds
from vigil.camera.state import State
from vigil.camera.status import CameraStatus
from vigil.camera.supervisor import CameraSupervisor
from vigil.config import CameraConfig


class Reported:
    """The cameras' statuses as their workers last gave them."""

    def __init__(self, feeds: RemoteFeeds):
        self.feeds = feeds
        self._answered: dict[str, tuple[float, CameraStatus]] = {}  # (monotonic when, status)
        self._lock = threading.Lock()

    def answered(self, name: str, at: float, status: CameraStatus) -> None:
        """A command's answer carried the camera's status, taken at `at`."""
        with self._lock:
            self._answered[name] = (at, status)

    def forget(self, name: str) -> None:
        """The camera was removed, or starts again on a (new) worker: its last answer is old."""
        with self._lock:
            self._answered.pop(name, None)

    def status(
        self, name: str, config: CameraConfig, report: Report | None, running: bool
    ) -> CameraStatus:
        with self._lock:
            answered = self._answered.get(name)
        reported = None
        if report is not None:
            reported = next((s for s in report.statuses if s.name == name), None)
        if answered is not None and (report is None or reported is None or answered[0] > report.at):
            reported = answered[1]
        if reported is None:  # its worker has not reported it yet: starting, or stopped
            status = CameraSupervisor(name, config).status()
            if not running:
                return status
            fps_detect = 0.0 if config.detect.enabled else None  # as a starting camera's
            return dataclasses.replace(status, state=State.STARTING, fps_detect=fps_detect)
        # the worker counts its WebRTC viewers, this process its MJPEG and snapshot ones
        return dataclasses.replace(reported, viewers=reported.viewers + self.feeds.viewers(name))
