"""Live view routes: snapshots, MJPEG (and WebRTC in :mod:`vigil.api.webrtc`).

A snapshot is, in this order:

1. the live feed's newest JPEG, while MJPEG viewers keep it fresh;
2. the last frame detection decoded, encoded once however many ask (a grid of cameras
   polling snapshots costs one encode per camera per frame decoded, not per request);
3. else the next frame decoded on demand: the request counts as a viewer, which starts the
   live input's decoder (and connects an on-demand camera), for at most
   :data:`SNAPSHOT_WAIT` seconds.

The ``Age`` header says how many seconds old the frame is (RFC 9111's delta-seconds), and
the ``ETag`` names the frame, so a grid polling with ``If-None-Match`` gets ``304`` (no
body) while nothing new was decoded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from vigil.api.deps import CameraPath, ManagerDep, ServicesDep
from vigil.api.errors import ApiError
from vigil.api.guard import UserDep, media_route, require_camera
from vigil.api.protocol import ABORT
from vigil.api.schemas import error_responses
from vigil.camera.cameras import Cameras
from vigil.streaming.live import FRAMES, FRESH, LiveFrame
from vigil.streaming.mjpeg import MEDIA_TYPE, mjpeg_stream

SNAPSHOT_WAIT = 10.0  # seconds to wait for a frame on demand (connect + one GOP)
MJPEG_SEND_TIMEOUT = 15.0  # seconds one part may take to send before the viewer is dropped

_log = logging.getLogger(__name__)


router = APIRouter(
    prefix="/api/cameras",
    tags=["live"],
    responses=error_responses(404, 422),
)


async def snapshot_frame(manager: Cameras, name: str) -> LiveFrame:
    """The camera's latest frame as JPEG (see the module's doc for where it comes from)."""
    live = manager.live_feed(name)
    latest = live.latest
    if latest is not None and live.wants_frames and latest.age() < FRESH:
        return latest
    still = await asyncio.to_thread(manager.still, name)  # in the camera's worker, if any
    if still is not None:
        return still
    running = manager.running(name)
    if running:
        async with live.watch(FRAMES):
            fresh = await live.next_frame(latest.seq if latest else 0, SNAPSHOT_WAIT)
        if fresh is not None:
            return fresh
    candidates = [f for f in (live.latest,) if f is not None]
    older = await asyncio.to_thread(manager.still, name, None)
    if older is not None:
        candidates.append(older)
    if candidates:  # nothing new came: the newest there is, its Age tells how old
        return min(candidates, key=lambda f: f.age())
    state = manager.status(name).state if running else "stopped"
    raise ApiError(f"camera {name!r} has no frame ({state})", code="E502")


@router.get(
    "/{name}/snapshot.jpg",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "the frame; `Age` says how old"},
        **error_responses(503),
    },
)
@media_route
async def snapshot(
    name: CameraPath,
    manager: ManagerDep,
    user: UserDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The camera's latest frame as JPEG, at most `live.mjpeg_width` wide, with an `Age`
    header (seconds) and an `ETag` naming the frame: a client polling with `If-None-Match`
    gets 304 until there is a new one. A camera that decodes nothing now decodes its next
    key frame for it (503 with E502 if none comes within 10 s)."""
    manager.config(name)  # 404 first
    require_camera(user, name)
    frame = await snapshot_frame(manager, name)
    headers = {
        "Age": str(int(frame.age())),
        "ETag": f'"{manager.live_feed(name).epoch}-{frame.seq}"',
        "Cache-Control": "no-cache",
    }
    if if_none_match is not None and headers["ETag"] in if_none_match:
        return Response(status_code=304, headers=headers)
    return Response(frame.jpeg, media_type="image/jpeg", headers=headers)


@router.get(
    "/{name}/mjpeg",
    response_class=StreamingResponse,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "JPEG parts, endless"}},
)
@media_route
async def mjpeg(
    name: CameraPath, manager: ManagerDep, services: ServicesDep, user: UserDep
) -> StreamingResponse:
    """Live view as `multipart/x-mixed-replace` (an `<img src>` shows it): at most
    `live.mjpeg_fps` frames a second, `live.mjpeg_width` wide. One encode per frame is
    shared by every viewer, and made only while someone watches. A slow client skips frames;
    nothing queues for it. At most `live.mjpeg_max_viewers` per camera and
    `server.mjpeg_max_viewers` in all (503, E506)."""
    config = manager.config(name)  # 404 first
    require_camera(user, name)
    if not manager.running(name):
        raise ApiError(f"camera {name!r} is stopped", code="E502")
    slots = services.mjpeg_slots
    if not slots.take(name, config.live.mjpeg_max_viewers):
        raise ApiError(f"camera {name!r}: too many MJPEG viewers", code="E506")
    return MjpegResponse(
        _released(mjpeg_stream(manager.live_feed(name)), lambda: slots.release(name)),
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-store"},
    )


class MjpegResponse(StreamingResponse):
    """An MJPEG stream whose viewer is dropped when one part can't be sent within
    :attr:`send_timeout` seconds: a viewer that stopped reading, or vanished without closing
    its socket, would otherwise hold its slot (and a task) until TCP gives up, for minutes.
    A slow viewer is fine: it gets the newest frame whenever it is ready for one."""

    send_timeout: float = MJPEG_SEND_TIMEOUT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._abort: Callable[[], None] | None = scope.get("extensions", {}).get(ABORT)
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        parts = self.body_iterator
        async for chunk in parts:
            body = chunk if isinstance(chunk, bytes | memoryview) else chunk.encode()
            try:
                async with asyncio.timeout(self.send_timeout):
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            except TimeoutError:
                _log.info("an MJPEG viewer took no part for %.0f s: dropped", self.send_timeout)
                if self._abort is not None:
                    self._abort()
                    await asyncio.sleep(0)  # uvicorn takes the disconnect before we return
                aclose = getattr(parts, "aclose", None)
                if aclose is not None:
                    await aclose()  # its slot and its place among the viewers, now
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _released(
    parts: AsyncGenerator[bytes, None], release: Callable[[], None]
) -> AsyncGenerator[bytes, None]:
    try:
        async for item in parts:
            yield item
    finally:
        release()
        await parts.aclose()
