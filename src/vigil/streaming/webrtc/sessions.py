"""WebRTC sessions, WHEP-style: an SDP offer answered with H.264 only, a session per viewer,
one relay per watched camera while it has viewers.

aiortc does the session: signalling, ICE, DTLS, the SRTP keys, RTCP. Once connected, the
viewer joins the camera's relay, sent directly (:mod:`~vigil.streaming.webrtc.direct`) where
it can be, else through aiortc (:class:`~vigil.streaming.webrtc.track.LoopSink`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from vigil.media.hub import PacketHub
from vigil.streaming.webrtc.direct import direct_sink
from vigil.streaming.webrtc.interfaces import restrict_candidates
from vigil.streaming.webrtc.relay import H264Relay
from vigil.streaming.webrtc.track import Log, LoopSink, PacketTrack, Sink

ANSWER_TIMEOUT = 10.0  # seconds for the answer (ICE gathering of local addresses)
CONNECT_DEADLINE = 30.0  # seconds an answered session has to connect before it is closed

_log = logging.getLogger(__name__)


class OfferError(ValueError):
    """The SDP offer can't be answered (garbage, no video, no H.264)."""


@dataclass
class Session:
    id: str
    camera: str
    pc: RTCPeerConnection
    transceiver: RTCRtpTransceiver
    track: PacketTrack
    relay: H264Relay
    on_close: Callable[[], None]
    owner: str = ""  # who opened it: only they (or an admin) may end it
    sink: Sink | None = None
    closed: bool = field(default=False)

    def connected(self, direct: bool, log: Log) -> None:
        """DTLS is up: the viewer joins the relay, sent directly if it can be."""
        if self.closed or self.sink is not None:
            return
        sink: Sink | None = None
        if direct:
            try:
                sink = direct_sink(self.pc, self.transceiver, self.track, log)
            except Exception:  # aiortc's internals changed: its own sending still works
                log.exception("WebRTC: direct sending is unavailable, aiortc sends")
        self.sink = sink or LoopSink(self.track, asyncio.get_running_loop())
        self.relay.add(self.sink)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sink is not None:
            self.relay.remove(self.sink)
            self.sink.close()
        self.track.end()
        self.on_close()
        await self.pc.close()


class WebRtcSessions:
    """Every WebRTC session of the service, by id. ``direct`` False makes every viewer go
    through aiortc's own sending (tests of that path). ``addresses`` are where media binds
    (:func:`~vigil.streaming.webrtc.interfaces.media_addresses`); None, every interface."""

    def __init__(
        self,
        ice_servers: list[str] | None = None,
        direct: bool = True,
        connect_deadline: float = CONNECT_DEADLINE,
        addresses: list[str] | None = None,
    ):
        self.ice_servers = list(ice_servers or [])
        self.addresses = addresses
        self.direct = direct
        self.connect_deadline = connect_deadline
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, int] = {}  # offers being answered, by camera
        self._relays: dict[str, H264Relay] = {}  # by camera, while it has viewers

    def relay(self, camera: str) -> H264Relay | None:
        return self._relays.get(camera)

    def _relay_for(self, camera: str, hub: PacketHub, log: Log) -> H264Relay:
        relay = self._relays.get(camera)
        if relay is None or relay.ended or relay.hub is not hub:
            if relay is not None:
                relay.close()
            relay = H264Relay(camera, hub, asyncio.get_running_loop(), log)
            self._relays[camera] = relay
        return relay

    def _leave(self, relay: H264Relay) -> None:
        relay.viewers -= 1
        if not relay.viewers:
            relay.close()
            if self._relays.get(relay.camera) is relay:
                del self._relays[relay.camera]

    def count(self, camera: str) -> int:
        """Sessions of `camera`, with the offers being answered."""
        open_ = sum(1 for s in self._sessions.values() if s.camera == camera)
        return open_ + self._pending.get(camera, 0)

    def reserve(self, camera: str, limit: int) -> bool:
        """Hold a place for an offer being answered; False if `camera` is at `limit`."""
        if self.count(camera) >= limit:
            return False
        self._pending[camera] = self._pending.get(camera, 0) + 1
        return True

    def release(self, camera: str) -> None:
        self._pending[camera] -= 1

    def get(self, camera: str, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        return session if session is not None and session.camera == camera else None

    async def answer(
        self,
        camera: str,
        offer_sdp: str,
        hub: PacketHub,
        on_close: Callable[[], None],
        log: Log = _log,
        owner: str = "",
    ) -> tuple[Session, str]:
        """A session sending `hub`'s packets, answering `offer_sdp` with H.264 only;
        OfferError if it can't. One that hasn't connected within :attr:`connect_deadline`
        seconds is closed, so offers never answered can't hold the camera's cap."""
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self.ice_servers])
        pc = RTCPeerConnection(configuration=config)
        track = PacketTrack()
        try:
            # the transceiver first, so that the offer's video is matched to it and
            # negotiated against its preferences: H.264 only
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(
                [
                    c
                    for c in RTCRtpSender.getCapabilities("video").codecs
                    if c.mimeType in ("video/H264", "video/rtx")
                ]
            )
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            except Exception as err:
                raise OfferError(f"the offer can't be answered with H.264 video: {err}") from None
            if transceiver.mid is None:
                raise OfferError("the offer has no video")
            if self.addresses is not None:
                restrict_candidates(pc, self.addresses)
            try:
                answer = await asyncio.wait_for(pc.createAnswer(), ANSWER_TIMEOUT)
                await asyncio.wait_for(pc.setLocalDescription(answer), ANSWER_TIMEOUT)
            except (ValueError, TypeError) as err:
                raise OfferError(f"the offer can't be answered with H.264: {err}") from None
        except BaseException:
            await pc.close()
            raise
        relay = self._relay_for(camera, hub, log)  # it caches the GOP from now on
        relay.viewers += 1

        def closed() -> None:
            self._leave(relay)
            on_close()

        session = Session(uuid.uuid4().hex, camera, pc, transceiver, track, relay, closed, owner)
        self._sessions[session.id] = session
        loop = asyncio.get_running_loop()
        loop.call_later(self.connect_deadline, lambda: loop.create_task(self._reap(session)))

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState == "connected":
                session.connected(self.direct, log)
            elif pc.connectionState in ("failed", "closed"):
                await self.close(session.id)

        return session, pc.localDescription.sdp

    async def _reap(self, session: Session) -> None:
        if session.sink is None and not session.closed:
            _log.info("WebRTC session of %s never connected: closed", session.camera)
            await self.close(session.id)

    async def close(self, session_id: str) -> bool:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        await session.close()
        return True

    async def close_all(self) -> None:
        for session_id in list(self._sessions):
            await self.close(session_id)
