"""WebRTC sessions where the camera runs: an offer answered, a session ended.

The camera's packets and each session's UDP socket live where the camera runs, so the media
leaves from there and only the signalling moves:

    server.workers: 1   route ──> LocalWebRtc ──> answer_offer (the app's WebRtcSessions)
    server.workers: N   route ──> PooledWebRtc ══ WebRtcOffer / WebRtcClose ══> worker
                                    (the channel)     WorkerWebRtc ──> answer_offer (its own
                                                      WebRtcSessions, on an event loop thread)

:func:`answer_offer` is the one place an offer becomes a session: the camera must be running
(E502), under its ``live.webrtc_max_sessions`` (E504), with an H.264 live input (E503; 503
while the input hasn't connected yet, its codec unknown), and the SDP answerable (E505).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol, TypeVar

from vigil.camera.channel import Action, Reply, WebRtcClose, WebRtcOffer
from vigil.camera.supervisor import CameraSupervisor
from vigil.errors import RequestError, VigilError
from vigil.media.packets import StreamInfo
from vigil.streaming.live import PACKETS
from vigil.streaming.webrtc import OfferError, WebRtcSessions

CONNECT_WAIT = 10.0  # seconds to wait for an idle camera's live input to connect
OFFER_TIMEOUT = 35.0  # seconds a worker may take to answer an offer: the connect, then ICE

T = TypeVar("T")


class WebRtc(Protocol):
    """What the WebRTC routes ask, wherever the camera runs."""

    async def offer(self, name: str, sdp: str, owner: str) -> tuple[str, str]:
        """A new session of camera `name` for `owner`: (its id, the SDP answer)."""
        ...

    async def close(self, name: str, session: str, user: str, admin: bool) -> None:
        """End a session: 404 E604 if there is none, 403 E610 if it isn't `user`'s."""
        ...

    async def close_all(self) -> None: ...


async def _live_info(cam: CameraSupervisor) -> StreamInfo | None:
    deadline = time.monotonic() + CONNECT_WAIT
    while True:
        info = cam.live_input().info
        if info is not None or time.monotonic() > deadline or not cam.running:
            return info
        await asyncio.sleep(0.1)


async def answer_offer(
    cam: CameraSupervisor, sessions: WebRtcSessions, sdp: str, owner: str
) -> tuple[str, str]:
    """`sdp` answered with a session sending `cam`'s live packets (on the running loop)."""
    name = cam.name
    if not cam.running:
        raise VigilError(f"camera {name!r} is stopped", code="E502", camera=name)
    limit = cam.config.live.webrtc_max_sessions
    if not sessions.reserve(name, limit):
        raise VigilError(f"camera {name!r} has {limit} WebRTC viewers", code="E504", camera=name)
    live = cam.live
    live.add_viewer(PACKETS)  # connects an idle camera
    try:
        info = await _live_info(cam)
        if info is None:
            raise VigilError(
                f"camera {name!r}: the live input isn't connected, its codec is unknown",
                code="E503",
                camera=name,
                status=503,  # not the codec's fault yet: it may connect later
            )
        if info.codec != "h264":
            raise VigilError(
                f"camera {name!r}: WebRTC needs H.264, the live input is {info.codec}; "
                "watch it as MJPEG",
                code="E503",
                camera=name,
            )
        session, answer = await sessions.answer(
            name,
            sdp,
            cam.live_input().hub,
            on_close=lambda: live.remove_viewer(PACKETS),
            log=cam.log,
            owner=owner,
        )
    except OfferError as err:
        live.remove_viewer(PACKETS)
        raise VigilError(str(err), code="E505", camera=name) from None
    except BaseException:
        live.remove_viewer(PACKETS)
        raise
    finally:
        sessions.release(name)
    return session.id, answer


async def end_session(
    sessions: WebRtcSessions, name: str, session_id: str, user: str, admin: bool
) -> None:
    found = sessions.get(name, session_id)
    if found is None:
        raise RequestError("no such WebRTC session", code="E604", camera=name)
    if found.owner != user and not admin:
        raise RequestError("not your WebRTC session", code="E610", camera=name)
    await sessions.close(session_id)


class LocalWebRtc:
    """Sessions of the cameras in this process (``server.workers: 1``)."""

    def __init__(self, local: Callable[[str], CameraSupervisor], sessions: WebRtcSessions):
        self.local = local
        self.sessions = sessions

    async def offer(self, name: str, sdp: str, owner: str) -> tuple[str, str]:
        return await answer_offer(self.local(name), self.sessions, sdp, owner)

    async def close(self, name: str, session: str, user: str, admin: bool) -> None:
        await end_session(self.sessions, name, session, user, admin)

    async def close_all(self) -> None:
        await self.sessions.close_all()


class WorkerWebRtc:
    """A worker's sessions, on an event loop thread of their own, started at the first offer
    (an idle worker has no such thread). Each call gives a future the channel answers from."""

    def __init__(self, local: Callable[[str], CameraSupervisor], sessions: WebRtcSessions):
        self.local = local
        self.sessions = sessions
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _run(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="vigil-webrtc", daemon=True
            )
            self._thread.start()
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    def offer(self, name: str, sdp: str, owner: str) -> Future[tuple[str, str]]:
        cam = self.local(name)  # 404 at once, on the caller's thread
        return self._run(answer_offer(cam, self.sessions, sdp, owner))

    def close(self, name: str, session: str, user: str, admin: bool) -> Future[None]:
        return self._run(end_session(self.sessions, name, session, user, admin))

    def shutdown(self, timeout: float = 5.0) -> None:
        """Every session ends (its viewers see the peer go), then the loop."""
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(FutureTimeout, RuntimeError):
            self._run(self.sessions.close_all()).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)


class Commands(Protocol):
    def command(self, name: str, action: Action, timeout: float = ...) -> Reply: ...


class PooledWebRtc:
    """Sessions of cameras in worker processes: the offer and the end cross the channel;
    the media leaves from the worker, as from this process with one."""

    def __init__(self, pool: Commands):
        self.pool = pool

    async def offer(self, name: str, sdp: str, owner: str) -> tuple[str, str]:
        reply = await asyncio.to_thread(
            self.pool.command, name, WebRtcOffer(name, sdp, owner), OFFER_TIMEOUT
        )
        if reply.answer is None:
            raise VigilError(f"camera {name!r}'s worker restarted: try again", code="E702")
        return reply.answer

    async def close(self, name: str, session: str, user: str, admin: bool) -> None:
        await asyncio.to_thread(self.pool.command, name, WebRtcClose(name, session, user, admin))

    async def close_all(self) -> None:
        """Nothing here: a worker's sessions end as it stops."""
