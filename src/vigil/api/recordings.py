"""``/api/recordings``: the segment index, the files by id (never by path), and exports."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as FastApiPath
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from vigil.api.deps import (
    ExportsDep,
    ManagerDep,
    PageDep,
    RecordingDep,
    TimeRangeDep,
    next_cursor,
    unix,
)
from vigil.api.errors import ApiError
from vigil.api.guard import UserDep, audit, media_route, require_camera
from vigil.api.schemas import error_responses
from vigil.config import RecordConfig
from vigil.const import CAMERA_NAME_PATTERN
from vigil.errors import CameraNotFound
from vigil.recording.export import export
from vigil.storage.index import SegmentRow

router = APIRouter(
    prefix="/api/recordings",
    tags=["recordings"],
    responses=error_responses(404, 422),
)


class Recording(BaseModel):
    id: int
    camera: str
    start: datetime
    end: datetime
    duration: float
    bytes: int
    codec: str
    has_event: bool
    missing: bool = Field(
        False, description="Its file was not found at the last start (E408): kept, not playable."
    )

    @classmethod
    def of(cls, row: SegmentRow) -> Recording:
        return cls(
            id=row.id,
            camera=row.camera,
            start=datetime.fromtimestamp(row.start, UTC),
            end=datetime.fromtimestamp(row.end, UTC),
            duration=round(row.duration, 3),
            bytes=row.bytes,
            codec=row.codec,
            has_event=row.has_event,
            missing=row.missing,
        )


class RecordingList(BaseModel):
    recordings: list[Recording]
    next: str | None = Field(None, description="Pass as `cursor` for the next page.")


@router.get("")
def list_recordings(recording: RecordingDep, span: TimeRangeDep, page: PageDep) -> RecordingList:
    """Segments overlapping [start, end) (ISO 8601; naive times are UTC), oldest first, of
    the cameras you may see; at most `limit`, then `next` is the cursor of the rest."""
    rows = recording.index.segments(span.camera, span.start, span.end, page)
    return RecordingList(
        recordings=[Recording.of(row) for row in rows], next=next_cursor(rows, page)
    )


@router.get("/{recording_id}/file", response_class=FileResponse)
@media_route
def recording_file(recording: RecordingDep, recording_id: int, user: UserDep) -> FileResponse:
    """The segment's MP4, with HTTP Range; found by id in the index, never from a path."""
    row = recording.index.segment(recording_id) if 0 < recording_id < 2**63 else None
    if row is None:
        raise ApiError(f"no recording {recording_id}", code="E604")
    require_camera(user, row.camera)
    path = (recording.root / row.path).resolve()
    if not path.is_relative_to(recording.root.resolve()) or not path.is_file():
        raise ApiError(f"recording {recording_id} is missing on disk", code="E604")
    return FileResponse(path, media_type="video/mp4", filename=Path(row.path).name)


export_router = APIRouter(
    prefix="/api/cameras",
    tags=["recordings"],
    responses=error_responses(400, 404, 422),
)
EXPORT_WORKERS = 2  # exports are disk-bound; two at once keep one from starving the other


@export_router.get("/{name}/export", response_class=FileResponse)
@media_route
async def export_recording(
    recording: RecordingDep,
    executor: ExportsDep,
    manager: ManagerDep,
    name: Annotated[str, FastApiPath(pattern=CAMERA_NAME_PATTERN)],
    start: datetime,
    end: datetime,
    user: UserDep,
    request: Request,
) -> FileResponse:
    """One MP4 of [start, end), remuxed from the segments with no re-encode. The start snaps
    back to the key frame at or before it; at most ``record.export_max_minutes`` long."""
    require_camera(user, name)
    begin, finish = unix(start), unix(end)
    assert begin is not None and finish is not None
    if finish <= begin:
        raise ApiError("end must be after start", status=400, code="E602")
    try:
        limit = manager.config(name).record.export_max_minutes
    except CameraNotFound:
        limit = RecordConfig().export_max_minutes  # footage of a removed camera
    if finish - begin > limit * 60:
        raise ApiError(
            f"an export is at most {limit:g} minutes (record.export_max_minutes)",
            code="E607",
        )
    loop = asyncio.get_running_loop()
    job = functools.partial(export, recording.index, recording.root, name, begin, finish)
    result = await loop.run_in_executor(executor, job)  # E405 is a 404, others 500
    audit(request, user, "export", name, start=start.isoformat(), end=end.isoformat())
    stamp = "%Y%m%dT%H%M%SZ"
    filename = (
        f"{name}-{datetime.fromtimestamp(result.start, UTC).strftime(stamp)}"
        f"-{datetime.fromtimestamp(result.end, UTC).strftime(stamp)}.mp4"
    )
    headers = {
        "X-Vigil-Export-Start": datetime.fromtimestamp(result.start, UTC).isoformat(),
        "X-Vigil-Export-End": datetime.fromtimestamp(result.end, UTC).isoformat(),
    }
    return FileResponse(
        result.path,
        media_type="video/mp4",
        filename=filename,
        headers=headers,
        background=BackgroundTask(result.path.unlink, missing_ok=True),
    )
