"""``/api/recordings``: the segment index, and the files by id (never by path)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from vigil.api.deps import current_user
from vigil.const import CAMERA_NAME_PATTERN
from vigil.errors import ApiError
from vigil.recording.recorder import RecordingContext
from vigil.storage.index import SegmentRow

router = APIRouter(
    prefix="/api/recordings", tags=["recordings"], dependencies=[Depends(current_user)]
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
        )


class RecordingList(BaseModel):
    recordings: list[Recording]


def get_recording(request: Request) -> RecordingContext:
    context: RecordingContext | None = request.app.state.recording
    if context is None:
        raise ApiError("recording is not configured on this server", status=404, code="E604")
    return context


RecordingDep = Annotated[RecordingContext, Depends(get_recording)]


@router.get("")
def list_recordings(
    recording: RecordingDep,
    camera: Annotated[str | None, Query(pattern=CAMERA_NAME_PATTERN)] = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> RecordingList:
    """Segments overlapping [start, end) (ISO 8601; naive times are UTC), oldest first."""
    rows = recording.index.segments(camera, _unix(start), _unix(end))
    return RecordingList(recordings=[Recording.of(row) for row in rows])


@router.get("/{recording_id}/file", response_class=FileResponse)
def recording_file(recording: RecordingDep, recording_id: int) -> FileResponse:
    """The segment's MP4, with HTTP Range; found by id in the index, never from a path."""
    row = recording.index.segment(recording_id)
    if row is None:
        raise ApiError(f"no recording {recording_id}", status=404, code="E604")
    path = (recording.root / row.path).resolve()
    if not path.is_relative_to(recording.root.resolve()) or not path.is_file():
        raise ApiError(f"recording {recording_id} is missing on disk", status=404, code="E604")
    return FileResponse(path, media_type="video/mp4", filename=Path(row.path).name)


def _unix(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
