"""``/api/events``: motion and other events found in the footage, with their thumbnails."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from vigil.api.deps import PageDep, RecordingDep, TimeRangeDep, next_cursor
from vigil.api.errors import ApiError
from vigil.api.guard import UserDep, require_camera
from vigil.api.schemas import error_responses
from vigil.storage.index import EventRow

router = APIRouter(
    prefix="/api/events",
    tags=["events"],
    responses=error_responses(404, 422),
)


class Event(BaseModel):
    """One event: when, where in the frame, how large, and a thumbnail's URL."""

    id: int
    camera: str
    start: datetime
    end: datetime
    peak_area: float = Field(description="The largest fraction of the frame that changed.")
    zones: list[str] = Field(description="The zones the motion touched.")
    thumbnail: str | None = Field(description="URL of a JPEG of the event at its peak.")

    @classmethod
    def of(cls, row: EventRow) -> Event:
        return cls(
            id=row.id,
            camera=row.camera,
            start=datetime.fromtimestamp(row.start, UTC),
            end=datetime.fromtimestamp(row.end, UTC),
            peak_area=round(row.peak_area, 5),
            zones=row.zones,
            thumbnail=f"/api/events/{row.id}/thumbnail.jpg" if row.has_thumbnail else None,
        )


class EventList(BaseModel):
    events: list[Event]
    next: str | None = Field(None, description="Pass as `cursor` for the next page.")


@router.get("")
def list_events(recording: RecordingDep, span: TimeRangeDep, page: PageDep) -> EventList:
    """Events overlapping [start, end) (ISO 8601; naive times are UTC), oldest first, of the
    cameras you may see; at most `limit`, then `next` is the cursor of the rest."""
    rows = recording.index.events(span.camera, span.start, span.end, page)
    return EventList(events=[Event.of(row) for row in rows], next=next_cursor(rows, page))


@router.get(
    "/{event_id}/thumbnail.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def event_thumbnail(recording: RecordingDep, event_id: int, user: UserDep) -> Response:
    """The event's JPEG thumbnail, by id."""
    found = recording.index.event_thumbnail(event_id) if 0 < event_id < 2**63 else None
    if found is None:
        raise ApiError(f"no event {event_id}", code="E604")
    camera, data = found
    require_camera(user, camera)
    if data is None:
        raise ApiError(f"no thumbnail for event {event_id}", code="E604")
    return Response(data, media_type="image/jpeg")
