"""WebRTC, WHEP-style: ``POST`` an SDP offer, get the answer and a session URL; ``DELETE``
that URL to end the session. The camera's H.264 packets pass through (see
:mod:`vigil.streaming.webrtc`); the server encodes nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from vigil.api.deps import CameraPath, ManagerDep, WebRtcDep
from vigil.api.errors import ApiError
from vigil.api.guard import UserDep, require_camera, sdp_body
from vigil.api.schemas import error_responses

MAX_OFFER = 64 * 1024  # bytes: an SDP offer is a few kB

SessionPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="session id")]

router = APIRouter(
    prefix="/api/cameras",
    tags=["live"],
    responses=error_responses(404, 422),
)


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
    name: CameraPath, request: Request, manager: ManagerDep, webrtc: WebRtcDep, user: UserDep
) -> Response:
    """Start a WebRTC session: an `application/sdp` offer in, the answer out (201), with the
    session's URL in `Location`. H.264 only: a camera whose live input is another codec is
    409 (E503; watch it as MJPEG). At most `live.webrtc_max_sessions` per camera (503,
    E504). A body that isn't an SDP offer is 400 (E505), one over 64 KiB 413 (E616, never read
    whole). A session that hasn't connected within 30 s is closed. The media leaves from
    where the camera runs: this process, or its worker."""
    manager.config(name)
    require_camera(user, name)
    body = await request.body()  # the shield stops reading past 64 KiB
    try:
        offer = body[:MAX_OFFER].decode("utf-8")
    except UnicodeDecodeError:
        offer = ""
    if len(body) > MAX_OFFER or not offer.lstrip().startswith("v=0") or "m=video" not in offer:
        raise ApiError("the body isn't an SDP offer with video", code="E505")
    session, answer = await webrtc.offer(name, offer, user.name)
    return Response(
        answer,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/api/cameras/{name}/webrtc/{session}"},
    )


@router.delete("/{name}/webrtc/{session}", status_code=204, response_class=Response)
async def webrtc_close(
    name: CameraPath,
    session: SessionPath,
    manager: ManagerDep,
    webrtc: WebRtcDep,
    user: UserDep,
) -> Response:
    """End a WebRTC session (its URL is the `Location` of the answer): only whoever opened
    it, or an admin."""
    manager.config(name)
    require_camera(user, name)
    await webrtc.close(name, session, user.name, user.is_admin)
    return Response(status_code=204)
