"""Dependencies shared by every router: the services, path and query types, listing pages.

Who the request is comes from :mod:`vigil.api.guard`."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from vigil.api.errors import ApiError
from vigil.api.guard import UserDep, require_camera
from vigil.api.services import Services
from vigil.camera.cameras import Cameras
from vigil.camera.changes import CameraChanges
from vigil.camera.webrtc import WebRtc
from vigil.const import CAMERA_NAME_PATTERN
from vigil.recording.recorder import RecordingContext
from vigil.storage.index import Page


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_manager(services: ServicesDep) -> Cameras:
    return services.manager


def get_changes(services: ServicesDep) -> CameraChanges:
    return services.changes


def get_webrtc(services: ServicesDep) -> WebRtc:
    """Where offers go: the app's own sessions, or the cameras' workers."""
    return services.rtc


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


ManagerDep = Annotated[Cameras, Depends(get_manager)]
ChangesDep = Annotated[CameraChanges, Depends(get_changes)]
WebRtcDep = Annotated[WebRtc, Depends(get_webrtc)]
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
MAX_PAGE = 1000
_CURSOR = r"^-?[0-9]{1,20}(\.[0-9]{1,20})?(e[+-]?[0-9]{1,3})?~[0-9]{1,18}$"


def listing_page(
    span: TimeRangeDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows per page")] = MAX_PAGE,
    cursor: Annotated[
        str | None, Query(pattern=_CURSOR, description="`next` of the page before")
    ] = None,
) -> Page:
    """A listing's page, narrowed to the cameras the user may see (403 for one it may not)."""
    if span.camera is not None:
        require_camera(user, span.camera)
    after = None
    if cursor is not None:
        start, _, row_id = cursor.partition("~")
        after = (float(start), int(row_id))
    return Page(None if user.sees_all else user.cameras, limit, after)


PageDep = Annotated[Page, Depends(listing_page)]


def next_cursor(rows: Sequence[Any], page: Page) -> str | None:
    """The cursor of the page after `rows`, or None if this was the last."""
    if page.limit is None or len(rows) < page.limit:
        return None
    last = rows[-1]
    return f"{last.start!r}~{last.id}"  # repr: the float exactly, so no row is skipped


def unix(value: datetime | None) -> float | None:
    """Unix time of an API time (a naive one is UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
