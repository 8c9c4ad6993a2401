"""Dependencies shared by every router: the current user, the services, path and query types."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from vigil.api.errors import ApiError
from vigil.api.services import Services
from vigil.camera.changes import CameraChanges
from vigil.camera.manager import CameraManager
from vigil.const import CAMERA_NAME_PATTERN
from vigil.recording.recorder import RecordingContext
from vigil.streaming.webrtc import WebRtcSessions


@dataclass(frozen=True, slots=True)
class User:
    name: str


ANONYMOUS = User("anonymous")


async def current_user(request: Request) -> User:
    """Everyone is let in until the auth work lands. It is applied once, to every router, in
    :func:`~vigil.api.app.create_app`: auth changes this function and nothing else."""
    return ANONYMOUS


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_manager(services: ServicesDep) -> CameraManager:
    return services.manager


def get_changes(services: ServicesDep) -> CameraChanges:
    return services.changes


def get_sessions(services: ServicesDep) -> WebRtcSessions:
    return services.webrtc


def get_recording(services: ServicesDep) -> RecordingContext:
    """The recording context; 404 (E604) on a server that records nothing."""
    context = services.recording
    if context is None:
        raise ApiError("recording is not configured on this server", code="E604")
    return context


def get_exports(services: ServicesDep) -> ThreadPoolExecutor:
    executor = services.exports
    assert executor is not None, "the app's lifespan makes the export pool"
    return executor


ManagerDep = Annotated[CameraManager, Depends(get_manager)]
ChangesDep = Annotated[CameraChanges, Depends(get_changes)]
SessionsDep = Annotated[WebRtcSessions, Depends(get_sessions)]
RecordingDep = Annotated[RecordingContext, Depends(get_recording)]
ExportsDep = Annotated[ThreadPoolExecutor, Depends(get_exports)]
CameraPath = Annotated[str, Path(pattern=CAMERA_NAME_PATTERN, description="camera name")]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A listing's filter: one camera (or all) and [start, end) in Unix time (or open)."""

    camera: str | None
    start: float | None
    end: float | None


def time_range(
    camera: Annotated[str | None, Query(pattern=CAMERA_NAME_PATTERN)] = None,
    start: Annotated[datetime | None, Query(description="ISO 8601; naive is UTC")] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601; naive is UTC")] = None,
) -> TimeRange:
    """The ``?camera=&start=&end=`` filter of the recordings and events listings."""
    return TimeRange(camera, unix(start), unix(end))


TimeRangeDep = Annotated[TimeRange, Depends(time_range)]


def unix(value: datetime | None) -> float | None:
    """Unix time of an API time (a naive one is UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
