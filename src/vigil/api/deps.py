"""Dependencies shared by every router: the current user and the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from vigil.camera.manager import CameraManager
from vigil.const import CAMERA_NAME_PATTERN


@dataclass(frozen=True, slots=True)
class User:
    name: str


ANONYMOUS = User("anonymous")


async def current_user(request: Request) -> User:
    """Everyone is let in until the auth work lands; then only this function changes."""
    return ANONYMOUS


def get_manager(request: Request) -> CameraManager:
    manager: CameraManager = request.app.state.manager
    return manager


ManagerDep = Annotated[CameraManager, Depends(get_manager)]
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
