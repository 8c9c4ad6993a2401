"""WebRTC, WHEP-style: ``POST`` an SDP offer, get the answer and a session URL; ``DELETE``
that URL to end the session. The camera's H.264 packets pass through (see
:mod:`vigil.streaming.webrtc`); the server encodes nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from vigil.api.deps import CameraPath, ManagerDep, SessionsDep
from vigil.api.errors import ApiError
from vigil.api.guard import UserDep, require_camera, sdp_body
from vigil.api.schemas import error_responses
from vigil.camera.supervisor import CameraSupervisor
from vigil.media.packets import StreamInfo
from vigil.streaming.live import PACKETS
from vigil.streaming.webrtc import OfferError

CONNECT_WAIT = 10.0  # seconds to wait for an idle camera's live input to connect
MAX_OFFER = 64 * 1024  # bytes: an SDP offer is a few kB

SessionPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="session id")]

router = APIRouter(
    prefix="/api/cameras",
    tags=["live"],
    responses=error_responses(404, 422),
)


async def _live_info(cam: CameraSupervisor) -> StreamInfo | None:
    deadline = time.monotonic() + CONNECT_WAIT
    while True:
        info = cam.live_input().info
        if info is not None or time.monotonic() > deadline or not cam.running:
            return info
        await asyncio.sleep(0.1)


@router.post(
    "/{name}/webrtc",
    status_code=201,
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/sdp": {"schema": {"type": "string"}}},
            "description": "the viewer's SDP offer, with a video section",
        }
    },
    responses={
        201: {
            "content": {"application/sdp": {}},
            "description": "the SDP answer; `Location` is the session's URL",
        },
        **error_responses(400, 409, 503),
    },
)
@sdp_body
async def webrtc_offer(
    name: CameraPath, request: Request, manager: ManagerDep, sessions: SessionsDep, user: UserDep
) -> Response:
    """Start a WebRTC session: an `application/sdp` offer in, the answer out (201), with the
    session's URL in `Location`. H.264 only: a camera whose live input is another codec is
    409 (E503; watch it as MJPEG). At most `live.webrtc_max_sessions` per camera (503,
    E504). A body that isn't an SDP offer is 400 (E505), one over 64 KiB 413 (E616, never read
    whole). A session that hasn't connected within 30 s is closed."""
    manager.config(name)
    require_camera(user, name)
    cam = manager.local(name)
    body = await request.body()  # the shield stops reading past 64 KiB
    try:
        offer = body[:MAX_OFFER].decode("utf-8")
    except UnicodeDecodeError:
        offer = ""
    if len(body) > MAX_OFFER or not offer.lstrip().startswith("v=0") or "m=video" not in offer:
        raise ApiError("the body isn't an SDP offer with video", code="E505")
    if not cam.running:
        raise ApiError(f"camera {name!r} is stopped", code="E502")
    if not sessions.reserve(name, cam.config.live.webrtc_max_sessions):
        limit = cam.config.live.webrtc_max_sessions
        raise ApiError(f"camera {name!r} has {limit} WebRTC viewers", code="E504")
    live = cam.live
    live.add_viewer(PACKETS)  # connects an idle camera
    try:
        info = await _live_info(cam)
        if info is None:
            raise ApiError(
                f"camera {name!r}: the live input isn't connected, its codec is unknown",
                code="E503",
                status=503,  # not the codec's fault yet: it may connect later
            )
        if info.codec != "h264":
            raise ApiError(
                f"camera {name!r}: WebRTC needs H.264, the live input is {info.codec}; "
                "watch it as MJPEG",
                code="E503",
            )
        session, answer = await sessions.answer(
            name,
            offer,
            cam.live_input().hub,
            on_close=lambda: live.remove_viewer(PACKETS),
            log=cam.log,
            owner=user.name,
        )
    except OfferError as err:
        live.remove_viewer(PACKETS)
        raise ApiError(str(err), code="E505") from None
    except BaseException:
        live.remove_viewer(PACKETS)
        raise
    finally:
        sessions.release(name)
    return Response(
        answer,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/api/cameras/{name}/webrtc/{session.id}"},
    )


@router.delete("/{name}/webrtc/{session}", status_code=204, response_class=Response)
async def webrtc_close(
    name: CameraPath,
    session: SessionPath,
    manager: ManagerDep,
    sessions: SessionsDep,
    user: UserDep,
) -> Response:
    """End a WebRTC session (its URL is the `Location` of the answer): only whoever opened
    it, or an admin."""
    manager.config(name)
    require_camera(user, name)
    found = sessions.get(name, session)
    if found is None:
        raise ApiError("no such WebRTC session", code="E604")
    if found.owner != user.name and not user.is_admin:
        raise ApiError("not your WebRTC session", code="E610")
    await sessions.close(session)
    return Response(status_code=204)
